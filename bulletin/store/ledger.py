"""The send ledger: one row per (issue, subscriber), what became of each message of an issue.

    pending ──claim──▶ sending ──▶ sent
       ▲                  │  └───▶ failed (permanent)
       └──── temporary ───┘
    pending ──claim──▶ skipped (left or suppressed after the issue was queued)

This module queues an issue (`create`), says who is not yet queued and counts the rows; the
claim is in claims.py, what becomes of claimed rows (outcomes, settling a stopped sender's,
the uncertain and sending them again) in outcomes.py, which states who may change a row in
`sending`: only the run that claimed it, or the operator once that run has stopped.

What a message costs does not grow with the list: `create` queues in one statement, safe
in several senders at once (on PostgreSQL they take turns on a lock of the issue's, and a member
already queued is left alone: ON CONFLICT DO NOTHING), and a claim reads only the rows it
takes. The counts read the issue's rows once, through the index on (issue, id) (no index
holds the state: see models.LedgerEntry).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import (
    ClauseElement,
    ColumnElement,
    Connection,
    CursorResult,
    Dialect,
    Integer,
    Select,
    String,
    any_,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite

from .models import (
    DELIVERY_STATES,
    LedgerEntry,
    Membership,
    Subscriber,
    Suppression,
    table,
)

log = logging.getLogger(__name__)
_ledger = table(LedgerEntry)
_subscribers = table(Subscriber)
_memberships = table(Membership)
_suppressions = table(Suppression)

class Claim(NamedTuple):
    """One message to send (or, from uncertain(), one that may have been sent). A named
    tuple rather than a frozen dataclass: a claim makes hundreds at once, and a frozen
    dataclass's __init__ (a setattr through object for each field) took four times as long."""

    id: int
    issue: str
    subscriber_id: int
    email: str
    name: str | None
    language: str | None
    attempts: int
    reason: str | None = None
    """From uncertain(): why its fate is unknown, as recorded."""


@dataclass(frozen=True, slots=True)
class Audience:
    """The subscribers one language's edition goes to, when each subscriber gets their own
    language: those whose language is `language`; for the newsletter's first language
    (`default`), also those with no language or one the newsletter is not written in."""

    language: str
    others: tuple[str, ...] = ()
    """The newsletter's other languages (for the default edition: whom it is not for)."""
    default: bool = False

    def condition(self) -> ColumnElement[bool]:
        column = _subscribers.c.language
        if self.default:
            return or_(column.is_(None), column.not_in(self.others)) if self.others \
                else true()
        return column == self.language


def ids_bound(dialect: Dialect) -> ColumnElement[bool]:
    """The ledger rows whose id is one of the bound value `ids` (given by `ids_value`): one
    bound value however many they are, rather than a bound value each, since a claim or a
    flush of outcomes names hundreds, and each bound value costs time to make and to plan.
    On SQLite a JSON list; on PostgreSQL an array, sent as its text (`{1,2,3}`): psycopg
    took about 0.7 µs an id to send a list of ints as an array, ten times as long."""
    return _ids(dialect, bindparam("ids", "", String))


def ids_in(connection: Connection, ids: Iterable[int]) -> ColumnElement[bool]:
    """`ids_bound` with its value: the ledger rows whose id is one of `ids`."""
    return _ids(connection.dialect, literal(ids_value(connection.dialect, ids), String))


def _ids(dialect: Dialect, value: ColumnElement[str]) -> ColumnElement[bool]:
    if dialect.name == "postgresql":
        return _ledger.c.id == any_(cast(value, postgresql.ARRAY(Integer)))
    return _ledger.c.id.in_(select(func.json_each(value).table_valued("value").c.value))


def ids_value(dialect: Dialect, ids: Iterable[int]) -> str:
    """Ledger ids as `ids_bound`'s (or `ids_sql`'s) bound value."""
    listed = ",".join(map(str, ids))
    return f"{{{listed}}}" if dialect.name == "postgresql" else f"[{listed}]"


def ids_sql(dialect: Dialect) -> str:
    """`ids_bound` for a text statement: the condition on `id` naming the bound value
    `:ids`."""
    if dialect.name == "postgresql":
        return "id = ANY(CAST(:ids AS INTEGER[]))"
    return "id IN (SELECT value FROM json_each(:ids))"


class Prepared:
    """A statement compiled once for one database and run as the driver's own SQL
    (Connection.exec_driver_sql): for the statements a send runs every few hundred messages
    (claim, record), building one, compiling it and finding it in SQLAlchemy's cache (whose
    key is made by walking the whole statement) cost more than the database's own work.

    The statement names its bound values (each given a value of its kind when it is built);
    they are passed by name and go to the driver as they are, unconverted: each must be what
    the driver takes (a timestamp through `stamp`, a list of ids through `ids_value`)."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect,
                                     compile_kwargs={"render_postcompile": True})
        self.sql = compiled.string
        self.defaults: dict[str, Any] = dict(compiled.params)
        order = getattr(compiled, "positiontup", None) or ()
        self.order = tuple(order) if dialect.positional else None

    def bound(self, values: Mapping[str, Any]) -> dict[str, Any] | tuple[Any, ...]:
        merged = self.defaults | dict(values)
        return merged if self.order is None else tuple(merged[name] for name in self.order)

    def run(self, connection: Connection, **values: Any) -> CursorResult[Any]:
        return connection.exec_driver_sql(self.sql, self.bound(values))

    def run_many(self, connection: Connection,
                 rows: Sequence[Mapping[str, Any]]) -> CursorResult[Any]:
        """The statement once for each of `rows` (the driver's executemany)."""
        bound = [self.bound(row) for row in rows]
        return connection.exec_driver_sql(self.sql, bound)


def stamp(dialect: Dialect, at: datetime) -> Any:
    """`at` as the driver takes it for a timestamp column of the ledger."""
    convert = _stamping(dialect)
    return convert(at) if convert is not None else at


@lru_cache(maxsize=32)
def _stamping(dialect: Dialect) -> Callable[[Any], Any] | None:
    return _ledger.c.updated_at.type.bind_processor(dialect)


def _audience(audience: Audience | None) -> ColumnElement[bool]:
    return true() if audience is None else audience.condition()


def _unqueued(issue: str, list_id: int,
              audience: Audience | None = None) -> Select[tuple[int]]:
    """SQL: ids of the list's active, unsuppressed members with no row for `issue` yet (of
    `audience` only, if given)."""
    return (select(_subscribers.c.id)
            .select_from(_memberships.join(_subscribers,
                                           _subscribers.c.id == _memberships.c.subscriber_id))
            .where(_memberships.c.list_id == list_id, _memberships.c.status == "active",
                   _subscribers.c.status == "active",
                   ~exists().where(_suppressions.c.email_key == _subscribers.c.email_key),
                   ~exists().where(_ledger.c.issue == issue,
                                   _ledger.c.subscriber_id == _subscribers.c.id),
                   _audience(audience)))


QUEUEING_LOCKS = 0x6C656467
"""The first key of PostgreSQL's advisory locks on queueing an issue; the second is a hash of
the schema and the issue (advisory locks are the database's, and stores in other schemas of it
queue their own issues)."""


def _queueing(connection: Connection, issue: str, shared: bool) -> None:
    """PostgreSQL: hold the lock on queueing `issue` until the transaction ends, `create`
    alone, `unqueued` beside others. A count of who is not yet queued that ran while another
    sender's `create` was adding the rows was planned for the ledger as it was (empty, for an
    issue's first send: a nested loop reading the whole ledger for every member) and then read
    the ledger as it grew, once for each member: minutes at 100,000 with two senders started
    together. Waiting for the rows (and the statistics `create` renews) to be committed, it
    is planned for them. Queueing again waits too, then finds everyone queued. SQLite has one
    writer at a time and plans the same either way."""
    if connection.dialect.name != "postgresql":
        return
    try_lock, lock = (func.pg_try_advisory_xact_lock_shared, func.pg_advisory_xact_lock_shared) \
        if shared else (func.pg_try_advisory_xact_lock, func.pg_advisory_xact_lock)
    key = func.hashtext(func.concat(func.current_schema(), " ", issue))
    if not connection.scalar(select(try_lock(QUEUEING_LOCKS, key))):
        # said, since at 1,000,000 the wait is seconds long
        log.warning("another sender is queueing %s; waiting until it has", issue)
        connection.execute(select(lock(QUEUEING_LOCKS, key)))


ANALYZE_AFTER = 1000
"""Rows queued at once from which PostgreSQL's statistics of the ledger are renewed."""


CREATE_CACHE_KIB = 400
"""SQLite's page cache (KiB) while an issue is queued."""


@contextmanager
def _small_cache(connection: Connection) -> Iterator[None]:
    """SQLite: the page cache at CREATE_CACHE_KIB while inside, then as it was. The sorts and
    window of `create`'s one statement hold up to the cache's size each (2 MB by default): at
    100,000 members that raised the sender's peak by 9 MB."""
    if connection.dialect.name != "sqlite":
        yield
        return
    cache = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size = -{CREATE_CACHE_KIB}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {int(cache or 0)}")


def create(connection: Connection, issue: str, list_id: int, at: datetime,
           audience: Audience | None = None) -> int:
    """Queue `issue` for every active, unsuppressed member of the list (of `audience`, if
    given) who has no row for it yet; return how many rows were added (running it again adds
    only new members). Safe to run in several senders at once: a member another one has
    just queued is left to it (ON CONFLICT DO NOTHING), not an error."""
    # Claims take the lowest ids first: queued in order of each subscriber's place within
    # their language (as a share of it), the languages' editions go out side by side, each
    # spread over the whole send, never all of one language and then the other. Each
    # language's size is counted first, by itself: as a window over the rows queued
    # (count() OVER), SQLite held them all in memory, 3 MB of the sender's peak at 1,000,000.
    language = _subscribers.c.language
    _queueing(connection, issue, shared=False)
    with _small_cache(connection):
        sizes = connection.execute(_unqueued(issue, list_id, audience)
                                   .with_only_columns(language, func.count())
                                   .group_by(language)).all()
        if not sizes:
            return 0
        size = case(*((language.is_(None) if code is None else language == code, count)
                      for code, count in sizes), else_=1)
        share = (func.row_number().over(partition_by=language, order_by=_subscribers.c.id)
                 * 1.0 / size)
        members = _unqueued(issue, list_id, audience).add_columns(share.label("share")) \
            .subquery()
        rows = (select(literal(issue), members.c.id, literal(list_id), literal("pending"),
                       literal(0), literal(at, _ledger.c.created_at.type),
                       literal(at, _ledger.c.updated_at.type))
                .order_by(members.c.share, members.c.id))
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(_ledger).from_select(
            ["issue", "subscriber_id", "list_id", "state", "attempts", "created_at",
             "updated_at"], rows).on_conflict_do_nothing(index_elements=["issue", "subscriber_id"])
        result = connection.execute(statement.execution_options(preserve_rowcount=True))
    if result.rowcount >= ANALYZE_AFTER and connection.dialect.name == "postgresql":
        # So that the first claims are planned knowing these rows (autovacuum would learn
        # of them only later): planned without, a claim sorted the whole issue. Only the
        # table's owner may; for anyone else PostgreSQL skips it with a warning.
        connection.execute(text("ANALYZE ledger"))
    return result.rowcount


def unqueued(connection: Connection, issue: str, list_id: int,
             audience: Audience | None = None) -> int:
    """How many rows `create` would add now."""
    _queueing(connection, issue, shared=True)
    return connection.scalar(select(func.count()).select_from(
        _unqueued(issue, list_id, audience).subquery())) or 0


def counts(connection: Connection, issue: str, audience: Audience | None = None,
           list_id: int | None = None) -> dict[str, int]:
    """The issue's rows by state (of `audience`, and queued from list `list_id`, if given)."""
    query = select(_ledger.c.state, func.count()).where(_ledger.c.issue == issue)
    if list_id is not None:
        query = query.where(_ledger.c.list_id == list_id)
    if audience is not None:
        query = query.join_from(_ledger, _subscribers,
                                _subscribers.c.id == _ledger.c.subscriber_id) \
            .where(audience.condition())
    found: dict[str, int] = dict(connection.execute(query.group_by(_ledger.c.state)).all())
    return {state: found.get(state, 0) for state in DELIVERY_STATES}


def failures(connection: Connection, issue: str) -> list[tuple[str, int]]:
    rows = connection.execute(
        select(_ledger.c.last_reply, func.count().label("n"))
        .where(_ledger.c.issue == issue, _ledger.c.state == "failed")
        .group_by(_ledger.c.last_reply).order_by(func.count().desc(), _ledger.c.last_reply))
    return [(reply or "", n) for reply, n in rows]
