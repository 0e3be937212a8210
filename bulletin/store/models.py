"""The store's tables, as SQLAlchemy 2.0 typed models.

The migrations under migrations/versions create exactly these (a test compares them); change
both together, adding a new migration, never editing one that has shipped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, get_args

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

Status = Literal["pending", "active", "unsubscribed", "bounced", "complained"]
"""A subscriber's status: pending (awaiting double opt-in), active, or one of the three ways
of leaving."""
STATUSES: tuple[str, ...] = get_args(Status)
LEFT: tuple[str, ...] = ("unsubscribed", "bounced", "complained")

MembershipStatus = Literal["active", "unsubscribed"]
MEMBERSHIP_STATUSES: tuple[str, ...] = get_args(MembershipStatus)

DeliveryState = Literal["pending", "sending", "sent", "failed", "skipped"]
"""A ledger row: pending → sending → sent | failed; skipped when the subscriber left (or was
suppressed) after the issue was queued. `sending` after a crash means "may have gone"."""
DELIVERY_STATES: tuple[str, ...] = get_args(DeliveryState)

EMAIL_LENGTH = 320

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def now() -> datetime:
    return datetime.now(UTC)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back time-zone aware, on SQLite (which keeps
    no zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be time-zone aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stored: datetime = value  # DateTime's own result processing made it one
        if stored.tzinfo is None:
            return stored.replace(tzinfo=UTC)
        return stored.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def table(model: type[Base]) -> Table:
    """The Core table a model is mapped to, for SQLAlchemy Core statements (insert, update,
    `.c` columns). Declarative types `__table__` as any FromClause; every model here is
    declared with a `__tablename__`, so it is a Table."""
    mapped = model.__table__
    if not isinstance(mapped, Table):
        raise TypeError(f"{model.__name__} is not mapped to a Table")
    return mapped


class Subscriber(Base):
    __tablename__ = "subscribers"
    __table_args__ = (
        CheckConstraint(_one_of("status", STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(EMAIL_LENGTH))
    email_key: Mapped[str] = mapped_column(String(EMAIL_LENGTH), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    consent_source: Mapped[str | None] = mapped_column(String(200))
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    language_source: Mapped[str | None] = mapped_column(String(32))
    """Where the language was chosen: form, preferences, import, api, cli (None: not
    recorded); `language_at` when."""
    language_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MailingList(Base):
    """One or more per newsletter: the newsletter's main list and any topics a subscriber can
    choose."""

    __tablename__ = "lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    newsletter: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (
        CheckConstraint(_one_of("status", MEMBERSHIP_STATUSES), name="status"),
        Index(None, "subscriber_id"),
        {"sqlite_with_rowid": False},
    )

    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id"), primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Suppression(Base):
    """Addresses that are never sent to, whatever their subscriptions say."""

    __tablename__ = "suppressions"
    __table_args__ = ({"sqlite_with_rowid": False},)

    email_key: Mapped[str] = mapped_column(String(EMAIL_LENGTH), primary_key=True)
    email: Mapped[str] = mapped_column(String(EMAIL_LENGTH))
    reason: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """Who or what changed a subscription, and when."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index(None, "email_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id"))
    email_key: Mapped[str] = mapped_column(String(EMAIL_LENGTH))
    list_id: Mapped[int | None] = mapped_column(ForeignKey("lists.id"))
    action: Mapped[str] = mapped_column(String(32))
    old_status: Mapped[str | None] = mapped_column(String(16))
    new_status: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[str | None] = mapped_column(Text)


LEDGER_FILLFACTOR = 30
"""How full PostgreSQL fills the ledger's pages as an issue is queued (percent): the rest is
for the new versions of the rows a send updates twice (claimed, then sent). Measured on
200,000 messages: at 50, 81% of the updates kept to their page; at 35, 95%; at 30, all. A
sent issue's rows take no more room than they did at 100, where every update moved the row
to a new page and added an entry to each index."""


class LedgerEntry(Base):
    """The send ledger: one row per (issue, subscriber), and the list it was queued from."""

    __tablename__ = "ledger"
    __table_args__ = (
        UniqueConstraint("issue", "subscriber_id"),
        CheckConstraint(_one_of("state", DELIVERY_STATES), name="state"),
        # A claim reads the next ids of the issue from it (pending ones: the state is read
        # from the row). No index holds the state, nor anything else a send changes, so that
        # on PostgreSQL a claim's and an outcome's update can stay on the row's page without
        # touching an index (a HOT update), in the room LEDGER_FILLFACTOR leaves.
        Index(None, "issue", "id"),
        {"postgresql_with": {"fillfactor": LEDGER_FILLFACTOR}},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue: Mapped[str] = mapped_column(String(200))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    list_id: Mapped[int | None] = mapped_column(ForeignKey("lists.id"))
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    last_reply: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    run: Mapped[str | None] = mapped_column(String(32))
    """While `sending`: the sender run that claimed it, whose journal says whether it was
    handed over; None once settled (an uncertain row keeps its reason in last_reply)."""


class TestSend(Base):
    """A test email of an issue, sent to someone checking it; not a send to the list."""

    __tablename__ = "test_sends"
    __table_args__ = (Index(None, "issue"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(320))
    message_id: Mapped[str] = mapped_column(String(200))
    reply: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ArchivedIssue(Base):
    """An issue as sent, for the public archive: its HTML and text with every per-recipient
    placeholder filled with a neutral value, so it holds no subscriber's data."""

    __tablename__ = "archive"
    __table_args__ = (
        UniqueConstraint("newsletter", "issue", "language"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    newsletter: Mapped[str] = mapped_column(String(64))
    issue: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MediaObject(Base):
    """A published image (images.py), by its content-addressed name: never changed once put
    (migration 0009)."""

    __tablename__ = "media"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Pause(Base):
    """A subscriber's pause of one list: the membership is left (status unsubscribed) until
    `until`, then taken up again. The row remembers which lists to give back."""

    __tablename__ = "pauses"
    __table_args__ = (
        Index(None, "until"),
        {"sqlite_with_rowid": False},
    )

    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"), primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id"), primary_key=True)
    until: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class InboundMessage(Base):
    """One message that came back (a bounce, a complaint, an auto-reply, an emailed
    unsubscribe request), recorded once: `key` is a hash of its Message-ID, else of its
    bytes. `evidence` is the message (its first EVIDENCE_BYTES) compressed with zlib."""

    __tablename__ = "inbound"
    __table_args__ = (
        Index(None, "subscriber_id", "kind", "received_at"),
        Index(None, "subscriber_id", "issue"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    recipient: Mapped[str | None] = mapped_column(String(EMAIL_LENGTH))
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id"))
    delivery_id: Mapped[int | None] = mapped_column(Integer)
    """The ledger row it is about, when known (no foreign key: ledger rows are the send's)."""
    issue: Mapped[str | None] = mapped_column(String(200))
    """The issue of that ledger row (migration 0008)."""
    original: Mapped[str | None] = mapped_column(String(64))
    """The original message it is about: "delivery:ID", else a hash of the Message-ID it
    quotes; None when unknown. Reports with one `original` count as one soft bounce."""
    attribution: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    diagnostic: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[bytes] = mapped_column(LargeBinary)


class Approval(Base):
    """Someone's sign-off of an issue as it was: `fingerprint` is the SHA-256 of everything
    that decides what recipients get; `parts` (JSON) the hash of each input, so that a later
    mismatch can name what changed."""

    __tablename__ = "approvals"
    __table_args__ = (
        Index(None, "issue"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    parts: Mapped[str] = mapped_column(Text)
    approver: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Schedule(Base):
    """A send of an issue to a list at a time (UTC `at`; `shown` as the operator wrote it).
    `status`: scheduled -> running -> sent | stopped | failed; scheduled -> missed (more than
    `grace` minutes late) | cancelled; running -> cancelled (stopped mid-send)."""

    __tablename__ = "schedules"
    __table_args__ = (
        Index(None, "status", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(Text)
    list_name: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    shown: Mapped[str] = mapped_column(String(100))
    grace: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    report: Mapped[str | None] = mapped_column(Text)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """Renewed by the service sending it; a lease older than LEASE means that service died."""
