"""Attribution: which message of ours, and so which subscriber, an inbound message is about.

In order, the first that names a ledger row that exists wins:

1. VERP: the report was delivered to LOCAL+TOKEN@domain (the envelope sender of a newsletter
   with `verp = true`), TOKEN a delivery token (links.sign_delivery).
2. Message-ID: the quoted original's Message-ID (for an auto-reply, In-Reply-To or
   References) is <TOKEN.RANDOM@domain> (message.delivery_message_id).
3. For a provider's event (webhook) without a Message-ID of ours: the issue it names and its
   recipient, when that issue's ledger has a message sent to that address (the ledger row;
   else the event is not ours, and no other way is tried: an address alone never
   attributes a complaint).
4. The address: for a bounce, the failed recipient the report names, as a subscriber's
   address, but only when the quoted original is demonstrably ours (its Message-ID is in
   our format or at our domain, or its From, List-Id or List-Unsubscribe is a newsletter's:
   `Ours`); for an auto-reply, its From address (it changes nothing).

A token that is there but does not verify under BULLETIN_SECRET_KEY (forged, cut, from
another installation) attributes nothing at all: no other way is tried, since the report
is then someone else's or made up. A complaint (or a feedback loop's opt-out) needs a
verified token: anyone can send a feedback report naming anyone. An emailed unsubscribe
request is attributed by its unsubscribe token alone, never by its From address: anyone can
write any From."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from typing import Literal, Protocol

from .. import links
from ..errors import TokenError
from ..store.inbound import Delivery
from .model import Classification

How = Literal["verp", "message-id", "issue", "address", "token", "none"]
_MSGID = re.compile(r"<([^<>@\s]+)@[^<>\s]+>")
_OUR_MSGID = re.compile(r"<([a-z2-7]{17,29})\.[0-9a-f]{10}@([^<>\s]+)>", re.IGNORECASE)
_TOKEN_SHAPE = re.compile(r"[a-z2-7]{17,29}", re.IGNORECASE)


@dataclass(frozen=True)
class Ours:
    """What marks a quoted original as one of our newsletters' messages: their From
    addresses and domains, List-Id values and List-Unsubscribe targets (all lower-case)."""

    senders: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()
    list_ids: frozenset[str] = frozenset()
    unsubscribe: frozenset[str] = frozenset()

    def of(self, original: Mapping[str, str], message_id: str | None) -> bool:
        """Whether the quoted original (its selected headers) is one of ours."""
        ids = message_id or original.get("Message-ID") or ""
        if _OUR_MSGID.search(ids):
            return True
        if any(domain.lower() in self.domains for domain in re.findall(r"@([^<>\s]+)>", ids)):
            return True
        sender = {a.lower() for _, a in getaddresses([original.get("From", "")]) if a}
        if sender & self.senders:
            return True
        list_id = original.get("List-Id", "").lower()
        if any(f"<{x}>" in list_id for x in self.list_ids):
            return True
        unsubscribe = original.get("List-Unsubscribe", "").lower()
        return any(x in unsubscribe for x in self.unsubscribe)


class Lookups(Protocol):
    """What attribution asks the store (store.inbound answers)."""

    def delivery(self, delivery_id: int) -> Delivery | None: ...

    def subscriber_id(self, email: str) -> int | None: ...

    def sent(self, issue: str, email: str) -> Delivery | None: ...


@dataclass(frozen=True)
class Attribution:
    how: How
    subscriber_id: int | None = None
    delivery: Delivery | None = None
    recipient: str | None = None
    """The address the report is about, as it names it (else the delivery's)."""
    refused: str = ""
    """Why no one: set when a token was there and did not verify."""

    @property
    def found(self) -> bool:
        return self.subscriber_id is not None


NOBODY = Attribution("none")
FORGED = Attribution("none", refused="its token does not verify (forged, cut short, or "
                                     "signed by another installation)")


def verp_token(envelope_to: str | None) -> str | None:
    """The TOKEN of LOCAL+TOKEN@domain, if the address has one."""
    if not envelope_to:
        return None
    local = envelope_to.rpartition("@")[0]
    _, plus, token = local.rpartition("+")
    return token.strip() or None if plus else None


def message_id_tokens(text: str | None) -> list[str]:
    """The candidate delivery tokens in a Message-ID header (or several, as References
    holds): the first dot-separated part of each id's left side."""
    if not text:
        return []
    return [left.split(".", 1)[0] for left in _MSGID.findall(text)]


def delivery_id(token: str, key: bytes) -> int | None:
    """The ledger row a delivery token names, or None when it does not verify."""
    try:
        return links.verify_delivery(token, key)
    except TokenError:
        return None


def attribute(classification: Classification, raw: bytes, key: bytes,
              lookups: Lookups, ours: Ours | None = None) -> Attribution:
    """Who `classification` (of `raw`) is about, or NOBODY. `ours` says which quoted
    originals are our newsletters' (without it, only our Message-ID format does)."""
    c = classification
    if c.kind == "not-bounce":
        return NOBODY
    feedback = c.family == "arf"  # a complaint, or a feedback loop's opt-out
    if c.kind == "unsubscribe" and not feedback:
        return _unsubscriber(c.token, key)
    named = c.recipients[0] if c.recipients else None
    candidates: list[tuple[How, str]] = []
    verp = verp_token(c.envelope_to)
    if verp:
        candidates.append(("verp", verp))
    candidates += [("message-id", t) for t in message_id_tokens(c.original_message_id)]
    sender = None
    if c.kind == "auto-reply":
        head = BytesHeaderParser(policy=compat32).parsebytes(raw)
        for name in ("In-Reply-To", "References"):
            candidates += [("message-id", t) for t in message_id_tokens(str(head[name] or ""))]
        found = getaddresses([str(head["From"] or "")])
        sender = found[0][1] if found and "@" in found[0][1] else None
    verified: list[tuple[How, int]] = []
    for how, token in candidates:
        row = delivery_id(token, key)
        if row is not None:
            verified.append((how, row))
        elif (how == "verp" and _TOKEN_SHAPE.fullmatch(token)) or \
                (how == "message-id" and _is_our_format(token, c, raw)):
            return FORGED  # a token of ours that does not verify: forged, or not ours
    for how, row in verified:
        delivery = lookups.delivery(row)
        if delivery is not None:
            return Attribution(how, delivery.subscriber_id, delivery, named or delivery.email)
    if c.family == "webhook" and c.issue:
        delivery = lookups.sent(c.issue, named) if named else None
        if delivery is None:  # that issue never went to that address: not ours
            return Attribution("none", recipient=named)
        return Attribution("issue", delivery.subscriber_id, delivery, named)
    if feedback or c.kind not in ("hard", "soft", "auto-reply"):
        return Attribution("none", recipient=named)
    if c.kind != "auto-reply" and not (ours or Ours()).of(c.original_headers,
                                                          c.original_message_id):
        return Attribution("none", recipient=named)
    for recipient in [*c.recipients, *([sender] if sender else [])]:
        subscriber = lookups.subscriber_id(recipient)
        if subscriber is not None:
            return Attribution("address", subscriber, None, recipient)
    return Attribution("none", recipient=named)


def _is_our_format(token: str, c: Classification, raw: bytes) -> bool:
    """Whether `token` came from a Message-ID in our delivery format (TOKEN.HEX@domain)."""
    texts = [c.original_message_id or ""]
    if c.kind == "auto-reply":
        head = BytesHeaderParser(policy=compat32).parsebytes(raw)
        texts += [str(head["In-Reply-To"] or ""), str(head["References"] or "")]
    return any(found.group(1).lower() == token.lower()
               for text in texts for found in _OUR_MSGID.finditer(text))


def _unsubscriber(token: str | None, key: bytes) -> Attribution:
    """The subscriber an unsubscribe token names (the one-click link's token), if valid."""
    if not token:
        return NOBODY
    try:
        subject = links.verify(token, "unsubscribe", key, now=int(time.time()))
    except TokenError:
        return FORGED
    return Attribution("token", int(subject)) if subject.isdigit() else FORGED
