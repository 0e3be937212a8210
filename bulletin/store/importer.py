"""Importing subscribers in bulk: the fast path, with SQLAlchemy Core.

Strategy: **one transaction**. The file is streamed in batches (a few thousand rows each, so
memory stays flat however long the file is) and each batch is written with multi-row
statements, but nothing is committed until the last row has been read. An import that is
interrupted (a file that turns out unreadable half-way, Ctrl-C, a killed process, a lost
database connection) leaves the store exactly as it was, and running it again is safe because
an import is idempotent: rows already in are "unchanged".

Rules, for each row:
- a suppressed address is never imported (suppression always wins);
- a person who unsubscribed (from everything, or from this list), bounced or complained is not
  re-subscribed unless `resubscribe` is set (and then it is counted and audited);
- a duplicate, earlier in the file or already in the store, is merged: the first values win
  and a blank name or language is filled in from a later row;
- every change of a subscription (new, joined the list, confirmed, re-subscribed) writes an
  audit row naming the file and line.

Duplicates spread over batches are recognised through a temporary table of the keys seen so
far (in the database, not in memory).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Insert,
    Integer,
    MetaData,
    String,
    Table,
    Update,
    and_,
    bindparam,
    cast,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import TypeEngine

from .errors import UnknownListError
from .models import (
    EMAIL_LENGTH,
    LEFT,
    AuditEntry,
    MailingList,
    Membership,
    Subscriber,
    Suppression,
    UTCDateTime,
    now,
    table,
)
from .rows import BadRow, Row

BATCH = 5000
IMPORT_CACHE_KIB = 16 * 1024

NoteKind = Literal["bad", "duplicate", "unsubscribed", "suppressed"]

_subscribers = table(Subscriber)
_memberships = table(Membership)
_audit = table(AuditEntry)
_suppressions = table(Suppression)
_lists = table(MailingList)

_temporary = MetaData()
_seen = Table("bulletin_import_seen", _temporary,
              Column("email_key", String(EMAIL_LENGTH), primary_key=True),
              Column("line", Integer, nullable=False),
              Column("batch", Integer, nullable=False, index=True),
              prefixes=["TEMPORARY"], postgresql_on_commit="drop", sqlite_with_rowid=False)
"""Every address read so far, the line it was first on, and the last batch it was in: the
batch being imported is joined through it (faster than long IN lists)."""


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


@dataclass(frozen=True, slots=True)
class _Existing:
    id: int
    status: str
    name: str | None
    language: str | None


class _Many:
    """One statement, compiled once, run for many rows of values given as tuples in the order
    of `keys`. On a driver with positional parameters (SQLite) the tuples go straight to the
    driver's executemany, skipping SQLAlchemy's per-row parameter handling, which otherwise
    costs more than SQLite's insert (every value here is a string, an integer or None, which
    need no conversion; constants are rendered into the SQL). Elsewhere (psycopg) SQLAlchemy's
    own executemany is used, which batches rows into multi-row statements."""

    def __init__(self, connection: Connection, statement: Insert | Update,
                 keys: tuple[str, ...]) -> None:
        self.connection = connection
        self.statement = statement
        self.keys = keys
        if isinstance(statement, Insert):
            statement = statement.inline()  # no RETURNING of SQL-valued keys: nothing to fetch
        compiled = statement.compile(dialect=connection.dialect, column_keys=list(keys))
        self.sql = compiled.string if compiled.positional else None
        order = [keys.index(compiled.binds[name].key) for name in compiled.positiontup or ()]
        self.order = None if order == list(range(len(keys))) else order

    def __call__(self, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if self.sql is None:
            self.connection.execute(self.statement, [dict(zip(self.keys, row, strict=True))
                                                     for row in rows])
        elif self.order is None:
            self.connection.exec_driver_sql(self.sql, rows)
        else:
            order = self.order
            self.connection.exec_driver_sql(self.sql, [tuple(row[i] for i in order)
                                                       for row in rows])


class _Import:
    def __init__(self, connection: Connection, list_name: str, source: str, actor: str | None,
                 resubscribe: bool, report: ImportReport,
                 on_note: Callable[[Note], None] | None) -> None:
        self.connection = connection
        self.source = source
        self.resubscribe = resubscribe
        self.report = report
        self.on_note = on_note
        self.batches = 0
        list_id = connection.scalar(select(_lists.c.id).where(_lists.c.name == list_name))
        if list_id is None:
            known = connection.scalars(select(_lists.c.name).order_by(_lists.c.name)).all()
            raise UnknownListError(unknown_list_message(list_name, known))
        self.list_id: int = list_id

        def sql(value: object, type_: TypeEngine[Any] | None = None) -> ColumnElement[Any]:
            """A constant of the import rendered into the SQL once, not bound every row."""
            if value is None:
                return null()
            if type_ is None:
                type_ = String() if isinstance(value, str) else Integer()
            text = str(literal(value, type_).compile(dialect=connection.dialect,
                                                     compile_kwargs={"literal_binds": True}))
            if connection.dialect.paramstyle in ("format", "pyformat"):
                # Compiled on its own, the literal has its % doubled for the driver; the
                # statement it goes into doubles them again, so undo the first.
                text = text.replace("%%", "%")
            return literal_column(text, type_)

        now_ = now()
        at = sql(now_, UTCDateTime())
        consent = sql(f"import:{source}"[:200])
        active = sql("active")
        self.insert_seen = _Many(connection, _upsert_seen(connection),
                                 ("email_key", "line", "batch"))
        self.insert_subscribers = _Many(
            connection, insert(_subscribers).values(status=active, consent_source=consent,
                                                    consent_at=at, created_at=at,
                                                    updated_at=at),
            ("email", "email_key", "name", "language"))
        self.fill = _Many(
            connection, update(_subscribers).where(_subscribers.c.id == bindparam("_id"))
            .values(name=bindparam("name"), language=bindparam("language"), updated_at=at),
            ("_id", "name", "language"))
        self.activate = _Many(
            connection, update(_subscribers).where(_subscribers.c.id == bindparam("_id"))
            .values(status=active, consent_source=consent, consent_at=at, updated_at=at),
            ("_id",))
        self.join = _Many(
            connection, insert(_memberships).values(list_id=sql(list_id), status=active,
                                                    created_at=at, updated_at=at),
            ("subscriber_id",))
        self.rejoin = _Many(
            connection, update(_memberships)
            .where(_memberships.c.list_id == sql(list_id),
                   _memberships.c.subscriber_id == bindparam("_subscriber"))
            .values(status=active, updated_at=at),
            ("_subscriber",))
        just_added = (select(_subscribers.c.id, _subscribers.c.email_key, _seen.c.line)
                      .join_from(_seen, _subscribers,
                                 _subscribers.c.email_key == _seen.c.email_key)
                      .where(_seen.c.batch == bindparam("batch"),
                             _subscribers.c.id > bindparam("after"))
                      .subquery())
        self.join_new = insert(_memberships).from_select(
            ["list_id", "subscriber_id", "status", "created_at", "updated_at"],
            select(sql(list_id).label("list_id"), just_added.c.id, active.label("status"),
                   at.label("created_at"), sql(now_, UTCDateTime()).label("updated_at")))
        self.audit_new = insert(_audit).from_select(
            ["at", "subscriber_id", "email_key", "list_id", "action", "new_status", "source",
             "actor", "detail"],
            select(at.label("at"), just_added.c.id, just_added.c.email_key,
                   sql(list_id).label("list_id"), sql("subscribe").label("action"),
                   active.label("new_status"), sql("import").label("source"),
                   sql(actor).label("actor"),
                   (sql(f"{source}:") + cast(just_added.c.line, String)).label("detail")))
        self.insert_audit = _Many(
            connection, insert(_audit).values(at=at, list_id=sql(list_id), source=sql("import"),
                                              actor=sql(actor)),
            ("subscriber_id", "email_key", "action", "old_status", "new_status", "detail"))

    def note(self, line: int, kind: NoteKind, message: str) -> None:
        note = Note(line, kind, message)
        if len(self.report.notes) < ImportReport.NOTES_KEPT:
            self.report.notes.append(note)
        if self.on_note is not None:
            self.on_note(note)

    def batch(self, rows: list[Row]) -> None:
        report = self.report
        connection = self.connection
        self.batches += 1
        number = self.batches
        firsts: dict[str, Row] = {}
        for row in rows:
            key = row.address.key
            first = firsts.get(key)
            if first is None:
                firsts[key] = row
                continue
            report.duplicates += 1
            self.note(row.line, "duplicate",
                      f"{row.address.email} is a duplicate of line {first.line}; merged")
            firsts[key] = _merge(first, row)

        # Every key of the batch is now in the seen table marked with this batch's number;
        # one first seen in an earlier batch keeps its (earlier) line.
        self.insert_seen([(key, row.line, number) for key, row in firsts.items()])
        this_batch = _seen.c.batch == number
        seen: dict[str, int] = dict(connection.execute(
            select(_seen.c.email_key, _seen.c.line)
            .where(this_batch, _seen.c.line < rows[0].line)).all())
        existing: dict[str, _Existing] = {}
        memberships: dict[int, str] = {}
        suppressed: set[str] = set()
        for key, id_, status, name, language, suppression, membership in connection.execute(
                select(_seen.c.email_key, _subscribers.c.id, _subscribers.c.status,
                       _subscribers.c.name, _subscribers.c.language,
                       _suppressions.c.email_key, _memberships.c.status)
                .select_from(_seen)
                .outerjoin(_subscribers, _subscribers.c.email_key == _seen.c.email_key)
                .outerjoin(_suppressions, _suppressions.c.email_key == _seen.c.email_key)
                .outerjoin(_memberships, and_(_memberships.c.list_id == self.list_id,
                                              _memberships.c.subscriber_id ==
                                              _subscribers.c.id))
                .where(this_batch, or_(_subscribers.c.id.is_not(None),
                                       _suppressions.c.email_key.is_not(None)))):
            if suppression is not None:
                suppressed.add(key)
            if id_ is not None:
                existing[key] = _Existing(id_, status, name, language)
                if membership is not None:
                    memberships[id_] = membership

        new: list[Row] = []
        fills: list[tuple[Any, ...]] = []
        activations: list[tuple[Any, ...]] = []
        joins: list[tuple[Any, ...]] = []
        rejoins: list[tuple[Any, ...]] = []
        audits: list[tuple[Any, ...]] = []
        where = f"{self.source}:"
        for key, row in firsts.items():
            earlier = seen.get(key)
            if earlier is not None:
                report.duplicates += 1
                self.note(row.line, "duplicate",
                          f"{row.address.email} is a duplicate of line {earlier}; merged")
            if key in suppressed:
                if earlier is None:
                    report.suppressed += 1
                    self.note(row.line, "suppressed", f"{row.address.email} is on the "
                              f"suppression list; never imported")
                continue
            old = existing.get(key)
            if old is None:
                new.append(row)
                continue
            membership = memberships.get(old.id)
            left = old.status in LEFT or membership == "unsubscribed"
            if left and not self.resubscribe:
                if earlier is None:
                    report.unsubscribed += 1
                    how = old.status if old.status in LEFT else "unsubscribed from this list"
                    self.note(row.line, "unsubscribed",
                              f"{row.address.email} has left ({how}); not re-subscribed "
                              f"(only if they have asked to be: --resubscribe)")
                continue
            if (old.name is None and row.name is not None) or \
                    (old.language is None and row.language is not None):
                report.filled += 1
                fills.append((old.id, old.name if old.name is not None else row.name,
                              old.language if old.language is not None else row.language))
            if earlier is not None:
                continue
            detail = f"{where}{row.line}"
            if left or old.status == "pending":
                if left:
                    report.resubscribed += 1
                else:
                    report.activated += 1
                if old.status != "active":
                    activations.append((old.id,))
                    action = "confirm" if old.status == "pending" else "resubscribe"
                    audits.append((old.id, key, action, old.status, "active", detail))
            elif membership is not None:
                report.unchanged += 1
                continue
            else:
                report.joined += 1
            if membership is None:
                joins.append((old.id,))
                audits.append((old.id, key, "join", None, "active", detail))
            elif membership == "unsubscribed":
                rejoins.append((old.id,))
                audits.append((old.id, key, "join", "unsubscribed", "active", detail))

        if new:
            report.added += len(new)
            after = connection.scalar(select(func.coalesce(func.max(_subscribers.c.id), 0)))
            self.insert_subscribers([(row.address.email, row.address.key, row.name,
                                      row.language) for row in new])
            # Their memberships and audit rows, straight from the rows just inserted (no
            # round trip of their ids through Python).
            marks = {"batch": number, "after": after}
            connection.execute(self.join_new, marks)
            connection.execute(self.audit_new, marks)
        self.fill(fills)
        self.activate(activations)
        self.join(joins)
        self.rejoin(rejoins)
        self.insert_audit(audits)


def _upsert_seen(connection: Connection) -> Insert:
    """INSERT into the seen table; for a key already there, only mark it with the new batch."""
    insert_ = sqlite.insert if connection.dialect.name == "sqlite" else postgresql.insert
    statement = insert_(_seen)
    return statement.on_conflict_do_update(index_elements=[_seen.c.email_key],
                                           set_={"batch": statement.excluded.batch})


def _merge(first: Row, later: Row) -> Row:
    """The first row's values, with blanks filled in from a later duplicate."""
    if (first.name is None and later.name is not None) or \
            (first.language is None and later.language is not None):
        return replace(first, name=first.name if first.name is not None else later.name,
                       language=first.language if first.language is not None
                       else later.language)
    return first


def unknown_list_message(name: str, known: Iterable[str]) -> str:
    names = ", ".join(known) or "none yet"
    return (f"no list named {name!r} (lists: {names}); lists come from the newsletters' "
            f"`list` in bulletin.toml, or `bulletin subscribers lists --create NAME`")


def _batches(rows: Iterable[Row | BadRow], report: ImportReport, size: int,
             note: Callable[[int, NoteKind, str], None]) -> Iterator[list[Row]]:
    """The good rows in batches of `size`; bad rows counted and noted."""
    batch: list[Row] = []
    for row in rows:
        report.rows += 1
        if isinstance(row, BadRow):
            report.bad += 1
            note(row.line, "bad", row.reason)
            continue
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def run_import(connection: Connection, rows: Iterable[Row | BadRow], list_name: str, *,
               source: str, actor: str | None = None, resubscribe: bool = False,
               on_note: Callable[[Note], None] | None = None,
               on_progress: Callable[[int], None] | None = None,
               batch_size: int = BATCH) -> ImportReport:
    """Import `rows` into `list_name` on `connection`, inside the caller's transaction."""
    started = time.perf_counter()
    if connection.dialect.name == "sqlite":
        # A bigger page cache than SQLite's 2 MiB for this connection (which is closed after
        # the import): fewer re-reads of the unique index's pages. A fixed amount, whatever
        # the size of the file.
        connection.exec_driver_sql(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB}")
    report = ImportReport(source=source, list_name=list_name)
    job = _Import(connection, list_name, source, actor, resubscribe, report, on_note)
    _temporary.create_all(connection)
    for batch in _batches(rows, report, batch_size, job.note):
        job.batch(batch)
        if on_progress is not None:
            on_progress(report.rows)
    _temporary.drop_all(connection)
    report.seconds = time.perf_counter() - started
    return report
