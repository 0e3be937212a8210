"""What comes back after sending: each bounce, complaint, auto-reply or emailed unsubscribe
request recorded once, with its evidence, and its effect on the subscriber in the same
transaction.

    store.inbound.delivery(41)                      # the ledger row a token names
    store.inbound.record(arrival, soft=SoftRule(...), decide=policy)
    store.inbound.record_many([(arrival, soft, decide), ...])   # one transaction
    store.inbound.of_issue("cohes3ion/cohes3ion-04")  # what came back about one issue

`record` is the one write: it refuses a message already recorded (its key: a hash of its
Message-ID, else of its bytes), inserts the row, counts the subscriber's soft bounces
(store/softbounces.py: of different original messages, within days and across the last
issues), asks `decide` (the policy, bulletin.inbound.policy) what to do, and does it: a bounce or a
complaint changes the subscriber's status and suppresses the address, an unsubscribe request
unsubscribes from everything, as the one-click link does. Every change writes its audit row,
whose detail names the status, the reason and the inbound row (`inbound #ID`). Done together
or not at all, so a message that is fed again after a crash is processed as if for the first
time, and one fed again after success changes nothing. `record_many` does the same for many
messages in one transaction (one commit, not one a message: what makes a mailbox of ten
thousand bounces quick on SQLite), all or none of them.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .addresses import InvalidAddress, normalise
from .aggregate import Aggregate
from .audit import record
from .models import LEFT, AuditEntry, InboundMessage, LedgerEntry, Subscriber, now
from .softbounces import NOT_DELAY, SoftCount, SoftRule, count
from .suppressions import suppress

EVIDENCE_BYTES = 256 * 1024
"""The most of a message kept as evidence (its headers and the report come first)."""

Action = Literal["none", "count", "bounce", "complaint", "unsubscribe"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One ledger row: one message of an issue to one subscriber."""

    id: int
    issue: str
    subscriber_id: int
    email: str


@dataclass(frozen=True, slots=True)
class Arrival:
    """One inbound message, classified and attributed, to record."""

    key: str
    source: str
    kind: str
    raw: bytes
    status: str | None = None
    reason: str | None = None
    recipient: str | None = None
    subscriber_id: int | None = None
    delivery_id: int | None = None
    attribution: str = "none"
    diagnostic: str | None = None
    issue: str | None = None
    """The issue of the ledger row `delivery_id`."""
    original: str | None = None
    """The original message it is about (InboundMessage.original)."""


@dataclass(frozen=True, slots=True)
class Effect:
    """What the policy decided: `action`, and `detail`, why (for the audit trail)."""

    action: Action
    detail: str


@dataclass(frozen=True, slots=True)
class Recorded:
    id: int
    duplicate: bool
    action: str
    """What was done: bounced, complained, unsubscribed, counted, nothing, or already (the
    subscriber had left that way before)."""
    subscriber_id: int | None


@dataclass(frozen=True, slots=True)
class InboundRecord:
    """A recorded message, for showing."""

    id: int
    received_at: datetime
    source: str
    kind: str
    status: str | None
    reason: str | None
    recipient: str | None
    delivery_id: int | None
    attribution: str
    action: str
    diagnostic: str | None
    issue: str | None = None
    """The issue of its ledger row, when known."""


@dataclass(frozen=True, slots=True)
class IssueReturns:
    """What came back about one issue's messages: each count is of messages (a message
    reported twice counts once), except `unsubscribed`, which counts people."""

    sent: int
    first_sent: datetime | None
    hard: int
    soft: int
    bounced: int
    """Messages that bounced, hard or soft (a message with both counts once)."""
    complaints: int
    unsubscribed: int
    """People it was sent to who unsubscribed from everything, or left the list it was sent
    from, since its first message went (audit trail), whatever the way."""


Decide = Callable[[SoftCount], Effect]
"""The policy, given the subscriber's soft bounces (this one included)."""

_STATUS = {"bounce": "bounced", "complaint": "complained", "unsubscribe": "unsubscribed"}
_SOURCE = {"bounce": "bounce", "complaint": "complaint", "unsubscribe": "mailto"}


class Reads:
    """The lookups attribution needs, and `seen`, on one read session: a batch's messages
    are looked up together (store.inbound.reads()), not each on a session of its own."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def delivery(self, delivery_id: int) -> Delivery | None:
        """The ledger row `delivery_id`, with its subscriber's address; None if none."""
        row = self.session.execute(
            select(LedgerEntry.id, LedgerEntry.issue, LedgerEntry.subscriber_id,
                   Subscriber.email)
            .join(Subscriber, Subscriber.id == LedgerEntry.subscriber_id)
            .where(LedgerEntry.id == delivery_id)).first()
        return None if row is None else Delivery(*row)

    def subscriber_id(self, email: str) -> int | None:
        """The id of the subscriber with this address (any case); None if none or if it is
        not an address."""
        try:
            key = normalise(email).key
        except InvalidAddress:
            return None
        found: int | None = self.session.scalar(
            select(Subscriber.id).where(Subscriber.email_key == key))
        return found

    def seen(self, key: str) -> Recorded | None:
        """The message recorded under `key`, if it was."""
        return _seen(self.session, [key]).get(key)

    def sent(self, issue: str, email: str) -> Delivery | None:
        """The ledger row of `issue` sent to `email` (any case); None if it was not."""
        try:
            key = normalise(email).key
        except InvalidAddress:
            return None
        row = self.session.execute(
            select(LedgerEntry.id, LedgerEntry.issue, LedgerEntry.subscriber_id,
                   Subscriber.email)
            .join(Subscriber, Subscriber.id == LedgerEntry.subscriber_id)
            .where(LedgerEntry.issue == issue, Subscriber.email_key == key,
                   LedgerEntry.state == "sent")).first()
        return None if row is None else Delivery(*row)

    def seen_many(self, keys: list[str]) -> dict[str, Recorded]:
        """Of `keys`, those recorded, with what was recorded (one query)."""
        return _seen(self.session, keys)


class Inbound(Aggregate):
    """Recording what came back, and the lookups attribution needs."""

    @contextmanager
    def reads(self) -> Iterator[Reads]:
        """A read session for many lookups; close it before recording (on SQLite, a read
        left open in the process would hold up its own write)."""
        with Session(self.engine) as session:
            yield Reads(session)

    def delivery(self, delivery_id: int) -> Delivery | None:
        """The ledger row `delivery_id`, with its subscriber's address; None if none."""
        with self.reads() as reads:
            return reads.delivery(delivery_id)

    def subscriber_id(self, email: str) -> int | None:
        """The id of the subscriber with this address (any case); None if none or if it is
        not an address."""
        with self.reads() as reads:
            return reads.subscriber_id(email)

    def seen(self, key: str) -> Recorded | None:
        """The message recorded under `key`, if it was."""
        with self.reads() as reads:
            return reads.seen(key)

    def sent(self, issue: str, email: str) -> Delivery | None:
        """The ledger row of `issue` sent to `email` (any case); None if it was not."""
        with self.reads() as reads:
            return reads.sent(issue, email)

    def record(self, arrival: Arrival, *, soft: SoftRule, decide: Decide) -> Recorded:
        """Record `arrival` once and apply what `decide` (given the subscriber's soft
        bounces under `soft`, this one included) says; a duplicate changes nothing."""
        return self.record_many([(arrival, soft, decide)])[0]

    def record_many(self, items: list[tuple[Arrival, SoftRule, Decide]]) -> list[Recorded]:
        """`record` for each item, in order, in one transaction: each sees the ones before
        it (the same message twice is recorded once; soft bounces add up). If another
        process records one of them at the same moment, they are done one by one."""
        try:
            with self.transaction() as session:
                seen = _seen(session, [arrival.key for arrival, _, _ in items])
                return [_record_once(session, seen, *item) for item in items]
        except IntegrityError:  # one recorded by another process at the same moment
            if len(items) > 1:
                return [self.record(arrival, soft=soft, decide=decide)
                        for arrival, soft, decide in items]
        already = self.seen(items[0][0].key)
        assert already is not None
        return [already]

    def evidence(self, inbound_id: int) -> bytes:
        """The stored copy of a recorded message (its first EVIDENCE_BYTES)."""
        with Session(self.engine) as session:
            data = session.scalar(select(InboundMessage.evidence)
                                  .where(InboundMessage.id == inbound_id))
        return b"" if data is None else zlib.decompress(data)

    def of(self, subscriber_id: int) -> list[InboundRecord]:
        """What came back about one subscriber, oldest first."""
        with Session(self.engine) as session:
            rows = session.scalars(select(InboundMessage)
                                   .where(InboundMessage.subscriber_id == subscriber_id)
                                   .order_by(InboundMessage.id)).all()
            return [InboundRecord(r.id, r.received_at, r.source, r.kind, r.status, r.reason,
                                  r.recipient, r.delivery_id, r.attribution, r.action,
                                  r.diagnostic, r.issue) for r in rows]

    def of_issue(self, issue: str) -> IssueReturns:
        """The bounces and complaints traced to `issue`'s ledger rows, and the unsubscribes
        of people it was sent to since it was first sent."""
        with Session(self.engine) as session:
            sent, first = session.execute(
                select(func.count(), func.min(LedgerEntry.sent_at))
                .where(LedgerEntry.issue == issue, LedgerEntry.state == "sent")).one()
            kinds: dict[str, int] = dict(session.execute(
                select(InboundMessage.kind, func.count(func.distinct(InboundMessage.delivery_id)))
                .join(LedgerEntry, LedgerEntry.id == InboundMessage.delivery_id)
                .where(LedgerEntry.issue == issue, NOT_DELAY)
                .group_by(InboundMessage.kind)).all())
            bounced = session.scalar(
                select(func.count(func.distinct(InboundMessage.delivery_id)))
                .join(LedgerEntry, LedgerEntry.id == InboundMessage.delivery_id)
                .where(LedgerEntry.issue == issue,
                       InboundMessage.kind.in_(("hard", "soft")), NOT_DELAY)) or 0
            unsubscribed = 0 if first is None else session.scalar(
                select(func.count(func.distinct(Subscriber.id)))
                .select_from(LedgerEntry)
                .join(Subscriber, Subscriber.id == LedgerEntry.subscriber_id)
                .join(AuditEntry, AuditEntry.email_key == Subscriber.email_key)
                .where(LedgerEntry.issue == issue, LedgerEntry.state == "sent",
                       AuditEntry.at >= first,
                       (AuditEntry.action == "unsubscribe") |
                       ((AuditEntry.action == "leave") &
                        (AuditEntry.list_id == LedgerEntry.list_id)))) or 0
            return IssueReturns(sent, first, kinds.get("hard", 0), kinds.get("soft", 0),
                                bounced, kinds.get("complaint", 0), unsubscribed)


def _seen(session: Session, keys: list[str]) -> dict[str, Recorded]:
    """Of `keys`, those recorded (as duplicates)."""
    unique = list(dict.fromkeys(keys))
    found: dict[str, Recorded] = {}
    for start in range(0, len(unique), 500):  # within any database's limit of parameters
        found.update((row.key, Recorded(row.id, True, row.action, row.subscriber_id))
                     for row in session.execute(
                         select(InboundMessage.key, InboundMessage.id, InboundMessage.action,
                                InboundMessage.subscriber_id)
                         .where(InboundMessage.key.in_(unique[start:start + 500]))))
    return found


def _record_once(session: Session, seen: dict[str, Recorded], arrival: Arrival,
                 soft: SoftRule, decide: Decide) -> Recorded:
    """Record `arrival` unless `seen` (the transaction's recorded keys, kept up to date)
    has it."""
    if arrival.key in seen:
        return seen[arrival.key]
    # Flushed twice, for the row's id and at the end, rather than before each query: the
    # next message of the batch sees all of this one.
    with session.no_autoflush:
        done = _record(session, arrival, soft, decide)
    session.flush()
    seen[arrival.key] = Recorded(done.id, True, done.action, done.subscriber_id)
    return done


def _record(session: Session, arrival: Arrival, soft: SoftRule, decide: Decide) -> Recorded:
    at = now()
    row = InboundMessage(
        key=arrival.key, received_at=at, source=arrival.source[:16], kind=arrival.kind,
        status=(arrival.status or None) and arrival.status[:16],
        reason=(arrival.reason or None) and arrival.reason[:64],
        recipient=(arrival.recipient or None) and arrival.recipient[:320],
        subscriber_id=arrival.subscriber_id, delivery_id=arrival.delivery_id,
        issue=(arrival.issue or None) and arrival.issue[:200],
        original=(arrival.original or None) and arrival.original[:64],
        attribution=arrival.attribution[:16], action="nothing",
        diagnostic=(arrival.diagnostic or None) and arrival.diagnostic[:2000],
        evidence=zlib.compress(arrival.raw[:EVIDENCE_BYTES], 6))
    session.add(row)
    session.flush()  # its id, for the audit rows; a duplicate key fails here
    softs = SoftCount()
    if arrival.subscriber_id is not None and arrival.kind == "soft":
        softs = count(session, arrival.subscriber_id, soft)
    effect = decide(softs)
    row.action = _apply(session, arrival, effect, row.id, at)
    if effect.action == "none" and arrival.attribution == "address":
        # Matched by an address alone and changing nothing (an auto-reply from a
        # subscriber's address): keep no copy of what may be a person's own mail.
        row.evidence = zlib.compress(b"", 6)
    return Recorded(row.id, False, row.action, arrival.subscriber_id)


def _apply(session: Session, arrival: Arrival, effect: Effect, inbound_id: int,
           at: datetime) -> str:
    """Do what the policy decided; what was done, in a word."""
    if effect.action == "count":
        return "counted"
    if effect.action == "none" or arrival.subscriber_id is None:
        return "nothing"
    subscriber = session.scalar(select(Subscriber).where(Subscriber.id == arrival.subscriber_id)
                                .with_for_update())
    if subscriber is None:
        return "nothing"
    detail = f"{effect.detail}; evidence: inbound #{inbound_id}"
    status, source = _STATUS[effect.action], _SOURCE[effect.action]
    if effect.action == "unsubscribe" and arrival.kind == "unsubscribe" and \
            arrival.attribution != "token":
        source = "feedback-loop"  # a feedback loop's opt-out report, not an email of theirs
    actor = arrival.source
    changed = False
    if effect.action == "unsubscribe":
        if subscriber.status not in LEFT:
            record(session, subscriber, "unsubscribe", subscriber.status, status, source, actor,
                   detail=detail)
            subscriber.status, subscriber.updated_at, changed = status, at, True
    else:
        # A complaint outranks a bounce: someone who complained stays "complained".
        if subscriber.status != status and subscriber.status != "complained":
            record(session, subscriber, status, subscriber.status, status, source, actor,
                   detail=detail)
            subscriber.status, subscriber.updated_at, changed = status, at, True
        changed |= suppress(session, subscriber.email, subscriber.email_key, detail,
                            source, actor, at)
    return status if changed else "already"
