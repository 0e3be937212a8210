"""Subscriptions, one person at a time: joining a list, confirming, leaving it or everything,
bouncing and complaining, the language they read, and what the store knows of them.

    store.subscriptions.subscribe("ann@example.org", "cohes3ion", source="page")
    store.subscriptions.unsubscribe(41, source="one-click")     # by the id a token names

The rules: a suppressed address is never subscribed; someone who left (unsubscribed from
everything or from the list, bounced, complained) comes back only when they asked to
(`resubscribe`); pending becomes active on confirmation; blank fields are filled, never
overwritten. Those rules are rules.py's one pure function, which subscribe asks and the bulk
import (importer.py, store.imports) asks too. A hard bounce or a complaint also suppresses the
address. Every change writes an audit row naming its source and actor, in the same
transaction. Pauses are pauses.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from . import engine as engines
from . import rules
from .addresses import Address
from .aggregate import Aggregate
from .audit import record
from .errors import StoreError, SuppressedError, UnsubscribedError, first_line
from .language_choice import channel
from .lists import list_id
from .models import (
    LEFT,
    AuditEntry,
    MailingList,
    Membership,
    Status,
    Subscriber,
    Suppression,
    now,
    table,
)
from .subscribers import SubscriberRef, address, find
from .suppressions import suppress


@dataclass(frozen=True, slots=True)
class SubscriberInfo:
    id: int
    email: str
    name: str | None
    language: str | None
    status: str
    consent_source: str | None
    consent_at: datetime | None
    lists: tuple[str, ...]
    """The lists they are an active member of."""
    suppressed: bool
    language_source: str | None = None
    """Where they chose their language (form, preferences, import, api, cli); None: not
    recorded. `language_at`: when."""
    language_at: datetime | None = None


class Subscriptions(Aggregate):
    """One subscriber's subscriptions."""

    def subscribe(self, email: str, list_name: str, *, source: str, actor: str | None = None,
                  name: str | None = None, language: str | None = None,
                  status: Status = "active", resubscribe: bool = False) -> str:
        """Put `email` on `list_name`. `status` is "pending" for a double opt-in that still
        awaits confirmation. Someone who unsubscribed, bounced or complained is subscribed
        again only with `resubscribe` (they asked to be); a suppressed address never is.

        Returns what happened: added, joined, activated, resubscribed or unchanged."""
        checked = address(email)
        request = rules.Request(status, resubscribe, name, language)
        for attempt in (1, 2):
            try:
                return self._subscribe(checked, list_name, request, source, actor)
            except IntegrityError:
                # Someone else added the same address at the same moment: try once more,
                # now as an existing subscriber.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _subscribe(self, address: Address, list_name: str, request: rules.Request,
                   source: str, actor: str | None) -> str:
        """Read the address's state, ask the rules, write what they decide."""
        at = now()
        with self.transaction() as session:
            on_list = list_id(session, list_name)
            suppression = session.get(Suppression, address.key)
            subscriber = session.scalar(select(Subscriber)
                                        .where(Subscriber.email_key == address.key)
                                        .with_for_update())
            membership = None if subscriber is None else \
                session.get(Membership, (on_list, subscriber.id))
            decision = rules.subscribe(rules.State(
                None if subscriber is None else
                rules.Person(subscriber.status, subscriber.name, subscriber.language),
                None if membership is None else membership.status,
                suppression is not None), request)
            if decision.outcome == "suppressed":
                assert suppression is not None
                raise SuppressedError(
                    f"{address.email} is on the suppression list ({suppression.reason}, since "
                    f"{suppression.created_at:%Y-%m-%d}); it is never subscribed again")
            if decision.outcome == "left":
                how = decision.left_how or f"unsubscribed from {list_name}"
                raise UnsubscribedError(
                    f"{address.email} has left ({how}); subscribe them again only if they "
                    f"have asked to be (--resubscribe)")
            person = decision.after.subscriber
            assert person is not None  # subscribed
            if subscriber is None:
                subscriber = Subscriber(email=address.email, email_key=address.key,
                                        created_at=at)
                session.add(subscriber)
            chose = person.language is not None and person.language != subscriber.language
            subscriber.status, subscriber.name, subscriber.language = (
                person.status, person.name, person.language)
            if chose:  # the Welsh Language Standards: each person's choice recorded
                subscriber.language_source = channel(source, subscribing=True)
                subscriber.language_at = at
            if decision.consent:
                subscriber.consent_source, subscriber.consent_at = source, at
            subscriber.updated_at = at
            session.flush()  # the new subscriber's id
            if membership is None:
                session.add(Membership(list_id=on_list, subscriber_id=subscriber.id,
                                       status="active", created_at=at, updated_at=at))
            elif membership.status != "active":
                membership.status, membership.updated_at = "active", at
            chosen = f"language {person.language} ({subscriber.language_source})" \
                if chose else None  # in the audit trail, with the first row (rules.py)
            for row in decision.audit:
                record(session, subscriber, row.action, row.old_status, row.new_status, source,
                       actor, list_id=on_list if row.on_list else None, detail=chosen)
                chosen = None
            return decision.outcome

    def unsubscribe(self, who: SubscriberRef, list_name: str | None = None, *, source: str,
                    actor: str | None = None, reason: str | None = None) -> bool:
        """Unsubscribe from one list, or (no list) from everything. The record stays, so an
        import never adds them back. Returns False when there was nothing to change."""
        at = now()
        with self.transaction() as session:
            subscriber = find(session, who)
            if list_name is None:
                if subscriber.status in LEFT:
                    return False
                record(session, subscriber, "unsubscribe", subscriber.status, "unsubscribed",
                       source, actor, detail=reason)
                subscriber.status = "unsubscribed"
                subscriber.updated_at = at
                return True
            on_list = list_id(session, list_name)
            membership = session.get(Membership, (on_list, subscriber.id))
            if membership is None or membership.status == "unsubscribed":
                return False
            membership.status = "unsubscribed"
            membership.updated_at = at
            record(session, subscriber, "leave", "active", "unsubscribed", source, actor,
                   list_id=on_list, detail=reason)
            return True

    def unsubscribe_many(self, ids: Sequence[int], *, source: str,
                         actor: str | None = None, wait: float | None = None) -> int:
        """Unsubscribe each of these subscribers from everything, in one transaction (the
        web service gathers one-click unsubscribes arriving together). Ids that are unknown
        or already gone are passed over. Returns how many changed. `wait`: seconds to wait
        for the write lock (default: the store's busy timeout); a database that is busy for
        longer, or fails, is a StoreError."""
        at = now()
        subscribers = table(Subscriber)
        try:
            with self.writer.connect() as connection, engines.lock_wait(connection, wait), \
                    connection.begin():
                if wait is not None and connection.dialect.name == "postgresql":
                    connection.exec_driver_sql(f"SET LOCAL lock_timeout = {int(wait * 1000)}")
                found = connection.execute(
                    select(subscribers.c.id, subscribers.c.email_key, subscribers.c.status)
                    .where(subscribers.c.id.in_(set(ids)), subscribers.c.status.not_in(LEFT))
                    .order_by(subscribers.c.id).with_for_update()).all()
                if not found:
                    return 0
                connection.execute(table(AuditEntry).insert(), [
                    {"at": at, "subscriber_id": row.id, "email_key": row.email_key,
                     "list_id": None, "action": "unsubscribe", "old_status": row.status,
                     "new_status": "unsubscribed", "source": source, "actor": actor,
                     "detail": None} for row in found])
                connection.execute(subscribers.update()
                                   .where(subscribers.c.id.in_([row.id for row in found]))
                                   .values(status="unsubscribed", updated_at=at))
                return len(found)
        except OperationalError as exc:  # busy past the wait, or the database failed
            raise StoreError(f"could not unsubscribe {len(ids)} subscriber(s): "
                             f"{first_line(exc)}") from None

    def confirm(self, who: SubscriberRef, *, source: str, actor: str | None = None) -> bool:
        """Double opt-in confirmed: pending becomes active. False if not pending."""
        with self.transaction() as session:
            subscriber = find(session, who)
            if subscriber.status != "pending":
                return False
            record(session, subscriber, "confirm", "pending", "active", source, actor)
            subscriber.status = "active"
            subscriber.consent_source = source
            subscriber.consent_at = subscriber.updated_at = now()
            return True

    def record_bounce(self, who: SubscriberRef, *, reply: str, source: str = "bounce") -> None:
        """A hard bounce: status bounced, and the address suppressed."""
        self._left(who, "bounced", f"hard bounce: {reply}", source)

    def record_complaint(self, who: SubscriberRef, *, source: str = "complaint") -> None:
        """A spam complaint: status complained, and the address suppressed."""
        self._left(who, "complained", "spam complaint", source)

    def _left(self, who: SubscriberRef, status: str, reason: str, source: str) -> None:
        at = now()
        with self.transaction() as session:
            subscriber = find(session, who)
            # As store.inbound: a complaint outranks a bounce (someone who complained stays
            # "complained").
            if subscriber.status != status and subscriber.status != "complained":
                record(session, subscriber, status, subscriber.status, status, source, None,
                       detail=reason)
                subscriber.status = status
                subscriber.updated_at = at
            suppress(session, subscriber.email, subscriber.email_key, reason, source, None, at)

    def set_language(self, who: SubscriberRef, language: str | None, *, source: str,
                     actor: str | None = None) -> bool:
        """The language they get the newsletter in. False if it was that already."""
        with self.transaction() as session:
            subscriber = find(session, who)
            if subscriber.language == language:
                return False
            at, chosen = now(), channel(source, subscribing=False)
            record(session, subscriber, "language", None, None, source, actor,
                   detail=f"{subscriber.language or '-'} -> {language or '-'} ({chosen})")
            subscriber.language = language
            subscriber.language_source, subscriber.language_at = chosen, at
            subscriber.updated_at = at
            return True

    def subscriber(self, who: SubscriberRef) -> SubscriberInfo:
        with Session(self.engine) as session:
            subscriber = find(session, who, lock=False)
            lists = session.scalars(
                select(MailingList.name).join(Membership, Membership.list_id == MailingList.id)
                .where(Membership.subscriber_id == subscriber.id,
                       Membership.status == "active").order_by(MailingList.name)).all()
            suppressed = session.get(Suppression, subscriber.email_key) is not None
            return SubscriberInfo(subscriber.id, subscriber.email, subscriber.name,
                                  subscriber.language, subscriber.status,
                                  subscriber.consent_source, subscriber.consent_at,
                                  tuple(lists), suppressed, subscriber.language_source,
                                  subscriber.language_at)

    def memberships(self, who: SubscriberRef) -> dict[str, str]:
        """Every list the subscriber was ever put on: list name -> active | unsubscribed."""
        with Session(self.engine) as session:
            subscriber = find(session, who, lock=False)
            rows = session.execute(
                select(MailingList.name, Membership.status)
                .join(Membership, Membership.list_id == MailingList.id)
                .where(Membership.subscriber_id == subscriber.id).order_by(MailingList.name))
            return {name: status for name, status in rows}
