"""The mailing lists and who is on them: making a list, naming it, counting its people by
state, and streaming its active members (to a sender, or an export).

    store.mailing_lists.create("cohes3ion-events", newsletter="cohes3ion")
    store.mailing_lists.counts("cohes3ion")     # {"active": 812, "paused": 3, ...}
    for member in store.mailing_lists.active_members("cohes3ion"): ...

An active member is on the list (membership active), active themselves, and not suppressed:
the people the next issue goes to. `list_id` turns a list's name into its id, or an
UnknownListError naming the lists there are.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Connection, case, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..textchars import single_line
from .aggregate import Aggregate
from .errors import StoreError, UnknownListError
from .models import MailingList, Membership, Pause, Subscriber, now
from .suppressions import suppressed

LIST_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
TITLE_MAX = 200
"""A list's title, as its column holds it."""
STREAM_BATCH = 1000
STATES = ("active", "paused", "pending", "unsubscribed", "bounced", "complained", "suppressed")
"""What counts() counts: the five statuses, and suppressed and paused people apart."""


@dataclass(frozen=True, slots=True)
class ListInfo:
    name: str
    newsletter: str | None
    title: str | None
    active: int
    """Members who would be sent the next issue."""


@dataclass(frozen=True, slots=True)
class Member:
    id: int
    email: str
    name: str | None
    language: str | None


def list_id(session: Session | Connection, name: str) -> int:
    """The id of the list called `name`, or UnknownListError (for every way in: the single
    operations, the importer and the send ledger)."""
    found = session.scalar(select(MailingList.id).where(MailingList.name == name))
    if found is None:
        known = ", ".join(session.scalars(select(MailingList.name)
                                          .order_by(MailingList.name))) or "none yet"
        raise UnknownListError(f"no list named {name!r} (lists: {known}); lists come from the "
                               f"newsletters' `list` in bulletin.toml, or `bulletin subscribers "
                               f"lists --create NAME`")
    return found


class MailingLists(Aggregate):
    """The lists, their owners and their members."""

    def create(self, name: str, *, newsletter: str | None = None,
               title: str | None = None) -> bool:
        """Make a list (a newsletter's main list, or a topic); False if it already exists."""
        if not LIST_NAME.fullmatch(name):
            raise StoreError(f"{name!r} is not a list name: use lower-case letters, digits and "
                             f"hyphens, e.g. cohes3ion or cohes3ion-events")
        title = (single_line(title) or None) if title is not None else None
        if title is not None and len(title) > TITLE_MAX:
            raise StoreError(f"a list's title is at most {TITLE_MAX} characters (this one has "
                             f"{len(title)}); subscribers see it among their choices")
        try:
            with self.transaction() as session:
                if session.scalar(select(MailingList.id).where(MailingList.name == name)):
                    return False
                session.add(MailingList(name=name, newsletter=newsletter, title=title,
                                        created_at=now()))
        except IntegrityError:  # made meanwhile by another process (PostgreSQL takes no lock)
            with Session(self.engine) as session:
                if session.scalar(select(MailingList.id).where(MailingList.name == name)):
                    return False
            raise
        return True

    def names(self) -> list[str]:
        with Session(self.engine) as session:
            return list(session.scalars(select(MailingList.name).order_by(MailingList.name)))

    def all(self) -> list[ListInfo]:
        """Every list, with how many active members it has."""
        active = (select(func.count())
                  .select_from(Membership)
                  .join(Subscriber, Subscriber.id == Membership.subscriber_id)
                  .where(Membership.list_id == MailingList.id, Membership.status == "active",
                         Subscriber.status == "active", ~suppressed())
                  .scalar_subquery())
        with Session(self.engine) as session:
            rows = session.execute(select(MailingList.name, MailingList.newsletter,
                                          MailingList.title, active)
                                   .order_by(MailingList.name)).all()
        return [ListInfo(*row) for row in rows]

    def owners(self) -> dict[str, tuple[str | None, str | None]]:
        """Every list: name -> (the newsletter it belongs to, its title), cheaply (all()
        also counts members)."""
        with Session(self.engine) as session:
            rows = session.execute(select(MailingList.name, MailingList.newsletter,
                                          MailingList.title))
            return {name: (newsletter, title) for name, newsletter, title in rows}

    def counts(self, list_name: str | None = None) -> dict[str, int]:
        """How many people are in each state, on one list or in the whole store: the five
        statuses, with suppressed addresses counted apart (as "suppressed") whatever their
        status, active people who paused their emails as "paused", and list members who
        unsubscribed from just that list as "unsubscribed"."""
        active = Subscriber.status == "active"
        with Session(self.engine) as session:
            if list_name is None:
                paused = exists().where(Pause.subscriber_id == Subscriber.id)
                state = case((suppressed(), "suppressed"), (active & paused, "paused"),
                             else_=Subscriber.status)
                query = select(state, func.count()).select_from(Subscriber)
            else:
                on_list = list_id(session, list_name)
                paused = exists().where(Pause.subscriber_id == Subscriber.id,
                                        Pause.list_id == on_list)
                left = Membership.status == "unsubscribed"
                state = case((suppressed(), "suppressed"),
                             (active & left & paused, "paused"),
                             (left, "unsubscribed"),
                             else_=Subscriber.status)
                query = (select(state, func.count()).select_from(Membership)
                         .join(Subscriber, Subscriber.id == Membership.subscriber_id)
                         .where(Membership.list_id == on_list))
            found: dict[str, int] = dict(session.execute(query.group_by(state)).all())
        return {key: found.get(key, 0) for key in STATES}

    def count_active(self, list_name: str) -> int:
        return self.counts(list_name)["active"]

    def active_members(self, list_name: str, *, batch: int = STREAM_BATCH) -> Iterator[Member]:
        """Every active, unsuppressed member of the list, in id order, streamed (a
        server-side cursor on PostgreSQL), never loaded whole."""
        with self.engine.connect() as connection:
            on_list = list_id(connection, list_name)
            result = connection.execution_options(yield_per=batch).execute(
                select(Subscriber.id, Subscriber.email, Subscriber.name, Subscriber.language)
                .join_from(Membership, Subscriber, Subscriber.id == Membership.subscriber_id)
                .where(Membership.list_id == on_list, Membership.status == "active",
                       Subscriber.status == "active", ~suppressed())
                .order_by(Membership.subscriber_id))
            try:
                for row in result:
                    yield Member(*row)
            finally:
                result.close()
