"""An import holds the write lock only for its merge: other writers go on while the file is
read, and an import interrupted during the merge leaves nothing behind (SQLite and
PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from bulletin.store import Note, Store
from bulletin.store.addresses import normalise
from bulletin.store.models import AuditEntry, Membership, Subscriber
from bulletin.store.rows import BadRow, Row

pytest_plugins = ["tests.store_fixtures"]

NO_WAIT = 0.001
"""Seconds another writer waits for the lock: a lock held at that moment fails it."""


def table_counts(store: Store) -> dict[str, int]:
    with store.engine.connect() as connection:
        return {model.__tablename__: connection.scalar(select(func.count()).select_from(model)) or 0
                for model in (Subscriber, Membership, AuditEntry)}


def test_another_writer_is_not_held_up_while_the_file_is_read(
        store: Store, news: str, database_url: str) -> None:
    store.subscribe("leaving@example.org", news, source="page")
    leaving = store.subscriber("leaving@example.org").id
    done: list[int] = []

    def rows() -> Iterator[Row | BadRow]:
        # The person who is leaving is in the first batch (a blank filled in: a write to
        # their row, were it merged there and then).
        yield Row(2, normalise("leaving@example.org"), "Lee", "cy")
        for line in range(3, 1503):
            if line == 1000:  # midway: a one-click unsubscribe, through another connection
                with Store.open(database_url) as other:
                    done.append(other.unsubscribe_many([leaving], source="one-click",
                                                       wait=NO_WAIT))
            yield Row(line, normalise(f"p{line}@example.org"), None, None)

    report = store.import_rows(rows(), news, source="big.csv", batch_size=100)
    assert done == [1]
    # They left while the file was being read: not subscribed again.
    assert (report.added, report.unsubscribed) == (1500, 1)
    assert store.subscriber(leaving).status == "unsubscribed"
    assert report.locked_seconds <= report.seconds


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, RuntimeError])
def test_an_import_interrupted_during_the_merge_leaves_nothing_behind(
        store: Store, news: str, interruption: type[BaseException]) -> None:
    store.subscribe("already@example.org", news, source="cli")
    store.suppress("banned@example.org", reason="complaint", source="cli")
    before = table_counts(store)
    merging: list[int] = []

    def rows() -> Iterator[Row | BadRow]:
        for line in range(2, 2502):
            yield Row(line, normalise(f"p{line}@example.org"), f"P {line}", "en")
        yield Row(2502, normalise("already@example.org"), "Al", None)
        yield Row(2503, normalise("banned@example.org"), None, None)

    def on_note(note: Note) -> None:
        if note.kind == "suppressed":  # told during the merge, after the rows before it
            merging.append(note.line)
            raise interruption("stopped")

    with pytest.raises(interruption):
        store.import_rows(rows(), news, source="big.csv", on_note=on_note, batch_size=1000)
    assert merging == [2503]
    assert table_counts(store) == before
    assert store.subscriber("already@example.org").name is None
    assert store.count_active(news) == 1
    # Run again, to the end: everything goes in.
    report = store.import_rows(rows(), news, source="big.csv", batch_size=1000)
    assert (report.added, report.unchanged, report.suppressed, report.filled) == (
        2500, 1, 1, 1)
    assert store.count_active(news) == 2501


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_connection_lost_while_the_file_is_read_is_one_error_and_nothing_is_written(
        store: Store, news: str, database_url: str) -> None:
    """The import's own connection ended by the server half-way through staging (the staging
    rows go to PostgreSQL through the driver's cursor, not a statement): the database error
    the import raises is a StoreError saying to run it again, and nothing is written."""
    from sqlalchemy import create_engine, event, text

    from bulletin.store import StoreError

    pids: list[int] = []

    def record(_connection: object, cursor: object, statement: str, *_: object) -> None:
        if "CREATE TEMPORARY TABLE bulletin_import_rows" in statement:
            pids.append(cursor.connection.info.backend_pid)  # type: ignore[attr-defined]

    event.listen(store.engine, "before_cursor_execute", record)
    admin = create_engine(database_url)

    def rows() -> Iterator[Row | BadRow]:
        for line in range(2, 5002):
            if line == 2500:
                with admin.connect() as connection:
                    connection.execute(text("SELECT pg_terminate_backend(:pid)"),
                                       {"pid": pids[0]})
            yield Row(line, normalise(f"p{line}@example.org"), None, None)

    before = table_counts(store)
    try:
        with pytest.raises(StoreError, match=r"^big\.csv: the database failed during the "
                                             r"import \(.*\); nothing was imported\. Run it "
                                             r"again$"):
            store.import_rows(rows(), news, source="big.csv", batch_size=500)
    finally:
        admin.dispose()
    assert len(pids) == 1
    assert table_counts(store) == before
