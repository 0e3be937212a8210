"""The suppression list: addresses never sent to again, subscribed or not (a hard bounce, a
spam complaint, or an operator's decision).

    store.suppressions.add("ann@example.org", reason="asked by phone", source="cli")
    store.suppressions.contains("Ann@Example.org")       # True: addresses match in any case

Suppression always wins and is never undone here: subscribe and the importer refuse a
suppressed address, and `suppressed()` leaves it out of every count of active members and of
every send, whatever its subscriber's status. Adding one writes an audit row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import Session

from .aggregate import Aggregate
from .models import AuditEntry, Subscriber, Suppression, now
from .subscribers import address


def suppressed() -> ColumnElement[bool]:
    """True for a subscriber (in a query over Subscriber) whose address is suppressed."""
    return exists().where(Suppression.email_key == Subscriber.email_key)


def suppress(session: Session, email: str, key: str, reason: str, source: str,
             actor: str | None, at: datetime) -> bool:
    """Suppress the address in this transaction, with its audit row; False if it already
    was."""
    if session.get(Suppression, key) is not None:
        return False
    session.add(Suppression(email_key=key, email=email, reason=reason[:200], source=source,
                            created_at=at))
    subscriber_id = session.scalar(select(Subscriber.id).where(Subscriber.email_key == key))
    session.add(AuditEntry(at=at, subscriber_id=subscriber_id, email_key=key,
                           action="suppress", source=source, actor=actor, detail=reason))
    return True


class Suppressions(Aggregate):
    """Adding to the suppression list, and asking it."""

    def add(self, email: str, *, reason: str, source: str, actor: str | None = None) -> bool:
        """Never send to `email` again, subscribed or not. False if it already was."""
        checked = address(email)
        with self.transaction() as session:
            return suppress(session, checked.email, checked.key, reason, source, actor, now())

    def contains(self, email: str) -> bool:
        with Session(self.engine) as session:
            return session.get(Suppression, address(email).key) is not None
