"""Importing into the store, on SQLite and on PostgreSQL: the rules, idempotence, and an
interrupted import leaving nothing behind."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from bulletin.csvimport import CsvFileError, formula_safe
from bulletin.store import (
    ImportReport,
    NotSubscribedError,
    Store,
    StoreError,
    UnknownListError,
)
from bulletin.store.addresses import normalise
from bulletin.store.models import AuditEntry, Membership, Subscriber
from bulletin.store.rows import BadRow, Row
from tests.waiting import SAFETY, wait_for

pytest_plugins = ["tests.store_fixtures"]

MESSY = (
    "\ufeffEmail,Name,Language\r\n"
    "ann@example.org,\"Smith, Ann\",en\r\n"
    "\r\n"
    "ANN@Example.ORG,Annie,cy\r\n"
    "bob@@example.org,Bob,en\r\n"
    "\"carol@example.org\",\"Jones, Carol\",cy\r\n"
    "not an address,Nobody,\r\n"
    "\r\n"
    "Carol@EXAMPLE.org,,\r\n"
    "dave@example.org,Dave,\r\n"
).encode()


def write(tmp_path: Path, data: bytes | str, name: str = "people.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def table_counts(store: Store) -> dict[str, int]:
    with store.engine.connect() as connection:
        return {model.__tablename__: connection.scalar(select(func.count()).select_from(model))
                for model in (Subscriber, Membership, AuditEntry)}


def outcomes(report: ImportReport) -> dict[str, int]:
    return {name: getattr(report, name) for name in (
        "rows", "added", "joined", "activated", "resubscribed", "unchanged", "duplicates",
        "unsubscribed", "suppressed", "bad") if getattr(report, name)}


def test_a_messy_file_imports_its_good_rows_and_names_each_bad_one(
        store: Store, news: str, tmp_path: Path) -> None:
    report = store.import_csv(write(tmp_path, MESSY), news, actor="tester")
    assert outcomes(report) == {"rows": 7, "added": 3, "duplicates": 2, "bad": 2}
    assert report.outcomes == report.rows
    assert {(n.line, n.kind) for n in report.notes} == {
        (4, "duplicate"), (5, "bad"), (7, "bad"), (9, "duplicate")}
    assert "duplicate of line 2" in next(n.message for n in report.notes if n.line == 4)
    members = list(store.iter_active_members(news))
    assert [(m.email, m.name, m.language) for m in members] == [
        ("ann@example.org", "Smith, Ann", "en"),
        ("carol@example.org", "Jones, Carol", "cy"),
        ("dave@example.org", "Dave", None),
    ]
    trail = store.audit("ANN@example.org")
    assert [(a.action, a.new_status, a.source, a.actor, a.detail, a.list_name)
            for a in trail] == [("subscribe", "active", "import", "tester", "people.csv:2",
                                 "news")]
    info = store.subscriber("ann@example.org")
    assert info.consent_source == "import:people.csv" and info.consent_at is not None


def test_running_the_same_import_again_changes_nothing(
        store: Store, news: str, tmp_path: Path) -> None:
    path = write(tmp_path, MESSY)
    store.import_csv(path, news)
    before = table_counts(store)
    again = store.import_csv(path, news)
    assert outcomes(again) == {"rows": 7, "unchanged": 3, "duplicates": 2, "bad": 2}
    assert again.changed == 0
    assert table_counts(store) == before


def test_duplicates_across_batches_are_merged_and_named(
        store: Store, news: str, tmp_path: Path) -> None:
    lines = ["email,name,language", "a@example.org,,", "b@example.org,Bee,",
             "c@example.org,Cee,en", "A@EXAMPLE.ORG,Ay,cy", "b@example.org,,cy"]
    report = store.import_csv(write(tmp_path, "\n".join(lines) + "\n"), news, batch_size=2)
    assert outcomes(report) == {"rows": 5, "added": 3, "duplicates": 2}
    assert {n.line: n.message for n in report.notes} == {
        5: "A@example.org is a duplicate of line 2; merged",
        6: "b@example.org is a duplicate of line 3; merged"}
    assert {(m.email, m.name, m.language) for m in store.iter_active_members(news)} == {
        ("a@example.org", "Ay", "cy"), ("b@example.org", "Bee", "cy"),
        ("c@example.org", "Cee", "en")}


def test_existing_subscribers_join_and_have_blanks_filled_but_nothing_overwritten(
        store: Store, news: str, tmp_path: Path) -> None:
    store.create_list("events")
    store.subscribe("ann@example.org", "events", source="page", name="Ann")
    report = store.import_csv(write(tmp_path, "email,name,language\n"
                                              "ann@example.org,Annie,cy\n"), news)
    assert outcomes(report) == {"rows": 1, "joined": 1}
    assert report.filled == 1
    info = store.subscriber("ann@example.org")
    assert (info.name, info.language, info.lists) == ("Ann", "cy", ("events", "news"))
    assert info.consent_source == "page"
    assert [a.action for a in store.audit("ann@example.org")] == ["subscribe", "join"]


def test_people_who_left_are_not_subscribed_again_unless_asked(
        store: Store, news: str, tmp_path: Path) -> None:
    for email in ("gone@example.org", "left-list@example.org", "bounced@example.org",
                  "banned@example.org", "waiting@example.org"):
        store.subscribe(email, news, source="page",
                        status="pending" if email.startswith("waiting") else "active")
    store.unsubscribe("gone@example.org", source="one-click")
    store.unsubscribe("left-list@example.org", news, source="page")
    store.record_bounce("bounced@example.org", reply="550 5.1.1 no such user")
    store.suppress("banned@example.org", reason="asked never to be mailed", source="cli")
    store.suppress("never-subscribed@example.org", reason="complaint", source="cli")
    emails = ["gone", "left-list", "bounced", "banned", "never-subscribed", "waiting", "new"]
    path = write(tmp_path, "email\n" + "".join(f"{e}@example.org\n" for e in emails))

    report = store.import_csv(path, news)
    assert outcomes(report) == {"rows": 7, "added": 1, "activated": 1, "unsubscribed": 2,
                                "suppressed": 3}
    assert {n.line: n.kind for n in report.notes} == {2: "unsubscribed", 3: "unsubscribed",
                                                      4: "suppressed", 5: "suppressed",
                                                      6: "suppressed"}
    assert store.subscriber("gone@example.org").status == "unsubscribed"

    overridden = store.import_csv(path, news, resubscribe=True)
    assert outcomes(overridden) == {"rows": 7, "resubscribed": 2, "unchanged": 2,
                                    "suppressed": 3}
    assert {m.email for m in store.iter_active_members(news)} == {
        "gone@example.org", "left-list@example.org", "waiting@example.org", "new@example.org"}
    assert [(a.action, a.old_status, a.new_status, a.source) for a in
            store.audit("gone@example.org")] == [
        ("subscribe", None, "active", "page"),
        ("unsubscribe", "active", "unsubscribed", "one-click"),
        ("resubscribe", "unsubscribed", "active", "import")]
    assert store.subscriber("bounced@example.org").status == "bounced"
    banned = store.subscriber("banned@example.org")
    assert banned.suppressed and banned.lists == ("news",)  # on the list, but never sent to
    assert store.counts(news) == {"active": 4, "paused": 0, "pending": 0, "unsubscribed": 0,
                                  "bounced": 0, "complained": 0, "suppressed": 2}


class Interrupted(Exception):
    pass


def rows_then_failure(count: int) -> Iterator[Row | BadRow]:
    for line in range(2, count + 2):
        yield Row(line, normalise(f"person{line}@example.org"), f"Person {line}", "en")
    raise Interrupted("the file could not be read any further")


def test_an_import_interrupted_half_way_leaves_nothing_behind(
        store: Store, news: str, tmp_path: Path) -> None:
    store.subscribe("already@example.org", news, source="cli")
    before = table_counts(store)
    with pytest.raises(Interrupted):
        store.import_rows(rows_then_failure(2500), news, source="big.csv", batch_size=1000)
    assert table_counts(store) == before
    assert store.counts(news)["active"] == 1
    # Run again, this time to the end: everything goes in.
    report = store.import_rows(islice(rows_then_failure(2500), 2500), news, source="big.csv",
                               batch_size=1000)
    assert report.added == 2500
    assert store.counts(news)["active"] == 2501


def test_an_unreadable_file_half_way_leaves_nothing_behind(
        store: Store, news: str, tmp_path: Path) -> None:
    data = b"email\n" + b"".join(f"p{i}@example.org\n".encode() for i in range(3000)) \
        + b"caf\xe9@example.org\n"
    with pytest.raises(CsvFileError, match=r"people\.csv:3002: not UTF-8"):
        store.import_csv(write(tmp_path, data), news, batch_size=500)
    assert table_counts(store) == {"subscribers": 0, "memberships": 0, "audit_log": 0}


def test_quotes_and_percent_signs_in_names_are_stored_as_they_are(
        store: Store, news: str, tmp_path: Path) -> None:
    path = write(tmp_path, "email\nann@example.org\n", name="50%s o'clock %%d.csv")
    store.import_csv(path, news, actor="o'brien%s")
    [entry] = store.audit("ann@example.org")
    assert (entry.detail, entry.actor) == ("50%s o'clock %%d.csv:2", "o'brien%s")
    assert store.subscriber("ann@example.org").consent_source == "import:50%s o'clock %%d.csv"


def test_backslashes_and_what_looks_like_null_are_stored_as_they_are(
        store: Store, news: str, tmp_path: Path) -> None:
    """PostgreSQL stages rows as COPY text, where a backslash escapes and \\N is NULL."""
    path = write(tmp_path, "email,name\n"
                           "a@example.org,\\N\n"
                           "b@example.org,C:\\Users\\Ann\\t\n"
                           "c@example.org,Tab\\tNot \\\\ one\n")
    report = store.import_csv(path, news)
    assert (report.added, report.bad) == (3, 0)
    assert [(m.email, m.name) for m in store.iter_active_members(news)] == [
        ("a@example.org", "\\N"), ("b@example.org", "C:\\Users\\Ann\\t"),
        ("c@example.org", "Tab\\tNot \\\\ one")]


def test_importing_into_an_unknown_list(store: Store, news: str, tmp_path: Path) -> None:
    with pytest.raises(UnknownListError, match="no list named 'nws' \\(lists: news\\)"):
        store.import_csv(write(tmp_path, MESSY), "nws")


people = st.lists(st.tuples(
    st.from_regex(r"[a-zA-Z=+'-][a-zA-Z0-9=+'-]{0,8}@[a-zA-Z]{1,8}\.(org|wales)",
                  fullmatch=True),
    st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=12),
    st.sampled_from(["", "en", "cy", "EN"])), max_size=25)


@pytest.mark.slow
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=people)
def test_export_then_import_is_a_fixed_point(store: Store, rows: list[tuple[str, str, str]]
                                             ) -> None:
    list_name = f"l{len(store.list_names())}"
    store.create_list(list_name)
    source = io.StringIO()
    source.write("email,name,language\r\n")
    for email, name, language in rows:  # '=x@... as an export writes =x@... (the same rule)
        quoted = name.replace(chr(34), chr(34) * 2)
        source.write(f"{formula_safe(email)},\"{quoted}\",{language}\r\n")
    store.import_csv(Path("in.csv"), list_name, stream=io.BytesIO(source.getvalue().encode()))
    first = io.StringIO()
    store.export_csv(list_name, first)
    again = store.import_csv(Path("out.csv"), list_name,
                             stream=io.BytesIO(first.getvalue().encode()))
    assert again.changed == 0 and again.bad == 0 and again.duplicates == 0
    assert again.unchanged == first.getvalue().count("\r\n") - 1
    second = io.StringIO()
    store.export_csv(list_name, second)
    assert second.getvalue() == first.getvalue()
    keys = {normalise(email).key for email, _, _ in rows}
    assert store.count_active(list_name) == len(keys)


# PostgreSQL only: on SQLite, with one writer at a time, nothing can add an address meanwhile.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_address_added_elsewhere_during_an_import_fails_it_whole(
        database_url: str, tmp_path: Path) -> None:
    assert database_url.startswith("postgresql")
    with Store.open(database_url) as store:
        store.create_list("news")
        path = write(tmp_path, "email\nfirst@example.org\nx@example.org\n")
        with store.engine.connect() as other:
            other.execute(text(
                "INSERT INTO subscribers (email, email_key, status, created_at, updated_at) "
                "VALUES ('x@example.org', 'x@example.org', 'pending', now(), now())"))
            failures: list[BaseException] = []

            def run() -> None:
                try:
                    store.import_csv(path, "news")
                except BaseException as exc:  # checked below
                    failures.append(exc)

            importer = threading.Thread(target=run)
            importer.start()
            blocker = other.execute(text("SELECT pg_backend_pid()")).scalar_one()

            def import_waits_on_x() -> bool:
                """The import is held up by x's uncommitted row: waiting on a lock of the
                connection that added it (or it has ended already, which fails below)."""
                with store.engine.connect() as watcher:  # a new snapshot each time
                    waiting = watcher.execute(text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE :blocker = ANY(pg_blocking_pids(pid))"),
                        {"blocker": blocker}).scalar_one()
                return waiting > 0 or not importer.is_alive()

            wait_for(import_waits_on_x, "the import to wait on x's uncommitted row")
            other.commit()
            importer.join(SAFETY)
            assert not importer.is_alive()
        assert len(failures) == 1 and isinstance(failures[0], StoreError)
        assert str(failures[0]) == ("people.csv: another process added some of these "
                                    "addresses while the import ran; nothing was imported. "
                                    "Run it again")
        assert store.subscriber("x@example.org").lists == ()
        with pytest.raises(NotSubscribedError):
            store.subscriber("first@example.org")
        assert store.import_csv(path, "news").added == 1  # run again: it goes in
