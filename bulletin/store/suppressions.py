"""The suppression list: addresses never sent to again, subscribed or not (a hard bounce, a
spam complaint, or an operator's decision).

    store.suppressions.add("ann@example.org", reason="asked by phone", source="cli")
    store.suppressions.contains("Ann@Example.org")       # True: addresses match in any case
    store.suppressions.all()                             # the list, newest first

Suppression always wins: subscribe and the importer refuse a suppressed address, and
`suppressed()` leaves it out of every count of active members and of every send, whatever its
subscriber's status. Only an operator lifts one (`remove`); it does not make the person a
subscriber again. Adding or lifting one writes an audit row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import Session

from ..textchars import single_line
from .aggregate import Aggregate
from .models import AuditEntry, Subscriber, Suppression, now
from .subscribers import address


@dataclass(frozen=True, slots=True)
class Suppressed:
    """One address on the suppression list: why, from where (bounce, complaint, cli, ...),
    and since when."""

    email: str
    reason: str
    source: str
    at: datetime


def suppressed() -> ColumnElement[bool]:
    """True for a subscriber (in a query over Subscriber) whose address is suppressed."""
    return exists().where(Suppression.email_key == Subscriber.email_key)


def suppress(session: Session, email: str, key: str, reason: str, source: str,
             actor: str | None, at: datetime) -> bool:
    """Suppress the address in this transaction, with its audit row; False if it already
    was."""
    if session.get(Suppression, key) is not None:
        return False
    reason, actor = single_line(reason), actor and single_line(actor)  # (a bounce's words too)
    session.add(Suppression(email_key=key, email=email, reason=reason[:200], source=source,
                            created_at=at))
    subscriber_id = session.scalar(select(Subscriber.id).where(Subscriber.email_key == key))
    session.add(AuditEntry(at=at, subscriber_id=subscriber_id, email_key=key,
                           action="suppress", source=source, actor=actor, detail=reason))
    return True


class Suppressions(Aggregate):
    """Adding to the suppression list, lifting from it, and asking it."""

    def add(self, email: str, *, reason: str, source: str, actor: str | None = None) -> bool:
        """Never send to `email` again, subscribed or not. False if it already was."""
        checked = address(email)
        with self.transaction() as session:
            return suppress(session, checked.email, checked.key, reason, source, actor, now())

    def remove(self, email: str, *, source: str, actor: str | None = None,
               reason: str | None = None) -> bool:
        """Lift the suppression of `email`, with its audit row. False if it was not
        suppressed. The subscriber's status stays as it is (bounced, complained, ...)."""
        checked = address(email)
        at = now()
        with self.transaction() as session:
            row = session.get(Suppression, checked.key)
            if row is None:
                return False
            session.delete(row)
            subscriber_id = session.scalar(select(Subscriber.id)
                                           .where(Subscriber.email_key == checked.key))
            session.add(AuditEntry(at=at, subscriber_id=subscriber_id, email_key=checked.key,
                                   action="unsuppress", source=source,
                                   actor=actor and single_line(actor),
                                   detail=f"was: {row.reason}" + (
                                       f"; {single_line(reason)}" if reason else "")))
            return True

    def contains(self, email: str) -> bool:
        with Session(self.engine) as session:
            return session.get(Suppression, address(email).key) is not None

    def get(self, email: str) -> Suppressed | None:
        """The suppression of `email` (any case), or None if it is not suppressed."""
        with Session(self.engine) as session:
            row = session.get(Suppression, address(email).key)
            return None if row is None else Suppressed(row.email, row.reason, row.source,
                                                       row.created_at)

    def all(self) -> list[Suppressed]:
        """Every suppressed address, newest first (ties in address order)."""
        with Session(self.engine) as session:
            rows = session.execute(
                select(Suppression.email, Suppression.reason, Suppression.source,
                       Suppression.created_at)
                .order_by(Suppression.created_at.desc(), Suppression.email_key)).all()
            return [Suppressed(*row) for row in rows]
