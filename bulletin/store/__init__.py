"""Subscribers, lists, consent and the send ledger, in SQLite or PostgreSQL.

`Store.open(url)` is the way in; `engine.resolve_url()` says which database a workspace uses.
"""

from .errors import (
    NotSubscribedError,
    StoreError,
    SuppressedError,
    UnknownListError,
    UnsubscribedError,
)
from .importer import ImportReport, Note
from .ledger import Claim
from .store import AuditRecord, ListInfo, Member, Store, SubscriberInfo

__all__ = [
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
    "SuppressedError",
    "UnknownListError",
    "UnsubscribedError",
]
