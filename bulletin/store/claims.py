"""Claiming, for the dispatcher: the next pending rows of an issue become `sending` for one
sender's run (attempts + 1), in id order; rows whose subscriber has since left or been
suppressed become `skipped` instead. Apart from the rest of the ledger (ledger.py) because it
is the one statement whose plan matters at scale and the one several senders race for.

Claims take `FOR UPDATE SKIP LOCKED` on PostgreSQL, so several senders can share an issue;
on SQLite the claim runs in a write transaction (one writer at a time). A claim first picks
the next `limit` pending ids through the index on (issue, state, id) (on PostgreSQL in a
materialised CTE, so the planner cannot turn it into a join of every pending row), and only
then checks whether those few may still be sent to.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    FromClause,
    Select,
    and_,
    literal,
    select,
    true,
    tuple_,
    update,
)

from .ledger import Audience, Claim, ids_in
from .models import LedgerEntry, Membership, Subscriber, Suppression, table

_ledger = table(LedgerEntry)
_subscribers = table(Subscriber)
_memberships = table(Membership)
_suppressions = table(Suppression)

SKIPPED_REPLY = "not sent: unsubscribed or suppressed after the issue was queued"


def _picked(connection: Connection, issue: str, limit: int, after: int,
            audience: Audience | None) -> Select[Any]:
    """The claim's rows: the next `limit` pending rows above `after` (read in id order from
    the index on (issue, state, id), locked, skipping those another sender holds), and only
    for those, the subscriber and whether they may still be sent to.

    Each check is a lookup by key for one picked row, written so that PostgreSQL cannot
    turn it into a hash of the whole table (which its planner prefers for tables of a few
    thousand rows, and which made the old claim read all of them): the subscriber in a
    LATERAL subquery with LIMIT 1 (never pulled up into a join), the membership and the
    suppression as scalar subqueries (never hashed). SQLite looks each up by key anyway."""
    postgresql_ = connection.dialect.name == "postgresql"
    columns = (_ledger.c.id, _ledger.c.subscriber_id, _ledger.c.list_id, _ledger.c.attempts)
    if postgresql_:
        # A range of the index on (issue, state, id), in its order. Not as `issue = ... AND
        # state = ...`: with those equal to constants, PostgreSQL takes "in id order" as
        # given by the primary key too and, assuming the rows it wants are spread evenly,
        # may read the key through every row of the issues sent before.
        key = tuple_(_ledger.c.issue, _ledger.c.state, _ledger.c.id)
        rows = select(*columns).where(
            key > tuple_(literal(issue), literal("pending"), literal(after)),
            tuple_(_ledger.c.issue, _ledger.c.state) <= tuple_(literal(issue),
                                                               literal("pending")))
        order = key.clauses
    else:  # SQLite seeks (issue, state, after); given row values, only (issue, state)
        rows = select(*columns).where(_ledger.c.issue == issue, _ledger.c.state == "pending",
                                      _ledger.c.id > after)
        order = [_ledger.c.id]
    if audience is not None:
        rows = rows.join_from(_ledger, _subscribers,
                              _subscribers.c.id == _ledger.c.subscriber_id) \
            .where(audience.condition())
    picked = rows.order_by(*order).limit(limit) \
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
                   who.c.language, picked.c.attempts, sendable.label("sendable"))
            .select_from(source).order_by(picked.c.id))


def claim(connection: Connection, issue: str, limit: int, at: datetime,
          after: int = 0, audience: Audience | None = None,
          run: str | None = None) -> list[Claim]:
    """Move up to `limit` pending rows with ids above `after` (of `audience`'s subscribers,
    if given) to sending (attempts + 1) and return them, in id order; rows whose subscriber
    has since left or been suppressed become skipped instead. (`after` lets a sender make one
    pass through the queue before it comes back to the messages that failed for now.)"""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    while True:
        rows = connection.execute(_picked(connection, issue, limit, after, audience)).all()
        if not rows:
            return []
        # (id, subscriber_id, email, name, language, attempts, sendable): as plain tuples,
        # each read once, since a claim is hundreds of rows
        claimed = [tuple(row) for row in rows]
        skipped = [row[0] for row in claimed if not row[6]]
        if skipped:
            claimed = [row for row in claimed if row[6]]
            connection.execute(update(_ledger).where(ids_in(connection, skipped))
                               .values(state="skipped", last_reply=SKIPPED_REPLY,
                                       updated_at=at))
        if claimed:
            connection.execute(update(_ledger).where(ids_in(connection, [row[0] for row in
                                                                         claimed]))
                               .values(state="sending", attempts=_ledger.c.attempts + 1,
                                       claimed_at=at, updated_at=at, run=run))
            return [Claim(id_, issue, subscriber, email, name, language, attempts + 1)
                    for id_, subscriber, email, name, language, attempts, _ in claimed]
        after = rows[-1].id


