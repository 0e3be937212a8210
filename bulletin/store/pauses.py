"""Pauses: a subscriber who asked for no email until a date. Each list they are an active
member of is left now and taken up again when the date comes (resume_due, which the web
service runs every so often) or when they resume sooner.

    store.pauses.pause(41, until=datetime(2027, 1, 1, tzinfo=UTC), source="page")
    store.pauses.resume_due()

A pause remembers which lists it took, so resuming gives back those and no others, and not one
they have left since. Pausing while paused moves the date. Each list paused or resumed writes
an audit row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .aggregate import Aggregate
from .audit import record
from .models import MailingList, Membership, Pause, Subscriber, now
from .subscribers import SubscriberRef, find


class Pauses(Aggregate):
    """Pausing and resuming one subscriber's email."""

    def pause(self, who: SubscriberRef, until: datetime, *, source: str,
              actor: str | None = None) -> list[str]:
        """Stop sending to them until `until`: each list they are an active member of is
        left now and taken up again then (see resume, resume_due). Pausing while paused
        moves the date. Returns the names of the lists paused."""
        at = now()
        with self.transaction() as session:
            subscriber = find(session, who)
            rows = session.execute(
                select(Membership, MailingList.name)
                .join(MailingList, MailingList.id == Membership.list_id)
                .where(Membership.subscriber_id == subscriber.id)).all()
            paused = {pause.list_id: pause for pause in session.scalars(
                select(Pause).where(Pause.subscriber_id == subscriber.id))}
            names = []
            for membership, name in rows:
                if membership.list_id in paused:
                    paused[membership.list_id].until = until
                elif membership.status == "active":
                    membership.status = "unsubscribed"
                    membership.updated_at = at
                    session.add(Pause(subscriber_id=subscriber.id, list_id=membership.list_id,
                                      until=until, created_at=at))
                else:
                    continue
                record(session, subscriber, "pause", "active", "unsubscribed", source, actor,
                       list_id=membership.list_id, detail=f"until {until:%Y-%m-%d}")
                names.append(name)
            return sorted(names)

    def until(self, who: SubscriberRef) -> datetime | None:
        """When their pause ends, or None if they have not paused."""
        with Session(self.engine) as session:
            subscriber = find(session, who, lock=False)
            return session.scalar(select(func.max(Pause.until))
                                  .where(Pause.subscriber_id == subscriber.id))

    def resume(self, who: SubscriberRef, *, source: str, actor: str | None = None
               ) -> list[str]:
        """End their pause now: the lists they paused are theirs again (unless they left
        one since). Returns the names of the lists taken up again."""
        with self.transaction() as session:
            subscriber = find(session, who)
            return _resume(session, subscriber,
                           list(session.scalars(select(Pause).where(
                               Pause.subscriber_id == subscriber.id))), source, actor)

    def resume_due(self, at: datetime | None = None, *, source: str = "pause-ended") -> int:
        """End every pause whose date has come; returns how many subscribers resumed."""
        at = at or now()
        with self.transaction() as session:
            due = list(session.scalars(select(Pause).where(Pause.until <= at)
                                       .order_by(Pause.subscriber_id)))
            by_subscriber: dict[int, list[Pause]] = {}
            for pause in due:
                by_subscriber.setdefault(pause.subscriber_id, []).append(pause)
            for subscriber_id, pauses in by_subscriber.items():
                subscriber = session.get(Subscriber, subscriber_id)
                assert subscriber is not None  # a foreign key
                _resume(session, subscriber, pauses, source, None)
            return len(by_subscriber)


def _resume(session: Session, subscriber: Subscriber, pauses: list[Pause], source: str,
            actor: str | None) -> list[str]:
    at = now()
    names = []
    for pause in pauses:
        membership = session.get(Membership, (pause.list_id, subscriber.id))
        if membership is not None and membership.status == "unsubscribed":
            membership.status = "active"
            membership.updated_at = at
            record(session, subscriber, "resume", "unsubscribed", "active", source, actor,
                   list_id=pause.list_id)
            names.append(session.scalar(select(MailingList.name)
                                        .where(MailingList.id == pause.list_id)))
        session.delete(pause)
    return sorted(name for name in names if name)
