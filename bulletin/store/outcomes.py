"""What becomes of claimed ledger rows: a sender's outcomes, the settling of a stopped sender's
rows by its journal, and the uncertain (listed, and sent again when the operator asks).

Who may change a row in `sending`: the run that claimed it (its `run`), and nobody else while
that run is alive. So `record`, `release` and `settle` act only on rows of the run they are
given, and never on a row another sender has since claimed; the operator's `requeue` (for
`--resend-uncertain`) never touches a row of a live run.

Which runs are alive is known only on the machine they run on: each running sender holds the
lock of its journal (store/journal.py, `live_runs`). The rule: a row in `sending` whose run
holds its journal lock here is *being sent* (shown apart, never requeued); every other row
in `sending` is *uncertain* -- one settled after its sender stopped (`run` cleared), one
claimed with no run, and one whose run has no live journal here: a sender that died without
a journal, or one on another machine (which may be still running: this machine cannot
tell, so the operator must know that no sender elsewhere is at work before sending the
uncertain again).

A message never handed over (released unstarted at a stop, or the relay unreachable: the
outcome "unsent") goes back to pending with the attempt its claim counted taken back, so
that only real tries count towards giving up.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import ColumnElement, Connection, Dialect, func, or_, select, text, true, update

from .errors import StoreError
from .ledger import Audience, Claim, Prepared, ids_in, ids_sql, ids_value, stamp
from .models import LedgerEntry, Subscriber, table

_ledger = table(LedgerEntry)
_subscribers = table(Subscriber)


def _of_run(run: str | None) -> ColumnElement[bool]:
    """Rows of `run` (any run when None: the operator's or a test's own calls)."""
    return true() if run is None else _ledger.c.run == run


def _finish(connection: Connection, delivery_id: int, values: dict[str, object],
            run: str | None) -> None:
    result = connection.execute(update(_ledger).where(_ledger.c.id == delivery_id,
                                                      _ledger.c.state == "sending",
                                                      _of_run(run))
                                .values(**values))
    if result.rowcount != 1:
        row = connection.execute(select(_ledger.c.state, _ledger.c.run)
                                 .where(_ledger.c.id == delivery_id)).first()
        where = "no such ledger row" if row is None else \
            f"it is {row.state}, not sending" if row.state != "sending" else \
            "another sender has claimed it"
        raise StoreError(f"cannot record the result of delivery {delivery_id}: {where}")


def mark_sent(connection: Connection, delivery_id: int, reply: str, at: datetime,
              run: str | None = None) -> None:
    _finish(connection, delivery_id, {"state": "sent", "last_reply": reply, "sent_at": at,
                                      "updated_at": at, "run": None}, run)


def mark_failed(connection: Connection, delivery_id: int, reply: str, at: datetime, *,
                permanent: bool, run: str | None = None) -> None:
    """A permanent failure (5xx) is final; a temporary one (4xx, a dropped connection) goes
    back to pending for a later claim, its attempts counted."""
    _finish(connection, delivery_id, {"state": "failed" if permanent else "pending",
                                      "last_reply": reply, "updated_at": at, "run": None},
            run)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one claimed message: sent, failed for good, pending again (tried:
    a temporary failure), unsent (pending again, never handed over: the attempt not
    counted), or uncertain (handed over and no reply: it stays `sending`, the reply saying
    why)."""

    id: int
    state: str
    reply: str


OUTCOME_STATES = ("sent", "failed", "pending", "unsent", "uncertain")
_STORED = {"uncertain": "sending", "unsent": "pending"}


_SETTLE = ("UPDATE ledger SET state = :state, last_reply = :reply, sent_at = :sent_at, "
           "updated_at = :at, attempts = attempts - :undo, run = NULL WHERE ledger.")


_SETTLE_EACH = (
    "UPDATE ledger SET state = o.state, last_reply = o.reply, sent_at = CASE WHEN o.state = "
    "'sent' THEN CAST(:at AS TIMESTAMP WITH TIME ZONE) END, updated_at = :at, "
    "attempts = ledger.attempts - o.undo, run = NULL "
    "FROM json_to_recordset(CAST(:outcomes AS JSON)) AS o(id INTEGER, state TEXT, reply TEXT, "
    "undo INTEGER) WHERE ledger.id = o.id")


@lru_cache(maxsize=32)
def _settling(dialect: Dialect, alone: bool, of_run: bool) -> Prepared:
    """`record`'s statement, compiled once: for rows `ids` (`id` if `alone`) still sending
    (and of run `run`, if `of_run`). On PostgreSQL, the `alone` one is for all of them at
    once, each with its own state, reply and attempt taken back (`outcomes`, a JSON list)."""
    mine = " AND ledger.state = 'sending'" + (" AND ledger.run = :run" if of_run else "")
    if alone and dialect.name == "postgresql":
        return Prepared(text(_SETTLE_EACH + mine), dialect)
    rows = "id = :id" if alone else ids_sql(dialect)
    return Prepared(text(_SETTLE + rows + mine), dialect)


def record(connection: Connection, outcomes: Sequence[Outcome], at: datetime,
           run: str | None = None) -> int:
    """Record many outcomes; only rows still `sending` (and claimed by `run`, if given)
    change, and lose their run: settled. One statement per (state, reply) shared by several
    outcomes (their ids one bound value); for the rest (a relay's queue id makes each reply
    its own), on PostgreSQL one statement with their values as one JSON list, on SQLite one
    run each; all with the same timestamp, converted once. A NUL in a reply, which
    PostgreSQL cannot store in text, is recorded as U+FFFD (on both databases). Returns how
    many rows changed."""
    if not outcomes:
        return 0
    groups: dict[tuple[str, str], list[int]] = {}
    for outcome in outcomes:
        if outcome.state not in OUTCOME_STATES:
            raise ValueError(f"cannot record state {outcome.state!r}")
        reply = outcome.reply
        if "\x00" in reply:  # (a relay's reply is decoded, not filtered)
            reply = reply.replace("\x00", "\ufffd")
        groups.setdefault((outcome.state, reply), []).append(outcome.id)
    dialect = connection.dialect
    when = stamp(dialect, at)
    extra = {"run": run} if run else {}
    changed, alone = 0, []
    for (state, reply), ids in groups.items():
        values = {"state": _STORED.get(state, state), "reply": reply, "at": when,
                  "undo": int(state == "unsent"), "sent_at": when if state == "sent" else None,
                  **extra}
        if len(ids) == 1:
            alone.append(values | {"id": ids[0]})
            continue
        changed += _settling(dialect, False, bool(run)).run(
            connection, **values, ids=ids_value(dialect, ids)).rowcount
    each = _settling(dialect, True, bool(run)) if alone else None
    if each is not None and dialect.name == "postgresql":
        listed = json.dumps([{key: values[key] for key in ("id", "state", "reply", "undo")}
                             for values in alone])
        changed += each.run(connection, outcomes=listed, at=when, **extra).rowcount
    elif each is not None:
        changed += each.run_many(connection, alone).rowcount
    return changed


def release(connection: Connection, ids: Sequence[int], run: str, at: datetime) -> int:
    """A sender's own claims it never handed over (`run`'s, still `sending`) back to
    pending, the attempt their claim counted taken back. How many."""
    if not ids:
        return 0
    return connection.execute(
        update(_ledger).where(ids_in(connection, ids), _ledger.c.state == "sending",
                              _ledger.c.run == run)
        .values(state="pending", attempts=_ledger.c.attempts - 1, updated_at=at, run=None)
        .execution_options(preserve_rowcount=True)).rowcount


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
    `trusted` false, every unanswered one is uncertain. How many went each way, and of the
    answered ones, how many failed for now (`later`: back to pending, for a later pass)."""
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
    record(connection, outcomes, at, run)
    if unanswered:
        connection.execute(update(_ledger).where(_ledger.c.id.in_(unanswered),
                                                 _ledger.c.run == run)
                           .values(last_reply=UNANSWERED if trusted else UNTRUSTED,
                                   updated_at=at, run=None))
    if never:
        connection.execute(update(_ledger).where(_ledger.c.id.in_(never), _ledger.c.run == run)
                           .values(state="pending", last_reply=NEVER_HANDED, updated_at=at,
                                   attempts=_ledger.c.attempts - 1, run=None))
    return {"answered": len(outcomes), "uncertain": len(unanswered), "pending": len(never),
            "later": sum(outcome.state == "pending" for outcome in outcomes)}


STOPPED = ("claimed by a sender not running on this machine: it stopped without a journal "
           "here, or it runs on another machine")


def _sending(issue: str, audience: Audience | None) -> list[ColumnElement[bool]]:
    return [_ledger.c.issue == issue, _ledger.c.state == "sending",
            true() if audience is None else audience.condition()]


def _stopped(live: Collection[str]) -> ColumnElement[bool]:
    """Rows of no live run: settled, claimed with no run, or of a run not alive here."""
    return or_(_ledger.c.run.is_(None), _ledger.c.run.not_in(list(live))) if live else true()


def uncertain(connection: Connection, issue: str, audience: Audience | None = None,
              live: Collection[str] = ()) -> list[Claim]:
    """The issue's rows in `sending` but those of the `live` runs (of `audience`'s
    subscribers only, if given), each with the reason recorded for it."""
    rows = connection.execute(
        select(_ledger.c.id, _ledger.c.subscriber_id, _subscribers.c.email,
               _subscribers.c.name, _subscribers.c.language, _ledger.c.attempts,
               _ledger.c.last_reply, _ledger.c.run)
        .join_from(_ledger, _subscribers, _subscribers.c.id == _ledger.c.subscriber_id)
        .where(*_sending(issue, audience), _stopped(live))
        .order_by(_ledger.c.id)).all()
    return [Claim(row.id, issue, row.subscriber_id, row.email, row.name, row.language,
                  row.attempts, STOPPED if row.run else row.last_reply)
            for row in rows]


def being_sent(connection: Connection, issue: str, audience: Audience | None = None,
               live: Collection[str] = ()) -> int:
    """How many of the issue's rows (of `audience`'s) the `live` runs have claimed."""
    if not live:
        return 0
    source = _ledger if audience is None else _ledger.join(
        _subscribers, _subscribers.c.id == _ledger.c.subscriber_id)
    return connection.scalar(select(func.count()).select_from(source).where(
        *_sending(issue, audience), _ledger.c.run.in_(list(live)))) or 0


def requeue(connection: Connection, issue: str, ids: Sequence[int] | None,
            at: datetime, live: Collection[str] = ()) -> int:
    """The operator's: put the issue's uncertain rows (all, or just `ids`) back to pending;
    never a row of a `live` run. Their attempts stay counted: they may have gone."""
    where = [*_sending(issue, None), _stopped(live)]
    if ids is not None:
        where.append(_ledger.c.id.in_(list(ids)))
    return connection.execute(update(_ledger).where(*where)
                              .values(state="pending", updated_at=at, run=None)
                              .execution_options(preserve_rowcount=True)).rowcount
