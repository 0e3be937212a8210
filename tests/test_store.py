"""The subscriber store on SQLite and PostgreSQL: subscriptions, suppression, audit, streaming,
the send ledger, and migrations."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from bulletin.store import (
    NotSubscribedError,
    Store,
    StoreError,
    SuppressedError,
    UnknownListError,
    UnsubscribedError,
    migrate,
)
from bulletin.store import engine as engines
from bulletin.store.ledger import Audience
from bulletin.store.models import Base
from tests.conftest import ROOT
from tests.waiting import SAFETY

pytest_plugins = ["tests.store_fixtures"]


def emails(store: Store, list_name: str) -> list[str]:
    return [member.email for member in store.mailing_lists.active_members(list_name)]


def test_subscribe_is_case_insensitive_and_audited(store: Store, news: str) -> None:
    assert store.subscriptions.subscribe("Ann@Example.ORG", news, source="page",
                                         name="Ann") == "added"
    assert store.subscriptions.subscribe("ann@example.org", news, source="cli") == "unchanged"
    store.mailing_lists.create("events", newsletter="news")
    assert store.subscriptions.subscribe("ANN@EXAMPLE.ORG", "events", source="page") == "joined"
    info = store.subscriptions.subscriber("ann@example.org")
    assert (info.email, info.name, info.status, info.lists) == (
        "Ann@example.org", "Ann", "active", ("events", "news"))
    assert [(a.action, a.list_name, a.source) for a in store.audit_trail.of(info.id)] == [
        ("subscribe", "news", "page"), ("join", "events", "page")]


def test_unsubscribe_keeps_the_record_and_blocks_resubscription(store: Store, news: str
                                                                ) -> None:
    store.subscriptions.subscribe("ann@example.org", news, source="page")
    assert store.subscriptions.unsubscribe("ann@example.org", source="one-click",
                                           actor="web") is True
    assert store.subscriptions.unsubscribe("ann@example.org", source="one-click") is False
    assert emails(store, news) == []
    assert store.subscriptions.subscriber("ann@example.org").status == "unsubscribed"
    with pytest.raises(UnsubscribedError, match="has left \\(unsubscribed\\)"):
        store.subscriptions.subscribe("ann@example.org", news, source="cli")
    assert store.subscriptions.subscribe("ann@example.org", news, source="page", resubscribe=True) \
        == "resubscribed"
    assert emails(store, news) == ["ann@example.org"]
    trail = [(a.action, a.old_status, a.new_status, a.source, a.actor)
             for a in store.audit_trail.of("ann@example.org")]
    assert trail == [("subscribe", None, "active", "page", None),
                     ("unsubscribe", "active", "unsubscribed", "one-click", "web"),
                     ("resubscribe", "unsubscribed", "active", "page", None)]


def test_leaving_one_list_leaves_the_others(store: Store, news: str) -> None:
    store.mailing_lists.create("events")
    for list_name in (news, "events"):
        store.subscriptions.subscribe("ann@example.org", list_name, source="page")
    assert store.subscriptions.unsubscribe("ann@example.org", "events", source="page") is True
    assert emails(store, news) == ["ann@example.org"]
    assert emails(store, "events") == []
    assert store.mailing_lists.counts("events")["unsubscribed"] == 1
    with pytest.raises(UnsubscribedError, match="unsubscribed from events"):
        store.subscriptions.subscribe("ann@example.org", "events", source="cli")


def test_suppression_always_wins(store: Store, news: str) -> None:
    store.subscriptions.subscribe("ann@example.org", news, source="page")
    store.subscriptions.subscribe("bob@example.org", news, source="page")
    assert store.suppressions.add("ANN@example.org", reason="legal request", source="cli") is True
    assert store.suppressions.add("ann@example.org", reason="again", source="cli") is False
    assert emails(store, news) == ["bob@example.org"]
    assert store.suppressions.contains("Ann@EXAMPLE.org")
    with pytest.raises(SuppressedError, match="suppression list \\(legal request"):
        store.subscriptions.subscribe("ann@example.org", news, source="cli", resubscribe=True)
    assert store.mailing_lists.counts(news)["suppressed"] == 1


def test_double_opt_in(store: Store, news: str) -> None:
    store.subscriptions.subscribe("ann@example.org", news, source="page", status="pending")
    assert emails(store, news) == []
    assert store.subscriptions.confirm("ann@example.org", source="page") is True
    assert store.subscriptions.confirm("ann@example.org", source="page") is False
    assert emails(store, news) == ["ann@example.org"]


def test_bounces_and_complaints_stop_mail_and_are_suppressed(store: Store, news: str) -> None:
    for who in ("a@example.org", "b@example.org", "c@example.org"):
        store.subscriptions.subscribe(who, news, source="import")
    store.subscriptions.record_bounce("a@example.org", reply="550 5.1.1 unknown user")
    store.subscriptions.record_complaint("b@example.org")
    assert emails(store, news) == ["c@example.org"]
    assert store.subscriptions.subscriber("a@example.org").status == "bounced"
    assert store.subscriptions.subscriber("b@example.org").suppressed


def test_mistakes_are_clear_errors(store: Store, news: str) -> None:
    with pytest.raises(StoreError, match="'ann@@x' is not a valid email address"):
        store.subscriptions.subscribe("ann@@x", news, source="cli")
    with pytest.raises(UnknownListError, match="no list named 'nope' \\(lists: news\\)"):
        store.subscriptions.subscribe("ann@example.org", "nope", source="cli")
    with pytest.raises(NotSubscribedError, match=r"no subscriber zed@example\.org"):
        store.subscriptions.unsubscribe("zed@example.org", source="cli")
    with pytest.raises(StoreError, match="not a list name"):
        store.mailing_lists.create("Bad Name")
    assert store.mailing_lists.create("news") is False


def test_members_are_streamed_in_order(store: Store, news: str) -> None:
    for number in range(25):
        store.subscriptions.subscribe(f"p{number:02}@example.org", news, source="cli")
    store.subscriptions.unsubscribe("p03@example.org", source="cli")
    stream = store.mailing_lists.active_members(news, batch=4)
    first = next(stream)
    assert first.email == "p00@example.org"
    rest = [member.email for member in stream]
    assert len(rest) == 23 and "p03@example.org" not in rest
    assert rest == sorted(rest)


def test_two_writers_adding_the_same_address_make_one_subscriber(database_url: str) -> None:
    with Store.open(database_url) as setup:
        setup.create_list("news")
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def add() -> None:
        try:
            with Store.open(database_url) as store:
                outcomes.append(store.subscriptions.subscribe("ann@example.org", "news",
                                                              source="page"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=add) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(outcomes) == ["added", "unchanged", "unchanged", "unchanged"]


# -- the send ledger ---------------------------------------------------------------------------

def test_the_ledger_lifecycle(store: Store, news: str) -> None:
    for number in range(5):
        store.subscriptions.subscribe(f"p{number}@example.org", news, source="cli")
    assert store.ledger.create("news-1", news) == 5
    assert store.ledger.create("news-1", news) == 0
    first = store.ledger.claim("news-1", 2)
    assert [c.email for c in first] == ["p0@example.org", "p1@example.org"]
    assert all(c.attempts == 1 for c in first)
    store.ledger.mark_sent(first[0].id, "250 2.0.0 queued as 1234")
    store.ledger.mark_failed(first[1].id, "550 5.1.1 no such user", permanent=True)
    with pytest.raises(StoreError, match="it is sent, not sending"):
        store.ledger.mark_sent(first[0].id, "250 again")

    store.subscriptions.unsubscribe("p2@example.org", source="one-click")
    second = store.ledger.claim("news-1", 10)
    assert [c.email for c in second] == ["p3@example.org", "p4@example.org"]
    store.ledger.mark_failed(second[0].id, "421 try later", permanent=False)
    assert store.ledger.counts("news-1") == {"pending": 1, "sending": 1, "sent": 1,
                                             "failed": 1, "skipped": 1}
    assert [c.email for c in store.ledger.uncertain("news-1")] == ["p4@example.org"]
    retry = store.ledger.claim("news-1", 10)
    assert [(c.email, c.attempts) for c in retry] == [("p3@example.org", 2)]
    assert store.ledger.requeue("news-1") == 2
    assert store.ledger.counts("news-1")["pending"] == 2

    store.subscriptions.subscribe("late@example.org", news, source="page")
    assert store.ledger.create("news-1", news) == 1


def test_the_ledger_by_language(store: Store, news: str) -> None:
    """One language's edition alone: Welsh to those who chose Welsh; the first language's
    edition to the rest (no language, or one the newsletter is not written in)."""
    for address, language in [("en@x.org", "en"), ("cy@x.org", "cy"), ("none@x.org", None),
                              ("fr@x.org", "fr"), ("cy2@x.org", "cy")]:
        store.subscriptions.subscribe(address, news, source="cli", language=language)
    welsh = Audience("cy")
    english = Audience("en", others=("cy",), default=True)
    assert store.ledger.unqueued("issue", news, welsh) == 2
    assert store.ledger.create("issue", news, welsh) == 2
    assert store.ledger.create("issue", news, welsh) == 0
    assert store.ledger.counts("issue", english)["pending"] == 0
    assert store.ledger.unqueued("issue", news, english) == 3
    assert store.ledger.create("issue", news) == 3  # the rest, all languages
    assert [c.email for c in store.ledger.claim("issue", 10, audience=welsh)] == \
        ["cy@x.org", "cy2@x.org"]
    assert store.ledger.claim("issue", 10, audience=welsh) == []
    assert store.ledger.counts("issue", welsh) == {"pending": 0, "sending": 2, "sent": 0,
                                                   "failed": 0, "skipped": 0}
    assert sorted(c.email for c in store.ledger.claim("issue", 10, audience=english)) == \
        ["en@x.org", "fr@x.org", "none@x.org"]
    everyone = Audience("en", default=True)  # a newsletter in one language
    assert sum(store.ledger.counts("issue", everyone).values()) == 5


def test_concurrent_claims_never_hand_out_a_row_twice(database_url: str) -> None:
    with Store.open(database_url) as setup:
        setup.create_list("news")
        for number in range(60):
            setup.subscribe(f"p{number}@example.org", "news", source="cli")
        setup.ledger.create("issue", "news")
    claimed: list[int] = []
    lock = threading.Lock()

    def sender() -> None:
        with Store.open(database_url) as store:
            while batch := store.ledger.claim("issue", 7):
                with lock:
                    claimed.extend(c.id for c in batch)

    threads = [threading.Thread(target=sender) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 60


# -- migrations --------------------------------------------------------------------------------

def test_the_migrations_make_exactly_the_models(store: Store) -> None:
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
    assert migrate.current(store.engine) == migrate.head()


def test_a_database_made_by_an_older_version_upgrades_keeping_its_data(database_url: str
                                                                     ) -> None:
    engine = engines.create(database_url)
    try:
        assert migrate.upgrade(engine, "0001").after == "0001"
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO lists (name, created_at) VALUES ('old', CURRENT_TIMESTAMP)"))
            connection.execute(text(
                "INSERT INTO subscribers (email, email_key, status, created_at, updated_at) "
                "VALUES ('Old@example.org', 'old@example.org', 'active', CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP)"))
            connection.execute(text(
                "INSERT INTO memberships (list_id, subscriber_id, status, created_at, "
                "updated_at) SELECT l.id, s.id, 'active', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP "
                "FROM lists l, subscribers s"))
    finally:
        engine.dispose()
    with pytest.raises(StoreError, match="run `bulletin db upgrade`"):
        Store.open(database_url, upgrade=False)
    with Store.open(database_url) as store:
        assert emails(store, "old") == ["Old@example.org"]
        assert store.ledger.create("first", "old") == 1
    assert migrate.upgrade(engines.create(database_url)).changed is False


def test_a_database_from_a_newer_version_is_refused(database_url: str) -> None:
    with Store.open(database_url) as store, store.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StoreError, match=r"revision 9999, which this version of bulletin does "
                                         r"not know .* upgrade bulletin"):
        Store.open(database_url)


def test_head_is_the_newest_migration() -> None:
    """migrate.HEAD lets Store.open skip Alembic; a new migration must move it too."""
    assert migrate.head() == migrate.HEAD


def test_current_reads_the_revision_as_alembic_does(database_url: str) -> None:
    engine = engines.create(database_url)

    def alembic_says() -> str | None:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    try:
        assert migrate.current(engine) is None and alembic_says() is None
        migrate.upgrade(engine, "0002")
        assert migrate.current(engine) == alembic_says() == "0002"
        migrate.upgrade(engine)
        assert migrate.current(engine) == alembic_says() == migrate.HEAD
    finally:
        engine.dispose()


@pytest.mark.slow
def test_opening_an_up_to_date_store_does_not_import_alembic(database_url: str) -> None:
    Store.open(database_url).close()  # made and upgraded here
    probe = ("import sys\n"
             "from bulletin.store import Store\n"
             f"Store.open({database_url!r}).close()\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in "
             "('alembic', 'mako', 'pygments')))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=SAFETY, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_an_unreachable_database_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"cannot use the database postgresql\+psycopg://"
                                         r"nobody:\*\*\*@127\.0\.0\.1:1/x"):
        Store.open("postgresql+psycopg://nobody:secret@127.0.0.1:1/x")
    with pytest.raises(StoreError, match=r"folder .*missing does not exist"):
        Store.open(f"sqlite:///{tmp_path / 'missing' / 'bulletin.db'}")
    with pytest.raises(StoreError, match="'mysql' databases are not supported"):
        Store.open("mysql://localhost/x")
