"""Subscribers, lists, consent and the send ledger, in SQLite or PostgreSQL.

`Store.open(url)` is the way in (store.py: the facade and its aggregates);
`engine.resolve_url()` says which database a workspace uses.
"""

from .archive import ArchivedCopy, ArchiveEntry
from .audit import AuditRecord
from .errors import (
    NotSubscribedError,
    StoreError,
    SuppressedError,
    UnknownListError,
    UnsubscribedError,
)
from .importer import ImportReport, Note
from .ledger import Claim
from .lists import ListInfo, Member
from .store import Store
from .subscribers import SubscriberRef
from .subscriptions import SubscriberInfo

__all__ = [
    "ArchiveEntry",
    "ArchivedCopy",
    "AuditRecord",
    "Claim",
    "ImportReport",
    "ListInfo",
    "Member",
    "NotSubscribedError",
    "Note",
    "Store",
    "StoreError",
    "SubscriberInfo",
    "SubscriberRef",
    "SuppressedError",
    "UnknownListError",
    "UnsubscribedError",
]
