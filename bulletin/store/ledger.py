"""The send ledger: one row per (issue, subscriber), what became of each message of an issue.

    pending ──claim──▶ sending ──▶ sent
       ▲                  │  └───▶ failed (permanent)
       └──── temporary ───┘
    pending ──claim──▶ skipped (left or suppressed after the issue was queued)

This module queues an issue (`create`), says who is not yet queued and counts the rows; the
claim is in claims.py, what becomes of claimed rows (outcomes, settling a stopped sender's,
the uncertain and sending them again) in outcomes.py, which states who may change a row in
`sending`: only the run that claimed it, or the operator once that run has stopped.

What each operation costs does not grow with the list: `create` queues in one statement and
can run in several senders at once (ON CONFLICT DO NOTHING); the counts read the index on
(issue, state, id).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Select,
    any_,
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

_ledger = table(LedgerEntry)
_subscribers = table(Subscriber)
_memberships = table(Membership)
_suppressions = table(Suppression)

@dataclass(frozen=True, slots=True)
class Claim:
    """One message to send (or, from uncertain(), one that may have been sent)."""

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


def ids_in(connection: Connection, ids: Collection[int]) -> ColumnElement[bool]:
    """The ledger rows whose id is one of `ids`, as one bound value however many they are
    (an array on PostgreSQL, a JSON list on SQLite), rather than a bound value each: a claim
    or a flush of outcomes names hundreds, and each bound value costs time to make and to
    plan."""
    if connection.dialect.name == "postgresql":
        return _ledger.c.id == any_(literal(list(ids), postgresql.ARRAY(Integer)))
    listed = func.json_each(literal(json.dumps(list(ids)))).table_valued("value")
    return _ledger.c.id.in_(select(listed.c.value))


def ids_sql(connection: Connection, ids: Collection[int]) -> tuple[str, object]:
    """`ids_in` for a text statement: the condition on `id` naming the bound value `:ids`,
    and that value."""
    if connection.dialect.name == "postgresql":
        return "id = ANY(:ids)", list(ids)
    return "id IN (SELECT value FROM json_each(:ids))", json.dumps(list(ids))


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
    # spread over the whole send, never all of one language and then the other.
    language = _subscribers.c.language
    share = (func.row_number().over(partition_by=language, order_by=_subscribers.c.id)
             * 1.0 / func.count().over(partition_by=language))
    members = _unqueued(issue, list_id, audience).add_columns(share.label("share")).subquery()
    rows = (select(literal(issue), members.c.id, literal(list_id), literal("pending"),
                   literal(0), literal(at, _ledger.c.created_at.type),
                   literal(at, _ledger.c.updated_at.type))
            .order_by(members.c.share, members.c.id))
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(_ledger).from_select(
        ["issue", "subscriber_id", "list_id", "state", "attempts", "created_at", "updated_at"],
        rows).on_conflict_do_nothing(index_elements=["issue", "subscriber_id"])
    with _small_cache(connection):
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
