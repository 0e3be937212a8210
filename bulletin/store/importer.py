"""Importing subscribers in bulk: the fast path, with SQLAlchemy Core.

Strategy: **stage, then merge**, so that an import holds the database's write lock for
seconds, not for its whole length (other writers, such as a one-click unsubscribe or the web
service, would otherwise wait for it and give up):

1. staging (staging.py): the file is streamed in batches (a few thousand rows each, so memory
   stays flat however long the file is); every row is read, checked and appended to a
   TEMPORARY table of the import's own connection, then de-duplicated there once the file is
   read. Nothing of the store is written, and no write lock is taken (on SQLite, the
   temporary table is in a separate database; each batch is a short transaction that only
   reads the main one).
2. merging (merge.py): ONE write transaction reads the existing state of the staged
   addresses the store knows with set-based joins, applies the subscription rules (rules.py,
   the function a single subscription uses too) to each row, and writes the changes with
   multi-row statements; then adds every address it has never seen in one set-based pass
   (newrows.py), the rules' decision for a new address written as SQL.

An import that is interrupted (a file that turns out unreadable half-way, Ctrl-C, a killed
process, a lost database connection) while staging leaves nothing but a temporary table that
goes with its connection; while merging, its transaction is rolled back. Either way the store
is exactly as it was, and running the import again is safe because an import is idempotent:
rows already in are "unchanged". Someone who unsubscribes while the file is being staged has
left by the time of the merge, and is not subscribed again.

Rules, for each row (see rules.py):
- a suppressed address is never imported (suppression always wins);
- a person who unsubscribed (from everything, or from this list), bounced or complained is not
  re-subscribed unless `resubscribe` is set (and then it is counted and audited);
- a duplicate, earlier in the file or already in the store, is merged: the first values win
  and a blank name or language is filled in from a later row;
- every change of a subscription (new, joined the list, confirmed, re-subscribed) writes an
  audit row naming the file and line.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine

from .engine import WRITE
from .lists import list_id
from .merge import Merge
from .rows import BadRow, Batch, Checked, NoteKind, Row
from .staging import Staging

BATCH = 5000
IMPORT_CACHE_KIB = 16 * 1024


@dataclass(frozen=True, slots=True)
class Note:
    """Something to tell the person importing about one row."""

    line: int
    kind: NoteKind
    message: str


@dataclass
class ImportReport:
    """What an import did. Every data row has exactly one outcome, so `rows` is the sum of
    added, joined, activated, resubscribed, unchanged, duplicates, unsubscribed, suppressed and
    bad."""

    source: str
    list_name: str
    rows: int = 0
    added: int = 0
    """New subscribers."""
    joined: int = 0
    """Existing subscribers newly on this list."""
    activated: int = 0
    """Pending (unconfirmed) subscribers made active by the import."""
    resubscribed: int = 0
    """People who had left, re-subscribed because `resubscribe` was set."""
    unchanged: int = 0
    """Already on the list."""
    duplicates: int = 0
    """Rows repeating an address earlier in the file (merged)."""
    unsubscribed: int = 0
    """Rows for people who had left: not re-subscribed."""
    suppressed: int = 0
    """Rows for suppressed addresses: never imported."""
    bad: int = 0
    """Rows not imported because something in them is wrong."""
    filled: int = 0
    """Existing subscribers whose blank name or language was filled in (any outcome)."""
    ignored_columns: tuple[str, ...] = ()
    seconds: float = 0.0
    locked_seconds: float = 0.0
    """How long the import's write transaction took (SQLite: how long it held the database's
    write lock): the merge, not the reading of the file."""
    notes: list[Note] = field(default_factory=list)
    """The first `NOTES_KEPT` notes (all of them go to the on_note callback)."""

    NOTES_KEPT = 1000

    @property
    def changed(self) -> int:
        return self.added + self.joined + self.activated + self.resubscribed + self.filled

    @property
    def outcomes(self) -> int:
        return (self.added + self.joined + self.activated + self.resubscribed + self.unchanged
                + self.duplicates + self.unsubscribed + self.suppressed + self.bad)


def batches(rows: Iterable[Row | BadRow], size: int) -> Iterator[Batch]:
    """`rows` in batches of `size` good rows (see Batch), the last possibly smaller or
    empty."""
    read = 0
    bad: list[BadRow] = []
    batch: list[Checked] = []
    for row in rows:
        read += 1
        if isinstance(row, BadRow):
            bad.append(row)
            continue
        batch.append((row.address.key, row.address.email, row.name, row.language, row.line))
        if len(batch) >= size:
            yield read, bad, batch
            read, bad, batch = 0, [], []
    if read:
        yield read, bad, batch


_DONE = object()


def _read_ahead(batches: Iterator[Batch]) -> Iterator[Batch]:
    """`batches`, made in a thread of their own one batch ahead: reading and checking the
    file (Python) goes on while the database stages the batch before (its statements, and on
    PostgreSQL the server, run without the GIL). Everything else, the notes, the counts and
    every statement, stays on the caller's thread, in the same order as without it. An error
    of the reading is raised here. If the caller stops (an error, Ctrl-C), the thread stops
    at its next batch, unwaited for: it may be blocked reading a pipe that never ends, and it
    touches nothing but the file (the rows it reads go nowhere)."""
    ready: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for batch in batches:
                if not offer(batch):
                    return
            offer(_DONE)
        except BaseException as exc:  # handed to the caller, raised there
            offer(exc)
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()  # here, in the thread that ran it: the file is closed

    reader = threading.Thread(target=read, name="import-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                reader.join()  # it has ended, its file closed
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def _interrupted(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C behind `exc`, if `exc` is the driver failing to roll back a statement that
    Ctrl-C stopped half-way (PostgreSQL: "another command is already in progress"): the
    import was interrupted, and says so, not that the database failed."""
    seen: BaseException | None = exc.__context__
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return seen
        seen = seen.__context__
    return None


def run_import(target: Engine | Connection, rows: Iterable[Batch], list_name: str, *,
               source: str, actor: str | None = None, resubscribe: bool = False,
               on_note: Callable[[Note], None] | None = None,
               on_progress: Callable[[int], None] | None = None) -> ImportReport:
    """Import `rows`, in batches (`batches` makes them of Row values; SubscriberFile.batches
    reads them from a file), into `list_name` through `target`'s engine, on a connection of
    the import's own: staging in short transactions that take no write lock, then the merge
    in one write transaction (see the module docstring).

    `target` is best the engine. A connection in a transaction (as Store.import_rows hands
    over) has that transaction ended unused, so that it does not hold the write lock while
    the import reads the file."""
    if isinstance(target, Connection):
        if target.in_transaction():
            target.rollback()
        engine = target.engine
    else:
        engine = target
    started = time.perf_counter()
    report = ImportReport(source=source, list_name=list_name)

    def note(line: int, kind: NoteKind, message: str) -> None:
        made = Note(line, kind, message)
        if len(report.notes) < ImportReport.NOTES_KEPT:
            report.notes.append(made)
        if on_note is not None:
            on_note(made)

    def duplicate(line: int, message: str) -> None:
        report.duplicates += 1
        note(line, "duplicate", message)

    def count(name: str, amount: int) -> None:
        setattr(report, name, getattr(report, name) + amount)

    with engine.connect() as connection:
        try:
            connection.execution_options(**{WRITE: False})
            with connection.begin():
                if connection.dialect.name == "sqlite":
                    # A bigger page cache than SQLite's 2 MiB for this connection (which is
                    # closed after the import): fewer re-reads of the unique index's pages.
                    # A fixed amount, whatever the size of the file.
                    connection.exec_driver_sql(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB}")
                    # The same for the temporary database the staging table is in (the
                    # pragma above is the main database's only), and its journal in memory:
                    # a batch's changes, as small as the batch; a crash loses that table
                    # anyway. The main database's journal and syncing are left as they are.
                    connection.exec_driver_sql(
                        f"PRAGMA temp.cache_size = -{IMPORT_CACHE_KIB}")
                    connection.exec_driver_sql("PRAGMA temp.journal_mode = MEMORY")
                list_id(connection, list_name)  # an unknown list: before reading the file
            staging = Staging(connection, duplicate)
            for read, bad, batch in _read_ahead(iter(rows)):
                report.rows += read
                for row in bad:
                    report.bad += 1
                    note(row.line, "bad", row.reason)
                if batch:
                    staging.add(batch)
                if on_progress is not None:
                    on_progress(report.rows)
            if staging.batches:
                staging.finish()
                if connection.dialect.name == "sqlite":
                    # No foreign-key lookups for each row the merge writes: every id it
                    # writes is read or inserted in its own transaction, which holds the
                    # write lock, and the list's id is read there too (list_id below), so
                    # every reference is valid by construction. Only this connection, which
                    # is closed after the import; set outside a transaction, where SQLite
                    # takes it.
                    raw = connection.connection.dbapi_connection
                    assert raw is not None
                    raw.execute("PRAGMA foreign_keys = OFF")
                connection.execution_options(**{WRITE: True})  # SQLite: BEGIN IMMEDIATE
                locked = time.perf_counter()
                with connection.begin():
                    merge = Merge(connection, list_id(connection, list_name), source, actor,
                                  resubscribe, count, note)
                    for number in range(1, staging.batches + 1):
                        merge.chunk(*staging.chunk(number))
                    merge.add_new(staging.staged, staging.dense)
                report.locked_seconds = time.perf_counter() - locked
        except Exception as exc:
            stopped = _interrupted(exc)
            if stopped is not None:
                raise stopped from None
            raise
        finally:
            # The connection goes, and its temporary table and cache with it (also when the
            # import was interrupted half-way through a statement).
            connection.invalidate()
    report.seconds = time.perf_counter() - started
    return report
