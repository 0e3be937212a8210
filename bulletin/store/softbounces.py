"""Counting a subscriber's soft bounces for the policy (bulletin.inbound.policy), inside the
transaction that records the newest one (store/inbound.py), so that the count includes it
and two processes cannot both miss the limit.

Two counts, each of original messages, not of reports (a message retried and reported three
times, or reported by two relays, is one soft bounce; `inbound.original` names the message):

- `recent`: soft bounces since `since` (the N-in-D-days rule);
- `streak`: how many of the last issues of the newsletter sent to the subscriber, newest
  first without a gap, had a soft bounce (the K-consecutive-issues rule). Only soft bounces
  traced to a ledger row know their issue, so only those count here.

A delay notice (kind soft, reason delayed) is not a bounce and counts in neither."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from .models import InboundMessage, LedgerEntry

NOT_DELAY = InboundMessage.reason.is_(None) | (InboundMessage.reason != "delayed")
"""A delay notice (kind soft, reason delayed) is not a bounce: it counts nowhere."""


@dataclass(frozen=True, slots=True)
class SoftRule:
    """What to count: soft bounces since `since`, and the streak over at most `issues` last
    issues (0: not counted) of `newsletter` (None: of every newsletter)."""

    since: datetime
    issues: int = 0
    newsletter: str | None = None


@dataclass(frozen=True, slots=True)
class SoftCount:
    """A subscriber's soft bounces, this one included (see the module's docstring)."""

    recent: int = 0
    streak: int = 0
    """Counted only when it can reach the rule's `issues`; 0 otherwise."""
    issues: tuple[str, ...] = ()
    """The issues of the streak, newest first."""


def count(session: Session, subscriber_id: int, rule: SoftRule) -> SoftCount:
    """The subscriber's soft bounces under `rule`."""
    mine = (InboundMessage.subscriber_id == subscriber_id, InboundMessage.kind == "soft",
            NOT_DELAY)
    recent = (*mine, InboundMessage.received_at >= rule.since)
    traced = session.scalar(select(func.count(func.distinct(InboundMessage.original)))
                            .where(*recent, InboundMessage.original.is_not(None))) or 0
    untraced = session.scalar(select(func.count()).select_from(InboundMessage)
                              .where(*recent, InboundMessage.original.is_(None))) or 0
    streak: tuple[str, ...] = ()
    if rule.issues > 0:
        streak = _streak(session, subscriber_id, rule, mine)
    return SoftCount(traced + untraced, len(streak), streak)


def _streak(session: Session, subscriber_id: int, rule: SoftRule,
            mine: tuple[ColumnElement[bool], ...]) -> tuple[str, ...]:
    where = [*mine, InboundMessage.issue.is_not(None)]
    if rule.newsletter is not None:
        where.append(InboundMessage.issue.startswith(f"{rule.newsletter}/", autoescape=True))
    bounced = {issue for issue in session.scalars(select(InboundMessage.issue).distinct()
                                                  .where(*where)) if issue is not None}
    if len(bounced) < rule.issues:
        # Fewer issues bounced than the rule asks: no need to read the ledger (which has no
        # index by subscriber: this keeps the common case to the inbound table's index).
        return ()
    sent = [LedgerEntry.subscriber_id == subscriber_id, LedgerEntry.state == "sent"]
    if rule.newsletter is not None:
        sent.append(LedgerEntry.issue.startswith(f"{rule.newsletter}/", autoescape=True))
    last = session.scalars(select(LedgerEntry.issue).where(*sent)
                           .order_by(LedgerEntry.sent_at.desc(), LedgerEntry.id.desc())
                           .limit(rule.issues)).all()
    streak: list[str] = []
    for issue in last:
        if issue not in bounced:
            break
        streak.append(issue)
    return tuple(streak)
