"""The audit trail: one row for every change of a subscription (who, what, from which state to
which, the source — import, cli, one-click, page, bounce — and the actor), and rows about an
issue rather than a person (a send forced past `bulletin check`, say).

    store.audit_trail.of("ann@example.org")   # her trail, oldest first
    store.audit_trail.of_issue("cohes3ion/cohes3ion-04")

Rows are only ever added. `record` adds a person's row inside the transaction that makes the
change, so the change and its row are kept together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from . import lists
from .aggregate import Aggregate
from .errors import NotSubscribedError
from .models import AuditEntry, MailingList, Subscriber, now
from .subscribers import SubscriberRef, address


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at: datetime
    action: str
    list_name: str | None
    old_status: str | None
    new_status: str | None
    source: str
    actor: str | None
    detail: str | None


def record(session: Session, subscriber: Subscriber, action: str, old: str | None,
           new: str | None, source: str, actor: str | None, *, list_id: int | None = None,
           detail: str | None = None) -> None:
    """Add the audit row of a change to `subscriber`, in the transaction that makes it."""
    session.add(AuditEntry(at=now(), subscriber_id=subscriber.id,
                           email_key=subscriber.email_key, list_id=list_id, action=action,
                           old_status=old, new_status=new, source=source, actor=actor,
                           detail=detail))


class AuditTrail(Aggregate):
    """Reading the trail, and writing the rows about issues."""

    def of(self, who: SubscriberRef) -> list[AuditRecord]:
        """The trail of changes to one person's subscriptions, oldest first."""
        with Session(self.engine) as session:
            if isinstance(who, int):
                key = session.scalar(select(Subscriber.email_key).where(Subscriber.id == who))
                if key is None:
                    raise NotSubscribedError(f"no subscriber {who} in the store")
            else:
                key = address(who).key
            return self._rows(session, AuditEntry.email_key == key)

    def add_issue_row(self, issue: str, action: str, *, list_name: str | None, source: str,
                      actor: str | None, detail: str) -> None:
        """An audit row about an issue rather than a person: a send forced past the errors
        of `bulletin check`, say. The row's subject (email_key) is the issue's ledger name
        (newsletter/stem), which has no @ and so is never a subscriber's."""
        with self.transaction() as session:
            on_list = None if list_name is None else lists.list_id(session, list_name)
            session.add(AuditEntry(at=now(), email_key=issue, list_id=on_list, action=action,
                                   source=source, actor=actor, detail=detail))

    def of_issue(self, issue: str) -> list[AuditRecord]:
        """The audit rows about `issue` (`add_issue_row`), oldest first."""
        with Session(self.engine) as session:
            return self._rows(session, AuditEntry.email_key == issue,
                              AuditEntry.subscriber_id.is_(None))

    @staticmethod
    def _rows(session: Session, *where: ColumnElement[bool]) -> list[AuditRecord]:
        rows = session.execute(
            select(AuditEntry.at, AuditEntry.action, MailingList.name,
                   AuditEntry.old_status, AuditEntry.new_status, AuditEntry.source,
                   AuditEntry.actor, AuditEntry.detail)
            .outerjoin(MailingList, MailingList.id == AuditEntry.list_id)
            .where(*where).order_by(AuditEntry.id)).all()
        return [AuditRecord(*row) for row in rows]
