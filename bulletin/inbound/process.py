"""The use-case of one inbound message, whatever brought it (the MTA's pipe, an IMAP
mailbox, a webhook): classify, attribute, decide, record once.

    processed = process(store, workspace, raw, source="pipe")
    processed.ours        # False: not a bounce, complaint, auto-reply or unsubscribe request
                          # of ours; an IMAP intake leaves it where it is
    processed.duplicate   # True: recorded before; nothing changed now

Only messages that are ours are recorded (unrelated mail is never stored). The same message
(the same Message-ID, else the same bytes) is recorded and acted on once. A provider's
event (a webhook's bounce or complaint: bulletin.inbound.webhooks) comes already classified,
with its own key, and joins at `process_classified`. Raises
NotAnEmailError for bytes that are not an email, StoreError when the store cannot be used,
TokenError without BULLETIN_SECRET_KEY (tokens cannot be verified): the caller keeps the
message and tries again later."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from email.utils import parseaddr

from .. import links
from ..settings import Workspace
from ..store import Store
from ..store.inbound import Arrival
from ..store.models import now
from . import policy
from .attribute import Attribution, attribute
from .classify import classify
from .model import Classification, Kind

SOURCES = ("pipe", "imap", "webhook")
_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(<[^<>\r\n]{1,500}>)",
                         re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Processed:
    """What became of one inbound message."""

    kind: Kind
    ours: bool
    """A bounce, complaint, auto-reply or unsubscribe request about someone of ours."""
    duplicate: bool
    """Recorded before: nothing was done now."""
    subscriber_id: int | None
    action: str
    """bounced, complained, unsubscribed, counted (a soft bounce under the limit), nothing
    (an auto-reply), already (they had left that way), or ignored (not ours)."""
    inbound_id: int | None = None
    attribution: str = "none"
    """How it was traced to the subscriber: verp, message-id, address or token."""
    classification: Classification | None = None


def message_key(raw: bytes) -> str:
    """The key a message is recorded under: SHA-256 of its Message-ID, else of its bytes."""
    header_end = raw.find(b"\r\n\r\n")
    if header_end < 0:
        header_end = raw.find(b"\n\n")
    head = raw if header_end < 0 else raw[:header_end]
    found = _MESSAGE_ID.search(head.replace(b"\r\n ", b" ").replace(b"\n ", b" "))
    if found:
        return hashlib.sha256(b"message-id:" + found.group(1).strip()).hexdigest()
    return hashlib.sha256(raw).hexdigest()


def unsubscribe_addresses(workspace: Workspace) -> tuple[str, ...]:
    """The newsletters' unsubscribe_mailto addresses."""
    return tuple(dict.fromkeys(
        parseaddr(n.unsubscribe_mailto)[1].lower()
        for n in workspace.settings.newsletters.values() if n.unsubscribe_mailto))


def process(store: Store, workspace: Workspace, raw: bytes, *, source: str) -> Processed:
    """Process one inbound message from `source` (pipe, imap or webhook)."""
    if source not in SOURCES:
        raise ValueError(f"unknown inbound source {source!r}")
    c = classify(raw, unsubscribe_addresses=unsubscribe_addresses(workspace))
    if c.kind == "not-bounce":
        return Processed(c.kind, False, False, None, "ignored", classification=c)
    return process_classified(store, workspace, c, message_key(raw), raw, source=source)


def process_classified(store: Store, workspace: Workspace, c: Classification, key: str,
                       evidence: bytes, *, source: str) -> Processed:
    """Attribute, decide and record once what is already classified: `c`, recorded under
    `key` with `evidence` (the raw message; for a provider's event, its JSON)."""
    if source not in SOURCES:
        raise ValueError(f"unknown inbound source {source!r}")
    if c.kind == "not-bounce":
        return Processed(c.kind, False, False, None, "ignored", classification=c)
    seen = store.inbound.seen(key)
    if seen is not None:
        return Processed(c.kind, True, True, seen.subscriber_id, seen.action, seen.id,
                         classification=c)
    found = attribute(c, evidence, links.secret_key(), store.inbound, policy.ours(workspace))
    if not found.found:
        return Processed(c.kind, False, False, None, "ignored", classification=c)
    rules = policy.rules_for(workspace, found.delivery.issue if found.delivery else None,
                             c.envelope_to)
    recorded = store.inbound.record(
        _arrival(key, source, c, evidence, found), soft_since=policy.soft_since(rules, now()),
        decide=lambda softs: policy.decide(c, softs, rules))
    return Processed(c.kind, True, recorded.duplicate, recorded.subscriber_id,
                     recorded.action, recorded.id, found.how, c)


def _arrival(key: str, source: str, c: Classification, raw: bytes,
             found: Attribution) -> Arrival:
    return Arrival(key=key, source=source, kind=c.kind, raw=raw, status=c.status,
                   reason=c.reason, recipient=found.recipient, subscriber_id=found.subscriber_id,
                   delivery_id=found.delivery.id if found.delivery else None,
                   attribution=found.how, diagnostic=c.diagnostic)
