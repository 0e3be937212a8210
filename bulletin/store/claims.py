"""Claiming, for the dispatcher: the next pending rows of an issue become `sending` for one
sender's run (attempts + 1), in id order; rows whose subscriber has since left or been
suppressed become `skipped` instead. Apart from the rest of the ledger (ledger.py) because it
is the one statement whose plan matters at scale and the one several senders race for.

Claims take `FOR UPDATE SKIP LOCKED` on PostgreSQL, so several senders can share an issue;
on SQLite the claim runs in a write transaction (one writer at a time). A claim first picks
the next `limit` pending ids through the index on (issue, id), the state read from each row
(on PostgreSQL in a materialised CTE, so the planner cannot turn it into a join of every
pending row), and only then checks whether those few may still be sent to. In a first pass
the rows after `after` are pending but for those other senders hold, so few are read in
vain; a later pass (the temporary failures) reads on through the issue's rows once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    Dialect,
    FromClause,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    literal,
    select,
    true,
    tuple_,
    update,
)

from .ledger import Audience, Claim, Prepared, ids_bound, ids_value, stamp
from .models import LedgerEntry, Membership, Subscriber, Suppression, now, table

_ledger = table(LedgerEntry)
_subscribers = table(Subscriber)
_memberships = table(Membership)
_suppressions = table(Suppression)

SKIPPED_REPLY = "not sent: unsubscribed or suppressed after the issue was queued"


def _picked(postgresql_: bool, audience: Audience | None) -> Select[Any]:
    """The claim's rows: the next `limit` pending rows above `after` (read in id order from
    the index on (issue, id), locked, skipping those another sender holds), and only
    for those, the subscriber and whether they may still be sent to. Its bound values:
    `issue`, `after`, `limit`.

    Each check is a lookup by key for one picked row, written so that PostgreSQL cannot
    turn it into a hash of the whole table (which its planner prefers for tables of a few
    thousand rows, and which made the old claim read all of them): the subscriber in a
    LATERAL subquery with LIMIT 1 (never pulled up into a join), the membership and the
    suppression as scalar subqueries (never hashed). SQLite looks each up by key anyway."""
    columns = (_ledger.c.id, _ledger.c.subscriber_id, _ledger.c.list_id, _ledger.c.attempts)
    issue, after = bindparam("issue", "", String), bindparam("after", 0, Integer)
    pending = _ledger.c.state == "pending"  # read from the row: no index holds the state
    if postgresql_:
        # A range of the index on (issue, id), in its order. Not as `issue = ... AND id >
        # ...`: with the issue equal to a constant, PostgreSQL takes "in id order" as given by
        # the primary key too and, assuming the rows it wants are spread evenly, may read the
        # key through every row of the issues sent before.
        key = tuple_(_ledger.c.issue, _ledger.c.id)
        rows = select(*columns).where(key > tuple_(issue, after), _ledger.c.issue <= issue,
                                      pending)
        order = key.clauses
    else:  # SQLite seeks (issue, after) in the index on (issue, id)
        rows = select(*columns).where(_ledger.c.issue == issue, _ledger.c.id > after, pending)
        order = [_ledger.c.id]
    if audience is not None:
        rows = rows.join_from(_ledger, _subscribers,
                              _subscribers.c.id == _ledger.c.subscriber_id) \
            .where(audience.condition())
    picked = rows.order_by(*order).limit(bindparam("limit", 1, Integer)) \
        .with_for_update(of=_ledger, skip_locked=True).cte("picked")
    if postgresql_:
        picked = picked.prefix_with("MATERIALIZED")
    person = select(_subscribers.c.email, _subscribers.c.name, _subscribers.c.language,
                    _subscribers.c.status, _subscribers.c.email_key) \
        .where(_subscribers.c.id == picked.c.subscriber_id)
    who: FromClause
    if postgresql_:
        who = person.limit(1).lateral("who")
        source = picked.join(who, true())
    else:
        who = _subscribers
        source = picked.join(who, _subscribers.c.id == picked.c.subscriber_id)
    member = select(_memberships.c.status).where(
        _memberships.c.list_id == picked.c.list_id,
        _memberships.c.subscriber_id == picked.c.subscriber_id).scalar_subquery()
    suppressed = select(literal(1)).where(
        _suppressions.c.email_key == who.c.email_key).scalar_subquery()
    sendable = and_(who.c.status == "active", member == "active", suppressed.is_(None))
    return (select(picked.c.id, picked.c.subscriber_id, who.c.email, who.c.name,
                   who.c.language, picked.c.attempts + 1, sendable.label("sendable"))
            .select_from(source).order_by(picked.c.id))


class _Statements(NamedTuple):
    picked: Prepared
    """Rows (id, subscriber_id, email, name, language, attempts + 1, sendable)."""
    sending: Prepared
    """Rows `ids` to sending, for `claimer`, at `at`."""
    skipped: Prepared
    """Rows `ids` to skipped, at `at`."""


@lru_cache(maxsize=32)
def _statements(dialect: Dialect, audience: Audience | None) -> _Statements:
    """A claim's statements, compiled once for each database and audience."""
    at = bindparam("at", now(), _ledger.c.updated_at.type)
    ids = ids_bound(dialect)
    sending = update(_ledger).where(ids).values(
        state="sending", attempts=_ledger.c.attempts + 1, claimed_at=at, updated_at=at,
        run=bindparam("claimer", None, String))
    skipped = update(_ledger).where(ids).values(state="skipped", last_reply=SKIPPED_REPLY,
                                                updated_at=at)
    return _Statements(Prepared(_picked(dialect.name == "postgresql", audience), dialect),
                       Prepared(sending, dialect), Prepared(skipped, dialect))


def claim(connection: Connection, issue: str, limit: int, at: datetime,
          after: int = 0, audience: Audience | None = None,
          run: str | None = None) -> list[Claim]:
    """Move up to `limit` pending rows with ids above `after` (of `audience`'s subscribers,
    if given) to sending (attempts + 1) and return them, in id order; rows whose subscriber
    has since left or been suppressed become skipped instead. (`after` lets a sender make one
    pass through the queue before it comes back to the messages that failed for now.)"""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    dialect = connection.dialect
    statements, when = _statements(dialect, audience), stamp(dialect, at)
    while True:
        rows: Sequence[Any] = statements.picked.run(connection, issue=issue, after=after,
                                                    limit=limit).all()
        if not rows:
            return []
        claimed = [Claim(id_, issue, subscriber, email, name, language, attempts)
                   for id_, subscriber, email, name, language, attempts, sendable in rows
                   if sendable]
        if len(claimed) < len(rows):
            skipped = [row[0] for row in rows if not row[6]]
            statements.skipped.run(connection, ids=ids_value(dialect, skipped), at=when)
        if claimed:
            statements.sending.run(connection, ids=ids_value(dialect, [c.id for c in claimed]),
                                   at=when, claimer=run)
            return claimed
        after = rows[-1][0]
