"""The subscriber store: one object that opens the database and holds its aggregates.

    with Store.open(url) as store:
        store.subscriptions.subscribe("ann@example.org", "cohes3ion", source="page")
        for member in store.mailing_lists.active_members("cohes3ion"): ...

Each aggregate is a module of its own, with its contract in its docstring, and is the real
home of its operations: new code calls them there (`store.<aggregate>.<operation>`) and may
depend on one aggregate alone rather than on the whole store.

    mailing_lists   lists.py          the lists, counting and streaming their members
    subscriptions   subscriptions.py  one person: subscribe, confirm, leave, bounce, language
    pauses          pauses.py         no email until a date
    suppressions    suppressions.py   addresses never sent to again
    audit_trail     audit.py          who changed what, and rows about issues
    imports         imports.py        import and export (how rows are written: importer.py)
    archive         archive.py        the public copies of sent issues
    media           media.py          published images, by content-addressed name
    ledger          sendledger.py     the send ledger and test sends
    inbound         inbound.py        bounces, complaints, emailed unsubscribes: recorded once
    approvals       approvals.py      sign-offs of an issue's exact content
    schedules       schedules.py      sends at a set time, each claimed by one service

The Store's own operation names below (`store.subscribe`, `store.lists()`, ...) are the
names callers used before the split, each bound to the aggregate's operation; they remain so
that callers move at their own pace, and no new ones are added.
"""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from . import engine as engines
from . import migrate
from .approvals import Approvals
from .archive import Archive, ArchivedCopy, ArchiveEntry
from .audit import AuditRecord, AuditTrail
from .errors import StoreError, first_line
from .imports import Imports
from .inbound import Inbound
from .lists import ListInfo, MailingLists, Member, list_id
from .media import Media
from .pauses import Pauses
from .schedules import Schedules
from .sendledger import SendLedger
from .subscribers import SubscriberRef
from .subscriptions import SubscriberInfo, Subscriptions
from .suppressions import Suppressions

if TYPE_CHECKING:
    from ..settings import Workspace

__all__ = ["ArchiveEntry", "ArchivedCopy", "AuditRecord", "ListInfo", "Member", "Store",
           "SubscriberInfo", "SubscriberRef", "upgrade"]


class Store:
    """Open with Store.open(url); close (or use as a context manager) when done."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url
        self.mailing_lists = MailingLists(engine)
        self.subscriptions = Subscriptions(engine)
        self.pauses = Pauses(engine)
        self.suppressions = Suppressions(engine)
        self.audit_trail = AuditTrail(engine)
        self.imports = Imports(engine, self.mailing_lists)
        self.archive = Archive(engine)
        self.media = Media(engine)
        self.ledger = SendLedger(engine, url, list_id)
        """The send ledger and the test sends, for the dispatcher and the send use-case."""
        self.inbound = Inbound(engine)
        self.approvals = Approvals(engine)
        self.schedules = Schedules(engine)

        # The names from before the split (see the module's docstring).
        self.create_list = self.mailing_lists.create
        self.list_names = self.mailing_lists.names
        self.lists = self.mailing_lists.all
        self.list_owners = self.mailing_lists.owners
        self.counts = self.mailing_lists.counts
        self.count_active = self.mailing_lists.count_active
        self.iter_active_members = self.mailing_lists.active_members
        self.subscribe = self.subscriptions.subscribe
        self.confirm = self.subscriptions.confirm
        self.unsubscribe = self.subscriptions.unsubscribe
        self.unsubscribe_many = self.subscriptions.unsubscribe_many
        self.record_bounce = self.subscriptions.record_bounce
        self.record_complaint = self.subscriptions.record_complaint
        self.set_language = self.subscriptions.set_language
        self.subscriber = self.subscriptions.subscriber
        self.memberships = self.subscriptions.memberships
        self.pause = self.pauses.pause
        self.paused_until = self.pauses.until
        self.resume = self.pauses.resume
        self.resume_due = self.pauses.resume_due
        self.suppress = self.suppressions.add
        self.is_suppressed = self.suppressions.contains
        self.audit = self.audit_trail.of
        self.audit_issue = self.audit_trail.add_issue_row
        self.issue_audit = self.audit_trail.of_issue
        self.import_rows = self.imports.import_rows
        self.import_csv = self.imports.import_csv
        self.export_csv = self.imports.export_csv
        self.archive_put = self.archive.put
        self.archive_get = self.archive.get
        self.archive_index = self.archive.index

    @classmethod
    def for_workspace(cls, workspace: Workspace, *, cache_kib: int | None = None) -> Store:
        """The workspace's store: BULLETIN_DATABASE_URL, else database_url in bulletin.toml,
        else the SQLite file beside it."""
        return cls.open(engines.resolve_url(workspace.root, workspace.settings.database_url),
                        cache_kib=cache_kib)

    @classmethod
    def open(cls, url: str, *, upgrade: bool = True, cache_kib: int | None = None) -> Store:
        """Connect to the database at `url`, creating or upgrading its tables unless
        `upgrade` is false (then a database that is not up to date is an error); on SQLite,
        each connection's page cache at `cache_kib` KiB if given."""
        engine = engines.create(url, cache_kib)
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
            raise _unusable(url, exc) from None
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

    def ping(self) -> None:
        """Raise StoreError unless the database answers (the health check)."""
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except OperationalError as exc:
            raise StoreError(f"the database does not answer: {first_line(exc)}") from None


def upgrade(url: str) -> migrate.Upgrade:
    """Bring the database at `url` to the newest schema (creating it if empty)."""
    engine = engines.create(url)
    try:
        return migrate.upgrade(engine)
    except OperationalError as exc:
        raise _unusable(url, exc) from None
    finally:
        engine.dispose()


def _unusable(url: str, exc: OperationalError) -> StoreError:
    return StoreError(f"cannot use the database {engines.shown(url)}: {first_line(exc)}; "
                      "check BULLETIN_DATABASE_URL or database_url in bulletin.toml")
