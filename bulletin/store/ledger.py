"""The send ledger, for the dispatcher: one row per (issue, subscriber).

    pending ──claim──▶ sending ──▶ sent
       ▲                  │  └───▶ failed (permanent)
       └──── temporary ───┘
    pending ──claim──▶ skipped (left or suppressed after the issue was queued)

A row in `sending` whose sender has stopped is *uncertain*: the message may or may not have
gone. While a sender runs, its claimed rows carry its `run`; its journal (store/journal.py)
says which of them it handed to the server, so that after a crash `settle()` narrows the
uncertain to those handed over and never answered, each with the reason in `last_reply`
(and `run` cleared); the rest go back to pending. `uncertain()` lists the rows in `sending`
and `requeue()` puts them back to pending when the operator decides to send again.
Claims take `FOR UPDATE SKIP LOCKED` on PostgreSQL, so several senders can share an
issue; on SQLite the claim runs in a write transaction (one writer at a time).

What each operation costs does not grow with the list: a claim first picks the next `limit`
pending ids through the index on (issue, state, id) (on PostgreSQL in a materialised CTE, so
the planner cannot turn it into a join of every pending row), and only then checks whether
those few may still be sent to; `record` writes a batch of outcomes in a few statements;
`create` can run in several senders at once (ON CONFLICT DO NOTHING).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    Select,
    and_,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from .errors import StoreError
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

SKIPPED_REPLY = "not sent: unsubscribed or suppressed after the issue was queued"


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


def create(connection: Connection, issue: str, list_id: int, at: datetime,
           audience: Audience | None = None) -> int:
    """Queue `issue` for every active, unsuppressed member of the list (of `audience`, if
    given) who has no row for it yet; return how many rows were added (running it again adds
    only new members). Safe to run in several senders at once: a member another one has
    just queued is left to it (ON CONFLICT DO NOTHING), not an error."""
    members = _unqueued(issue, list_id, audience).subquery()
    rows = (select(literal(issue), members.c.id, literal(list_id), literal("pending"),
                   literal(0), literal(at, _ledger.c.created_at.type),
                   literal(at, _ledger.c.updated_at.type))
            .order_by(members.c.id))
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(_ledger).from_select(
        ["issue", "subscriber_id", "list_id", "state", "attempts", "created_at", "updated_at"],
        rows).on_conflict_do_nothing(index_elements=["issue", "subscriber_id"])
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
        skipped = [row.id for row in rows if not row.sendable]
        if skipped:
            connection.execute(update(_ledger).where(_ledger.c.id.in_(skipped))
                               .values(state="skipped", last_reply=SKIPPED_REPLY,
                                       updated_at=at))
        claimed = [row for row in rows if row.sendable]
        if claimed:
            connection.execute(update(_ledger).where(_ledger.c.id.in_([r.id for r in claimed]))
                               .values(state="sending", attempts=_ledger.c.attempts + 1,
                                       claimed_at=at, updated_at=at, run=run))
            return [Claim(row.id, issue, row.subscriber_id, row.email, row.name, row.language,
                          row.attempts + 1) for row in claimed]
        after = rows[-1].id


def _finish(connection: Connection, delivery_id: int, values: dict[str, object]) -> None:
    result = connection.execute(update(_ledger).where(_ledger.c.id == delivery_id,
                                                      _ledger.c.state == "sending")
                                .values(**values))
    if result.rowcount != 1:
        state = connection.scalar(select(_ledger.c.state).where(_ledger.c.id == delivery_id))
        where = "no such ledger row" if state is None else f"it is {state}, not sending"
        raise StoreError(f"cannot record the result of delivery {delivery_id}: {where}")


def mark_sent(connection: Connection, delivery_id: int, reply: str, at: datetime) -> None:
    _finish(connection, delivery_id, {"state": "sent", "last_reply": reply, "sent_at": at,
                                      "updated_at": at})


def mark_failed(connection: Connection, delivery_id: int, reply: str, at: datetime, *,
                permanent: bool) -> None:
    """A permanent failure (5xx) is final; a temporary one (4xx, a dropped connection) goes
    back to pending for a later claim, its attempts counted."""
    _finish(connection, delivery_id, {"state": "failed" if permanent else "pending",
                                      "last_reply": reply, "updated_at": at})


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one claimed message: sent, failed for good, pending again, or
    uncertain (handed over and no reply: it stays `sending`, the reply saying why)."""

    id: int
    state: str
    reply: str


OUTCOME_STATES = ("sent", "failed", "pending", "uncertain")


_RECORD_ONE = text("UPDATE ledger SET state = :state, last_reply = :reply, sent_at = :sent_at, "
                   "updated_at = :at, run = NULL WHERE id = :id AND state = 'sending'")
"""For outcomes with a reply of their own (a relay's queue id): run with each's values, the
timestamp converted once."""


def record(connection: Connection, outcomes: Sequence[Outcome], at: datetime) -> int:
    """Record many outcomes; only rows still `sending` change (and lose their run: settled).
    One statement per (state, reply) shared by several outcomes, one for the rest, all with
    the same timestamp. Returns how many rows changed."""
    if not outcomes:
        return 0
    groups: dict[tuple[str, str], list[int]] = {}
    for outcome in outcomes:
        if outcome.state not in OUTCOME_STATES:
            raise ValueError(f"cannot record state {outcome.state!r}")
        groups.setdefault((outcome.state, outcome.reply), []).append(outcome.id)
    changed, alone = 0, []
    for (state, reply), ids in groups.items():
        stored = "sending" if state == "uncertain" else state
        sent_at = at if state == "sent" else None
        if len(ids) == 1:
            alone.append((ids[0], stored, reply, state == "sent"))
            continue
        changed += connection.execute(
            update(_ledger).where(_ledger.c.id.in_(ids), _ledger.c.state == "sending")
            .values(state=stored, last_reply=reply, sent_at=sent_at, updated_at=at, run=None)
            .execution_options(preserve_rowcount=True)).rowcount
    if alone:
        convert = _ledger.c.updated_at.type.bind_processor(connection.dialect)
        stamp = convert(at) if convert is not None else at
        result = connection.execute(_RECORD_ONE, [
            {"id": delivery_id, "state": state, "reply": reply,
             "sent_at": stamp if sent else None, "at": stamp}
            for delivery_id, state, reply, sent in alone])
        changed += result.rowcount
    return changed


NEVER_HANDED = "not sent: its sender stopped before handing it to the server"
UNANSWERED = ("uncertain: handed to the server, and its sender stopped before the reply was "
              "recorded")
UNTRUSTED = ("uncertain: its sender stopped and its journal cannot tell whether it was handed "
             "to the server (the machine restarted, or the journal is damaged)")


def settle(connection: Connection, run: str, handed: set[int],
           answered: dict[int, tuple[str, str]], at: datetime, *,
           trusted: bool = True) -> dict[str, int]:
    """Settle the rows a stopped sender (`run`) left in `sending`, by its journal: answered
    ones as answered; handed over and unanswered ones uncertain (still `sending`), with the
    reason; the rest (never handed over) back to pending, that attempt not counted. With
    `trusted` false, every unanswered one is uncertain. How many went each way."""
    ids = connection.scalars(select(_ledger.c.id).where(
        _ledger.c.run == run, _ledger.c.state == "sending")).all()
    outcomes, unanswered, never = [], [], []
    for delivery_id in ids:
        if delivery_id in answered:
            state, reply = answered[delivery_id]
            outcomes.append(Outcome(delivery_id, state, reply))
        elif delivery_id in handed or not trusted:
            unanswered.append(delivery_id)
        else:
            never.append(delivery_id)
    record(connection, outcomes, at)
    if unanswered:
        connection.execute(update(_ledger).where(_ledger.c.id.in_(unanswered))
                           .values(last_reply=UNANSWERED if trusted else UNTRUSTED,
                                   updated_at=at, run=None))
    if never:
        connection.execute(update(_ledger).where(_ledger.c.id.in_(never))
                           .values(state="pending", last_reply=NEVER_HANDED, updated_at=at,
                                   attempts=_ledger.c.attempts - 1, run=None))
    return {"answered": len(outcomes), "uncertain": len(unanswered), "pending": len(never)}


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


_CLAIMED = "claimed by a sender still running (or one that stopped on another machine)"


def uncertain(connection: Connection, issue: str,
              audience: Audience | None = None) -> list[Claim]:
    """The issue's rows in `sending` (those of a sender still running included; of
    `audience`'s subscribers only, if given), each with the reason recorded for it."""
    rows = connection.execute(
        select(_ledger.c.id, _ledger.c.subscriber_id, _subscribers.c.email,
               _subscribers.c.name, _subscribers.c.language, _ledger.c.attempts,
               _ledger.c.last_reply, _ledger.c.run)
        .join_from(_ledger, _subscribers, _subscribers.c.id == _ledger.c.subscriber_id)
        .where(_ledger.c.issue == issue, _ledger.c.state == "sending", _audience(audience))
        .order_by(_ledger.c.id)).all()
    return [Claim(row.id, issue, row.subscriber_id, row.email, row.name, row.language,
                  row.attempts, _CLAIMED if row.run else row.last_reply)
            for row in rows]


def requeue(connection: Connection, issue: str, ids: Sequence[int] | None,
            at: datetime) -> int:
    """Put `sending` rows (all of the issue's, or just `ids`) back to pending."""
    where = [_ledger.c.issue == issue, _ledger.c.state == "sending"]
    if ids is not None:
        where.append(_ledger.c.id.in_(list(ids)))
    return connection.execute(update(_ledger).where(*where)
                              .values(state="pending", updated_at=at, run=None)).rowcount
