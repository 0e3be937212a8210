"""The subscriber store: subscribers, lists, consent, suppressions, the audit trail and the
send ledger, behind operations named for what they mean.

    with Store.open(url) as store:
        store.subscribe("ann@example.org", "cohes3ion", source="page")
        for member in store.iter_active_members("cohes3ion"): ...

Small operations use the ORM, one transaction each; the bulk import and the member stream use
SQLAlchemy Core (importer.py, and a streaming cursor here). Every change of a subscription
writes an audit row naming its source (import, cli, one-click, page, bounce, ...) and actor.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, TextIO

from sqlalchemy import ColumnElement, Connection, Engine, case, exists, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from . import engine as engines
from . import migrate
from .addresses import Address, InvalidAddress, normalise
from .errors import (
    NotSubscribedError,
    StoreError,
    SuppressedError,
    UnknownListError,
    UnsubscribedError,
)
from .importer import ImportReport, Note, run_import, unknown_list_message
from .models import (
    LEFT,
    ArchivedIssue,
    AuditEntry,
    MailingList,
    Membership,
    Pause,
    Status,
    Subscriber,
    Suppression,
    now,
    table,
)
from .rows import BadRow, Row
from .sendledger import SendLedger

LIST_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
STREAM_BATCH = 1000


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


@dataclass(frozen=True, slots=True)
class ArchivedCopy:
    newsletter: str
    issue: str
    language: str
    subject: str
    html: str
    text: str
    published_at: datetime


@dataclass(frozen=True, slots=True)
class ArchiveEntry:
    issue: str
    language: str
    subject: str
    published_at: datetime


SubscriberRef = str | int
"""An email address, or a subscriber's id (as a signed token names it)."""


def _address(email: str) -> Address:
    try:
        return normalise(email)
    except InvalidAddress as exc:
        raise StoreError(str(exc)) from None


class Store:
    """Open with Store.open(url); close (or use as a context manager) when done."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url
        self._writer = engine.execution_options(**{engines.WRITE: True})
        self.ledger = SendLedger(engine, url, self._list_id)
        """The send ledger and the test sends, for the dispatcher and the send use-case."""

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str, *, upgrade: bool = True) -> Store:
        """Connect to the database at `url`, creating or upgrading its tables unless
        `upgrade` is false (then a database that is not up to date is an error)."""
        engine = engines.create(url)
        store = cls(engine, url)
        try:
            revision = migrate.current(engine)
            if revision != migrate.HEAD:  # only now is Alembic imported
                if upgrade:
                    migrate.upgrade(engine)
                else:
                    raise StoreError(f"the database {engines.shown(url)} is at schema "
                                     f"revision {revision or 'none'}, not {migrate.head()}; "
                                     f"run `bulletin db upgrade`")
        except OperationalError as exc:
            engine.dispose()
            raise StoreError(f"cannot use the database {engines.shown(url)}: "
                             f"{_first_line(exc)}; check BULLETIN_DATABASE_URL or "
                             f"database_url in bulletin.toml") from None
        except BaseException:
            engine.dispose()
            raise
        # A sender that died: what it handed over, from its journal. Journals that cannot be
        # read here leave their rows uncertain.
        with contextlib.suppress(OSError):
            store.ledger.recover()
        return store

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    # -- lists --------------------------------------------------------------------------------

    def create_list(self, name: str, *, newsletter: str | None = None,
                    title: str | None = None) -> bool:
        """Make a list (a newsletter's main list, or a topic); False if it already exists."""
        if not LIST_NAME.fullmatch(name):
            raise StoreError(f"{name!r} is not a list name: use lower-case letters, digits and "
                             f"hyphens, e.g. cohes3ion or cohes3ion-events")
        with self._session() as session:
            if session.scalar(select(MailingList.id).where(MailingList.name == name)):
                return False
            session.add(MailingList(name=name, newsletter=newsletter, title=title,
                                    created_at=now()))
        return True

    def list_names(self) -> list[str]:
        with Session(self.engine) as session:
            return list(session.scalars(select(MailingList.name).order_by(MailingList.name)))

    def lists(self) -> list[ListInfo]:
        active = (select(func.count())
                  .select_from(Membership)
                  .join(Subscriber, Subscriber.id == Membership.subscriber_id)
                  .where(Membership.list_id == MailingList.id, Membership.status == "active",
                         Subscriber.status == "active", ~_suppressed())
                  .scalar_subquery())
        with Session(self.engine) as session:
            rows = session.execute(select(MailingList.name, MailingList.newsletter,
                                          MailingList.title, active)
                                   .order_by(MailingList.name)).all()
        return [ListInfo(*row) for row in rows]

    def _list_id(self, session: Session, name: str) -> int:
        list_id = session.scalar(select(MailingList.id).where(MailingList.name == name))
        if list_id is None:
            known = session.scalars(select(MailingList.name).order_by(MailingList.name))
            raise UnknownListError(unknown_list_message(name, known))
        return list_id

    # -- one subscriber at a time -------------------------------------------------------------

    def subscribe(self, email: str, list_name: str, *, source: str, actor: str | None = None,
                  name: str | None = None, language: str | None = None,
                  status: Status = "active", resubscribe: bool = False) -> str:
        """Put `email` on `list_name`. `status` is "pending" for a double opt-in that still
        awaits confirmation. Someone who unsubscribed, bounced or complained is subscribed
        again only with `resubscribe` (they asked to be); a suppressed address never is.

        Returns what happened: added, joined, activated, resubscribed or unchanged."""
        if status not in ("active", "pending"):
            raise ValueError("a new subscription is active or pending")
        address = _address(email)
        for attempt in (1, 2):
            try:
                return self._subscribe(address, list_name, source, actor, name, language,
                                       status, resubscribe)
            except IntegrityError:
                # Someone else added the same address at the same moment: try once more,
                # now as an existing subscriber.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _subscribe(self, address: Address, list_name: str, source: str, actor: str | None,
                   name: str | None, language: str | None, status: str,
                   resubscribe: bool) -> str:
        at = now()
        with self._session() as session:
            list_id = self._list_id(session, list_name)
            suppression = session.get(Suppression, address.key)
            if suppression is not None:
                raise SuppressedError(
                    f"{address.email} is on the suppression list ({suppression.reason}, since "
                    f"{suppression.created_at:%Y-%m-%d}); it is never subscribed again")
            subscriber = session.scalar(select(Subscriber)
                                        .where(Subscriber.email_key == address.key)
                                        .with_for_update())
            if subscriber is None:
                subscriber = Subscriber(email=address.email, email_key=address.key, name=name,
                                        language=language, status=status,
                                        consent_source=source, consent_at=at, created_at=at,
                                        updated_at=at)
                session.add(subscriber)
                session.flush()
                session.add(Membership(list_id=list_id, subscriber_id=subscriber.id,
                                       status="active", created_at=at, updated_at=at))
                _audit(session, subscriber, "subscribe", None, status, source, actor,
                       list_id=list_id)
                return "added"
            membership = session.get(Membership, (list_id, subscriber.id))
            left = subscriber.status in LEFT or (membership is not None
                                                 and membership.status == "unsubscribed")
            if left and not resubscribe:
                how = subscriber.status if subscriber.status in LEFT else \
                    f"unsubscribed from {list_name}"
                raise UnsubscribedError(
                    f"{address.email} has left ({how}); subscribe them again only if they "
                    f"have asked to be (--resubscribe)")
            outcome = "unchanged"
            if subscriber.name is None and name:
                subscriber.name = name
            if subscriber.language is None and language:
                subscriber.language = language
            if subscriber.status in LEFT or (subscriber.status == "pending"
                                             and status == "active"):
                outcome = "resubscribed" if subscriber.status in LEFT else "activated"
                action = "resubscribe" if subscriber.status in LEFT else "confirm"
                _audit(session, subscriber, action, subscriber.status, status, source, actor)
                subscriber.status = status
                subscriber.consent_source = source
                subscriber.consent_at = at
            if membership is None:
                session.add(Membership(list_id=list_id, subscriber_id=subscriber.id,
                                       status="active", created_at=at, updated_at=at))
                _audit(session, subscriber, "join", None, "active", source, actor,
                       list_id=list_id)
                outcome = "joined" if outcome == "unchanged" else outcome
            elif membership.status != "active":
                membership.status = "active"
                membership.updated_at = at
                _audit(session, subscriber, "join", "unsubscribed", "active", source, actor,
                       list_id=list_id)
                outcome = "resubscribed"
            subscriber.updated_at = at
            return outcome

    def _find(self, session: Session, who: SubscriberRef, *, lock: bool = True) -> Subscriber:
        query = select(Subscriber)
        if isinstance(who, int):
            query = query.where(Subscriber.id == who)
            shown = f"subscriber {who}"
        else:
            address = _address(who)
            query = query.where(Subscriber.email_key == address.key)
            shown = address.email
        subscriber = session.scalar(query.with_for_update() if lock else query)
        if subscriber is None:
            raise NotSubscribedError(f"no subscriber {shown} in the store")
        return subscriber

    def unsubscribe(self, who: SubscriberRef, list_name: str | None = None, *, source: str,
                    actor: str | None = None, reason: str | None = None) -> bool:
        """Unsubscribe from one list, or (no list) from everything. The record stays, so an
        import never adds them back. Returns False when there was nothing to change."""
        at = now()
        with self._session() as session:
            subscriber = self._find(session, who)
            if list_name is None:
                if subscriber.status in LEFT:
                    return False
                _audit(session, subscriber, "unsubscribe", subscriber.status, "unsubscribed",
                       source, actor, detail=reason)
                subscriber.status = "unsubscribed"
                subscriber.updated_at = at
                return True
            list_id = self._list_id(session, list_name)
            membership = session.get(Membership, (list_id, subscriber.id))
            if membership is None or membership.status == "unsubscribed":
                return False
            membership.status = "unsubscribed"
            membership.updated_at = at
            _audit(session, subscriber, "leave", "active", "unsubscribed", source, actor,
                   list_id=list_id, detail=reason)
            return True

    def confirm(self, who: SubscriberRef, *, source: str, actor: str | None = None) -> bool:
        """Double opt-in confirmed: pending becomes active. False if not pending."""
        with self._session() as session:
            subscriber = self._find(session, who)
            if subscriber.status != "pending":
                return False
            _audit(session, subscriber, "confirm", "pending", "active", source, actor)
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
        with self._session() as session:
            subscriber = self._find(session, who)
            if subscriber.status != status:
                _audit(session, subscriber, status, subscriber.status, status, source, None,
                       detail=reason)
                subscriber.status = status
                subscriber.updated_at = at
            self._suppress(session, subscriber.email, subscriber.email_key, reason, source,
                           None, at)

    def suppress(self, email: str, *, reason: str, source: str,
                 actor: str | None = None) -> bool:
        """Never send to `email` again, subscribed or not. False if it already was."""
        address = _address(email)
        with self._session() as session:
            return self._suppress(session, address.email, address.key, reason, source, actor,
                                  now())

    def _suppress(self, session: Session, email: str, key: str, reason: str, source: str,
                  actor: str | None, at: datetime) -> bool:
        if session.get(Suppression, key) is not None:
            return False
        session.add(Suppression(email_key=key, email=email, reason=reason[:200], source=source,
                                created_at=at))
        subscriber_id = session.scalar(select(Subscriber.id).where(Subscriber.email_key == key))
        session.add(AuditEntry(at=at, subscriber_id=subscriber_id, email_key=key,
                               action="suppress", source=source, actor=actor, detail=reason))
        return True

    def is_suppressed(self, email: str) -> bool:
        with Session(self.engine) as session:
            return session.get(Suppression, _address(email).key) is not None

    def subscriber(self, who: SubscriberRef) -> SubscriberInfo:
        with Session(self.engine) as session:
            subscriber = self._find(session, who, lock=False)
            lists = session.scalars(
                select(MailingList.name).join(Membership, Membership.list_id == MailingList.id)
                .where(Membership.subscriber_id == subscriber.id,
                       Membership.status == "active").order_by(MailingList.name)).all()
            suppressed = session.get(Suppression, subscriber.email_key) is not None
            return SubscriberInfo(subscriber.id, subscriber.email, subscriber.name,
                                  subscriber.language, subscriber.status,
                                  subscriber.consent_source, subscriber.consent_at,
                                  tuple(lists), suppressed)

    def audit(self, who: SubscriberRef) -> list[AuditRecord]:
        """The trail of changes to one person's subscriptions, oldest first."""
        with Session(self.engine) as session:
            if isinstance(who, int):
                key = session.scalar(select(Subscriber.email_key).where(Subscriber.id == who))
                if key is None:
                    raise NotSubscribedError(f"no subscriber {who} in the store")
            else:
                key = _address(who).key
            rows = session.execute(
                select(AuditEntry.at, AuditEntry.action, MailingList.name,
                       AuditEntry.old_status, AuditEntry.new_status, AuditEntry.source,
                       AuditEntry.actor, AuditEntry.detail)
                .outerjoin(MailingList, MailingList.id == AuditEntry.list_id)
                .where(AuditEntry.email_key == key).order_by(AuditEntry.id)).all()
        return [AuditRecord(*row) for row in rows]

    def audit_issue(self, issue: str, action: str, *, list_name: str | None, source: str,
                    actor: str | None, detail: str) -> None:
        """An audit row about an issue rather than a person: a send forced past the errors
        of `bulletin check`, say. The row's subject (email_key) is the issue's ledger name
        (newsletter/stem), which has no @ and so is never a subscriber's."""
        with self._session() as session:
            list_id = None if list_name is None else self._list_id(session, list_name)
            session.add(AuditEntry(at=now(), email_key=issue, list_id=list_id, action=action,
                                   source=source, actor=actor, detail=detail))

    def issue_audit(self, issue: str) -> list[AuditRecord]:
        """The audit rows about `issue` (`audit_issue`), oldest first."""
        with Session(self.engine) as session:
            rows = session.execute(
                select(AuditEntry.at, AuditEntry.action, MailingList.name,
                       AuditEntry.old_status, AuditEntry.new_status, AuditEntry.source,
                       AuditEntry.actor, AuditEntry.detail)
                .outerjoin(MailingList, MailingList.id == AuditEntry.list_id)
                .where(AuditEntry.email_key == issue, AuditEntry.subscriber_id.is_(None))
                .order_by(AuditEntry.id)).all()
        return [AuditRecord(*row) for row in rows]

    # -- counting and streaming ---------------------------------------------------------------

    def counts(self, list_name: str | None = None) -> dict[str, int]:
        """How many people are in each state, on one list or in the whole store: the five
        statuses, with suppressed addresses counted apart (as "suppressed") whatever their
        status, active people who paused their emails as "paused", and list members who
        unsubscribed from just that list as "unsubscribed"."""
        active = Subscriber.status == "active"
        with Session(self.engine) as session:
            if list_name is None:
                paused = exists().where(Pause.subscriber_id == Subscriber.id)
                state = case((_suppressed(), "suppressed"), (active & paused, "paused"),
                             else_=Subscriber.status)
                query = select(state, func.count()).select_from(Subscriber)
            else:
                list_id = self._list_id(session, list_name)
                paused = exists().where(Pause.subscriber_id == Subscriber.id,
                                        Pause.list_id == list_id)
                left = Membership.status == "unsubscribed"
                state = case((_suppressed(), "suppressed"),
                             (active & left & paused, "paused"),
                             (left, "unsubscribed"),
                             else_=Subscriber.status)
                query = (select(state, func.count()).select_from(Membership)
                         .join(Subscriber, Subscriber.id == Membership.subscriber_id)
                         .where(Membership.list_id == list_id))
            found: dict[str, int] = dict(session.execute(query.group_by(state)).all())
        return {key: found.get(key, 0) for key in
                ("active", "paused", "pending", "unsubscribed", "bounced", "complained",
                 "suppressed")}

    def count_active(self, list_name: str) -> int:
        return self.counts(list_name)["active"]

    def iter_active_members(self, list_name: str, *,
                            batch: int = STREAM_BATCH) -> Iterator[Member]:
        """Every active, unsuppressed member of the list, in id order, streamed (a
        server-side cursor on PostgreSQL), never loaded whole."""
        with self.engine.connect() as connection:
            with Session(connection) as session:
                list_id = self._list_id(session, list_name)
            result = connection.execution_options(yield_per=batch).execute(
                select(Subscriber.id, Subscriber.email, Subscriber.name, Subscriber.language)
                .join_from(Membership, Subscriber, Subscriber.id == Membership.subscriber_id)
                .where(Membership.list_id == list_id, Membership.status == "active",
                       Subscriber.status == "active", ~_suppressed())
                .order_by(Membership.subscriber_id))
            try:
                for row in result:
                    yield Member(*row)
            finally:
                result.close()

    # -- bulk ---------------------------------------------------------------------------------

    def import_rows(self, rows: Iterable[Row | BadRow], list_name: str, *, source: str,
                    actor: str | None = None, resubscribe: bool = False,
                    on_note: Callable[[Note], None] | None = None,
                    on_progress: Callable[[int], None] | None = None,
                    batch_size: int | None = None) -> ImportReport:
        """Import checked rows in one transaction: all of them or, if anything interrupts
        the import, none. See importer.py for the rules."""
        options = {} if batch_size is None else {"batch_size": batch_size}
        try:
            with self._writer.connect() as connection, connection.begin():
                return run_import(connection, rows, list_name, source=source, actor=actor,
                                  resubscribe=resubscribe, on_note=on_note,
                                  on_progress=on_progress, **options)
        except IntegrityError:
            # PostgreSQL: someone else added one of the file's new addresses while it ran.
            raise StoreError(f"{source}: another process added some of these addresses while "
                             f"the import ran; nothing was imported. Run it again") from None
        except OperationalError as exc:
            raise StoreError(f"{source}: the database failed during the import "
                             f"({_first_line(exc)}); nothing was imported. Run it again"
                             ) from None

    def import_csv(self, path: Path, list_name: str, *, actor: str | None = None,
                   resubscribe: bool = False, on_note: Callable[[Note], None] | None = None,
                   on_progress: Callable[[int], None] | None = None,
                   stream: IO[bytes] | None = None,
                   batch_size: int | None = None) -> ImportReport:
        """Import a subscriber CSV file (see bulletin.csvimport for its format)."""
        from ..csvimport import SubscriberFile  # here: csvimport itself imports this package

        source = SubscriberFile(path, stream)
        report = self.import_rows(source, list_name, source=path.name, actor=actor,
                                  resubscribe=resubscribe, on_note=on_note,
                                  on_progress=on_progress, batch_size=batch_size)
        report.ignored_columns = source.ignored
        return report

    def export_csv(self, list_name: str, out: TextIO) -> int:
        """Write the list's active members as CSV (email,name,language), in the format
        import_csv reads; return how many."""
        import csv

        from ..csvimport import formula_safe  # here: csvimport itself imports this package

        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(("email", "name", "language"))
        written = 0
        for member in self.iter_active_members(list_name):
            # A name such as =HYPERLINK(...) is no formula in a spreadsheet; read back as it was.
            writer.writerow((member.email, formula_safe(member.name or ""),
                             member.language or ""))
            written += 1
        return written

    # -- the subscriber web service -----------------------------------------------------------

    def ping(self) -> None:
        """Raise StoreError unless the database answers (the health check)."""
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except OperationalError as exc:
            raise StoreError(f"the database does not answer: {_first_line(exc)}") from None

    def memberships(self, who: SubscriberRef) -> dict[str, str]:
        """Every list the subscriber was ever put on: list name -> active | unsubscribed."""
        with Session(self.engine) as session:
            subscriber = self._find(session, who, lock=False)
            rows = session.execute(
                select(MailingList.name, Membership.status)
                .join(Membership, Membership.list_id == MailingList.id)
                .where(Membership.subscriber_id == subscriber.id).order_by(MailingList.name))
            return {name: status for name, status in rows}

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
            with self._writer.connect() as connection, _lock_wait(connection, wait), \
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
                             f"{_first_line(exc)}") from None

    def list_owners(self) -> dict[str, tuple[str | None, str | None]]:
        """Every list: name -> (the newsletter it belongs to, its title), cheaply (lists()
        also counts members)."""
        with Session(self.engine) as session:
            rows = session.execute(select(MailingList.name, MailingList.newsletter,
                                          MailingList.title))
            return {name: (newsletter, title) for name, newsletter, title in rows}

    def set_language(self, who: SubscriberRef, language: str | None, *, source: str,
                     actor: str | None = None) -> bool:
        """The language they get the newsletter in. False if it was that already."""
        with self._session() as session:
            subscriber = self._find(session, who)
            if subscriber.language == language:
                return False
            _audit(session, subscriber, "language", None, None, source, actor,
                   detail=f"{subscriber.language or '-'} -> {language or '-'}")
            subscriber.language = language
            subscriber.updated_at = now()
            return True

    def pause(self, who: SubscriberRef, until: datetime, *, source: str,
              actor: str | None = None) -> list[str]:
        """Stop sending to them until `until`: each list they are an active member of is
        left now and taken up again then (see resume, resume_due). Pausing while paused
        moves the date. Returns the names of the lists paused."""
        at = now()
        with self._session() as session:
            subscriber = self._find(session, who)
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
                _audit(session, subscriber, "pause", "active", "unsubscribed", source, actor,
                       list_id=membership.list_id, detail=f"until {until:%Y-%m-%d}")
                names.append(name)
            return sorted(names)

    def paused_until(self, who: SubscriberRef) -> datetime | None:
        """When their pause ends, or None if they have not paused."""
        with Session(self.engine) as session:
            subscriber = self._find(session, who, lock=False)
            return session.scalar(select(func.max(Pause.until))
                                  .where(Pause.subscriber_id == subscriber.id))

    def resume(self, who: SubscriberRef, *, source: str, actor: str | None = None
               ) -> list[str]:
        """End their pause now: the lists they paused are theirs again (unless they left
        one since). Returns the names of the lists taken up again."""
        with self._session() as session:
            subscriber = self._find(session, who)
            return self._resume(session, subscriber,
                                list(session.scalars(select(Pause).where(
                                    Pause.subscriber_id == subscriber.id))), source, actor)

    def resume_due(self, at: datetime | None = None, *, source: str = "pause-ended") -> int:
        """End every pause whose date has come; returns how many subscribers resumed."""
        at = at or now()
        with self._session() as session:
            due = list(session.scalars(select(Pause).where(Pause.until <= at)
                                       .order_by(Pause.subscriber_id)))
            by_subscriber: dict[int, list[Pause]] = {}
            for pause in due:
                by_subscriber.setdefault(pause.subscriber_id, []).append(pause)
            for subscriber_id, pauses in by_subscriber.items():
                subscriber = session.get(Subscriber, subscriber_id)
                assert subscriber is not None  # a foreign key
                self._resume(session, subscriber, pauses, source, None)
            return len(by_subscriber)

    def _resume(self, session: Session, subscriber: Subscriber, pauses: list[Pause],
                source: str, actor: str | None) -> list[str]:
        at = now()
        names = []
        for pause in pauses:
            membership = session.get(Membership, (pause.list_id, subscriber.id))
            if membership is not None and membership.status == "unsubscribed":
                membership.status = "active"
                membership.updated_at = at
                _audit(session, subscriber, "resume", "unsubscribed", "active", source, actor,
                       list_id=pause.list_id)
                names.append(session.scalar(select(MailingList.name)
                                            .where(MailingList.id == pause.list_id)))
            session.delete(pause)
        return sorted(name for name in names if name)

    # -- the public archive -------------------------------------------------------------------

    def archive_put(self, newsletter: str, issue: str, language: str, subject: str, html: str,
                    text: str) -> bool:
        """Keep an issue as sent for the public archive (no recipient's data in it!). Putting
        the same (newsletter, issue, language) again replaces it; True if it was new."""
        at = now()
        with self._session() as session:
            found = session.scalar(select(ArchivedIssue).where(
                ArchivedIssue.newsletter == newsletter, ArchivedIssue.issue == issue,
                ArchivedIssue.language == language))
            if found is None:
                session.add(ArchivedIssue(newsletter=newsletter, issue=issue, language=language,
                                          subject=subject, html=html, text=text,
                                          published_at=at, updated_at=at))
                return True
            found.subject, found.html, found.text, found.updated_at = subject, html, text, at
            return False

    def archive_get(self, newsletter: str, issue: str,
                    language: str | None = None) -> ArchivedCopy | None:
        """The archived issue in `language` (any language: the first one published), or
        None."""
        query = select(ArchivedIssue).where(ArchivedIssue.newsletter == newsletter,
                                            ArchivedIssue.issue == issue)
        if language is not None:
            query = query.where(ArchivedIssue.language == language)
        with Session(self.engine) as session:
            found = session.scalar(query.order_by(ArchivedIssue.id).limit(1))
            if found is None:
                return None
            return ArchivedCopy(found.newsletter, found.issue, found.language, found.subject,
                                found.html, found.text, found.published_at)

    def archive_index(self, newsletter: str) -> list[ArchiveEntry]:
        """Every archived issue of the newsletter in every language, newest first."""
        with Session(self.engine) as session:
            rows = session.execute(
                select(ArchivedIssue.issue, ArchivedIssue.language, ArchivedIssue.subject,
                       ArchivedIssue.published_at)
                .where(ArchivedIssue.newsletter == newsletter)
                .order_by(ArchivedIssue.published_at.desc(), ArchivedIssue.issue,
                          ArchivedIssue.id)).all()
        return [ArchiveEntry(*row) for row in rows]


def upgrade(url: str) -> migrate.Upgrade:
    """Bring the database at `url` to the newest schema (creating it if empty)."""
    engine = engines.create(url)
    try:
        return migrate.upgrade(engine)
    except OperationalError as exc:
        raise StoreError(f"cannot use the database {engines.shown(url)}: {_first_line(exc)}; "
                         f"check BULLETIN_DATABASE_URL or database_url in bulletin.toml"
                         ) from None
    finally:
        engine.dispose()


def _suppressed() -> ColumnElement[bool]:
    return exists().where(Suppression.email_key == Subscriber.email_key)


def _audit(session: Session, subscriber: Subscriber, action: str, old: str | None,
           new: str | None, source: str, actor: str | None, *, list_id: int | None = None,
           detail: str | None = None) -> None:
    session.add(AuditEntry(at=now(), subscriber_id=subscriber.id,
                           email_key=subscriber.email_key, list_id=list_id, action=action,
                           old_status=old, new_status=new, source=source, actor=actor,
                           detail=detail))


@contextmanager
def _lock_wait(connection: Connection, wait: float | None) -> Iterator[None]:
    """SQLite: wait at most `wait` seconds for the write lock on this connection, then put
    the store's busy timeout back (PostgreSQL: SET LOCAL lock_timeout in the transaction)."""
    if wait is None or connection.dialect.name != "sqlite":
        yield
        return
    raw = connection.connection.dbapi_connection
    assert raw is not None
    raw.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA busy_timeout = {engines.BUSY_TIMEOUT_S * 1000}")


def _first_line(exc: Exception) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
