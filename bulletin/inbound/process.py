"""The use-case of one inbound message, whatever brought it (the MTA's pipe, an IMAP
mailbox, a webhook): classify, attribute, decide, record once.

    processed = process(store, workspace, raw, source="pipe")
    processed.ours        # False: not a bounce, complaint, auto-reply or unsubscribe request
                          # of ours; an IMAP intake leaves it where it is
    processed.duplicate   # True: recorded before; nothing changed now
    done = process_many(store, workspace, [raw, ...], source="imap")  # one transaction


Only messages that are ours are recorded (unrelated mail is never stored). The same message
(the same Message-ID, else the same bytes) is recorded and acted on once. A provider's
event (a webhook's bounce or complaint: bulletin.inbound.webhooks) comes already classified,
with its own key, and joins at `process_classified`; a webhook body's events join together at
`process_events`, recorded in one transaction or not at all. Raises
NotAnEmailError for bytes that are not an email, StoreError when the store cannot be used,
TokenError without BULLETIN_SECRET_KEY (tokens cannot be verified): the caller keeps the
message and tries again later.

`process_many` does a batch (an IMAP fetch's messages) with one transaction for all that are
ours: classifying and attributing are done first, message by message (one that fails is
reported as its error, the others go on), then everything is recorded together, so a
commit is paid once a batch and not once a message."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parseaddr

from .. import links
from ..errors import TokenError
from ..settings import Workspace
from ..store import Store
from ..store.errors import StoreError
from ..store.inbound import Arrival, Decide, Effect, Reads, Recorded
from ..store.models import now
from ..store.softbounces import SoftCount, SoftRule
from . import policy
from .attribute import Attribution, Ours, attribute
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
    note: str = ""
    """Why it is not ours, when that is worth saying (a token that does not verify)."""


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
    [done] = process_events(store, workspace, [(c, key)], evidence, source=source)
    return done


def process_events(store: Store, workspace: Workspace,
                   found: Sequence[tuple[Classification, str]], evidence: bytes, *,
                   source: str) -> list[Processed]:
    """`process_classified` for each of `found` (classification, key), which share their
    `evidence` (a webhook's body): all recorded in one transaction, or none. Raises
    StoreError and TokenError, and any error met with one of them: nothing of them is then
    recorded, so that the provider's retry of the whole body records each once."""
    if source not in SOURCES:
        raise ValueError(f"unknown inbound source {source!r}")
    marks = policy.ours(workspace)
    results: list[Processed | _Pending] = []
    with store.inbound.reads() as reads:  # closed before the batch is recorded
        seen = reads.seen_many([key for _, key in found])
        for c, key in found:
            results.append(_prepare(reads, workspace, marks, c, key, evidence, source,
                                    seen.get(key)))
    pending = [one for one in results if isinstance(one, _Pending)]
    recorded = iter(store.inbound.record_many([one.item for one in pending]) if pending else [])
    return [one if isinstance(one, Processed) else
            _done(one, next(recorded)) for one in results]


def _done(pending: _Pending, recorded: Recorded) -> Processed:
    return pending.done(recorded.duplicate, recorded.subscriber_id, recorded.action,
                        recorded.id)


def process_many(store: Store, workspace: Workspace, raws: Sequence[bytes], *,
                 source: str) -> list[Processed | Exception]:
    """`process` for each of `raws`, what is ours recorded in one transaction: for each,
    what became of it, or the error that kept it from being processed (not an email, a
    bug). Raises StoreError (nothing of the batch recorded) and TokenError."""
    results: list[Processed | Exception] = []
    pending: list[tuple[int, _Pending]] = []
    addresses, marks = unsubscribe_addresses(workspace), policy.ours(workspace)
    classified: list[tuple[Classification, str] | Exception] = []
    for raw in raws:
        try:
            classified.append((classify(raw, unsubscribe_addresses=addresses),
                               message_key(raw)))
        except Exception as exc:  # this message alone; the caller leaves it in place
            classified.append(exc)
    with store.inbound.reads() as reads:  # closed before the batch is recorded
        seen = reads.seen_many([one[1] for one in classified if not isinstance(one, Exception)])
        for raw, one in zip(raws, classified, strict=True):
            try:
                if isinstance(one, Exception):
                    raise one
                c, key = one
                prepared = _prepare(reads, workspace, marks, c, key, raw, source, seen.get(key))
            except (StoreError, TokenError):
                raise
            except Exception as exc:  # this message alone; the caller leaves it in place
                results.append(exc)
                continue
            if isinstance(prepared, _Pending):
                pending.append((len(results), prepared))
            results.append(prepared if isinstance(prepared, Processed) else
                           Processed(c.kind, True, False, None, "ignored"))
    if pending:
        recorded = store.inbound.record_many([item.item for _, item in pending])
        for (index, item), done in zip(pending, recorded, strict=True):
            results[index] = _done(item, done)
    return results


@dataclass(frozen=True)
class _Pending:
    """A message ready to be recorded: what to record, and how to say what became of it."""

    item: tuple[Arrival, SoftRule, Decide]
    c: Classification
    how: str

    def done(self, duplicate: bool, subscriber_id: int | None, action: str,
             inbound_id: int) -> Processed:
        return Processed(self.c.kind, True, duplicate, subscriber_id, action, inbound_id,
                         self.how if not duplicate else "none", self.c)


def _prepare(reads: Reads, workspace: Workspace, marks: Ours, c: Classification, key: str,
             evidence: bytes, source: str, seen: Recorded | None) -> Processed | _Pending:
    """Attribute `c` and decide its rules: a Processed when there is nothing to record (not
    ours, or recorded before), else what to record."""
    if source not in SOURCES:
        raise ValueError(f"unknown inbound source {source!r}")
    if c.kind == "not-bounce":
        return Processed(c.kind, False, False, None, "ignored", classification=c)
    if seen is not None:
        return Processed(c.kind, True, True, seen.subscriber_id, seen.action, seen.id,
                         classification=c)
    found = attribute(c, evidence, links.secret_key(), reads, marks)
    if not found.found:
        return Processed(c.kind, False, False, None, "ignored", classification=c,
                         note=found.refused)
    issue = found.delivery.issue if found.delivery else None
    rules = policy.rules_for(workspace, issue, c.envelope_to)
    soft = policy.soft_rule(rules, now(), policy.newsletter_of(workspace, issue,
                                                               c.envelope_to))

    def decide(softs: SoftCount) -> Effect:
        return policy.decide(c, softs, rules)

    return _Pending((_arrival(key, source, c, evidence, found), soft, decide), c, found.how)


def original_of(c: Classification, found: Attribution) -> str | None:
    """What identifies the message a report is about: its ledger row, else a hash of the
    Message-ID it quotes; None when it names neither (it then counts as a message of its
    own)."""
    if found.delivery is not None:
        return f"delivery:{found.delivery.id}"
    quoted = (c.original_message_id or "").strip()
    if not quoted:
        return None
    return hashlib.sha256(b"message-id:" + quoted.encode("utf-8", "replace")).hexdigest()


def _arrival(key: str, source: str, c: Classification, raw: bytes,
             found: Attribution) -> Arrival:
    return Arrival(key=key, source=source, kind=c.kind, raw=raw, status=c.status,
                   reason=c.reason, recipient=found.recipient, subscriber_id=found.subscriber_id,
                   delivery_id=found.delivery.id if found.delivery else None,
                   attribution=found.how, diagnostic=c.diagnostic,
                   issue=found.delivery.issue if found.delivery else None,
                   original=original_of(c, found))
