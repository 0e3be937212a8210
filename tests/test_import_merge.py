"""The import's merge, on SQLite and PostgreSQL: addresses the store has never seen are added
in one set-based pass whatever the number of batches, with the same outcome as before (ids in
the order of the file, memberships and audit rows for each); a concurrent subscription of one
of them makes the import fail whole; the import's own connection turns foreign keys back on
for nobody else."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, select

from bulletin.store import Store, StoreError
from bulletin.store.addresses import normalise
from bulletin.store.models import AuditEntry, Membership, Subscriber
from bulletin.store.rows import BadRow, Row

pytest_plugins = ["tests.store_fixtures"]


def people(count: int, start: int = 1) -> Iterator[Row | BadRow]:
    for line in range(start, start + count):
        yield Row(line + 1, normalise(f"person{line}@example.org"), f"Person {line}",
                  "cy" if line % 2 else None)


def statements(store: Store, words: str) -> list[str]:
    """The statements the store's engine runs from now on that contain `words`."""
    seen: list[str] = []

    def record(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if words in " ".join(statement.split()):
            seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    return seen


def test_new_addresses_are_added_in_one_statement_whatever_the_batches(
        store: Store, news: str) -> None:
    store.subscribe("person3@example.org", news, source="cli")  # known: decided row by row
    inserts = statements(store, "INSERT INTO subscribers")
    report = store.import_rows(people(9), news, source="people.csv", batch_size=2)
    assert (report.added, report.unchanged) == (8, 1)
    assert len(inserts) == 1  # 5 batches, one statement (before: one a batch, or COPY)
    with store.engine.connect() as connection:
        added = connection.execute(
            select(Subscriber.id, Subscriber.email, Subscriber.name, Subscriber.language)
            .where(Subscriber.email != "person3@example.org").order_by(Subscriber.id)).all()
        assert [email for _, email, _, _ in added] == \
            [f"person{n}@example.org" for n in range(1, 10) if n != 3]
        assert [(name, language) for _, _, name, language in added] == \
            [(f"Person {n}", "cy" if n % 2 else None) for n in range(1, 10) if n != 3]
        members = set(connection.scalars(select(Membership.subscriber_id)))
        assert {id_ for id_, *_ in added} <= members
        audit = connection.execute(
            select(AuditEntry.subscriber_id, AuditEntry.action, AuditEntry.detail)
            .where(AuditEntry.source == "import").order_by(AuditEntry.subscriber_id)).all()
    lines = {f"person{n}@example.org": n + 1 for n in range(1, 10)}
    known = store.subscriber("person3@example.org")
    assert known is not None
    assert audit == [(known.id, "language", "people.csv:4")] + [  # its language filled in
        (id_, "subscribe", f"people.csv:{lines[email]}") for id_, email, _, _ in added]


def test_duplicates_across_batches_are_merged_into_the_first(store: Store, news: str) -> None:
    rows: list[Row | BadRow] = [
        Row(2, normalise("ann@example.org"), None, None),
        Row(3, normalise("bob@example.org"), "Bob", None),
        Row(4, normalise("carol@example.org"), None, None),
        Row(5, normalise("Ann@Example.org"), "Ann", "cy"),  # a later batch fills in
        Row(6, normalise("bob@example.org"), "Robert", "en"),
        Row(7, normalise("dave@example.org"), "Dave", None),
    ]
    notes: list[tuple[int, str]] = []
    report = store.import_rows(rows, news, source="p.csv", batch_size=3,
                               on_note=lambda note: notes.append((note.line, note.message)))
    assert (report.added, report.duplicates) == (4, 2)
    assert notes == [(5, "Ann@example.org is a duplicate of line 2; merged"),
                     (6, "bob@example.org is a duplicate of line 3; merged")]
    with store.engine.connect() as connection:
        assert connection.execute(
            select(Subscriber.email, Subscriber.name, Subscriber.language)
            .order_by(Subscriber.id)).all() == [
            ("ann@example.org", "Ann", "cy"), ("bob@example.org", "Bob", "en"),
            ("carol@example.org", None, None), ("dave@example.org", "Dave", None)]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_concurrent_subscription_of_a_new_address_fails_the_import_whole(
        database_url: str) -> None:
    """PostgreSQL lets others write while the merge runs (SQLite's write lock does not):
    an address of the file subscribed by someone else just before the new ones are added is
    not silently dropped from the count; the import fails and leaves nothing."""
    with Store.open(database_url) as store, Store.open(database_url) as other:
        store.mailing_lists.create("news", newsletter="news", title="News")
        done: list[bool] = []

        def interfere(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if "INSERT INTO subscribers" in statement and not done:
                done.append(True)
                other.subscribe("person4@example.org", "news", source="cli")

        event.listen(store.engine, "before_cursor_execute", interfere)
        with pytest.raises(StoreError, match="another process added some of these addresses"):
            store.import_rows(people(6), "news", source="people.csv", batch_size=4)
        assert done
        with store.engine.connect() as connection:
            assert list(connection.scalars(select(Subscriber.email))) == \
                ["person4@example.org"]


def test_the_import_connection_leaves_foreign_keys_on_for_the_others(
        store: Store, news: str) -> None:
    store.import_rows(people(3), news, source="people.csv")
    if store.engine.dialect.name != "sqlite":
        return
    for _ in range(6):  # every pooled connection
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_new_address_suppressed_meanwhile_fails_the_import_whole(database_url: str) -> None:
    """PostgreSQL: an address of the file suppressed by someone else after the import read
    what the store knows, but before it added the new addresses, is not imported: the import
    fails and leaves nothing (suppression always wins)."""
    with Store.open(database_url) as store, Store.open(database_url) as other:
        store.mailing_lists.create("news", newsletter="news", title="News")
        done: list[bool] = []

        def interfere(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if "INSERT INTO subscribers" in statement and not done:
                done.append(True)
                other.suppress("person4@example.org", reason="complaint", source="cli")

        event.listen(store.engine, "before_cursor_execute", interfere)
        with pytest.raises(StoreError, match="another process added some of these addresses"):
            store.import_rows(people(6), "news", source="people.csv", batch_size=4)
        assert done
        with store.engine.connect() as connection:
            assert list(connection.scalars(select(Subscriber.email))) == []


def test_known_and_repeated_addresses_leave_the_new_ones_their_own_lines(
        store: Store, news: str) -> None:
    """Known addresses (taken out before the new ones are added) and duplicates of earlier
    batches (merged into the first) leave gaps in the staged rows: each new subscriber still
    gets its own row's line in the audit trail, and ids in the order of the file."""
    store.subscribe("person2@example.org", news, source="cli")
    store.suppress("person5@example.org", reason="complaint", source="cli")
    rows: list[Row | BadRow] = [*people(6), *people(3, start=3), *people(4, start=7)]
    report = store.import_rows(rows, news, source="p.csv", batch_size=2)
    assert (report.added, report.unchanged, report.suppressed, report.duplicates) == (
        8, 1, 1, 3)
    with store.engine.connect() as connection:
        added = connection.execute(
            select(Subscriber.id, Subscriber.email).where(Subscriber.email.not_in(
                ["person2@example.org"])).order_by(Subscriber.id)).all()
        audit = dict(connection.execute(
            select(AuditEntry.subscriber_id, AuditEntry.detail)
            .where(AuditEntry.source == "import", AuditEntry.action == "subscribe")).all())
    assert [email for _, email in added] == [
        f"person{n}@example.org" for n in (1, 3, 4, 6, 7, 8, 9, 10)]
    assert {email: audit[id_] for id_, email in added} == {
        f"person{n}@example.org": f"p.csv:{n + 1}" for n in (1, 3, 4, 6, 7, 8, 9, 10)}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_chunk_looks_its_rows_up_whatever_the_statistics_say(database_url: str) -> None:
    """PostgreSQL: with statistics from when the store was empty (as after a first big import,
    before autovacuum has analysed it), the read of a chunk's known rows looks each row up
    through the address's index, not by scanning the whole subscribers table for every chunk
    (which made re-importing 1,000,000 rows quadratic)."""
    from sqlalchemy import text

    from bulletin.store.merge import _state
    from bulletin.store.staging import Staging

    with Store.open(database_url) as store:
        store.mailing_lists.create("news", newsletter="news", title="News")
        with store.engine.begin() as connection:
            connection.execute(text("ANALYZE subscribers"))
        store.import_rows(people(50_000), "news", source="people.csv", batch_size=50_000)
        with store.engine.connect() as connection:
            staging = Staging(connection, lambda line, message: None)
            staging.add([(row.address.key, row.address.email, None, None, row.line)
                         for row in people(5000) if isinstance(row, Row)])
            staging.finish()
            sql = str(_state(True, text("1")).compile(dialect=connection.dialect))
            with connection.begin():
                plan = "\n".join(connection.exec_driver_sql(
                    f"EXPLAIN {sql}", {"low": 0, "high": 5000}).scalars())
            connection.invalidate()
    assert "Index Scan using uq_subscribers_email_key" in plan, plan
    assert "Seq Scan on subscribers" not in plan, plan
