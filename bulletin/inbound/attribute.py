"""Attribution: which message of ours, and so which subscriber, an inbound message is about.

In order, the first that names a ledger row that exists wins:

1. VERP: the report was delivered to LOCAL+TOKEN@domain (the envelope sender of a newsletter
   with `verp = true`), TOKEN a delivery token (links.sign_delivery).
2. Message-ID: the quoted original's Message-ID (for an auto-reply, In-Reply-To or
   References) is <TOKEN.RANDOM@domain> (message.delivery_message_id).
3. The address: the failed (or complained-about) recipient the report names, as a
   subscriber's address; for an auto-reply, its From address (it changes nothing).

A token that does not verify under BULLETIN_SECRET_KEY (forged, cut, from another
installation) attributes nothing; the next way is tried. An emailed unsubscribe request is
attributed by its unsubscribe token alone, never by its From address: anyone can write any
From."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from typing import Literal, Protocol

from .. import links
from ..errors import TokenError
from ..store.inbound import Delivery
from .model import Classification

How = Literal["verp", "message-id", "address", "token", "none"]
_MSGID = re.compile(r"<([^<>@\s]+)@[^<>\s]+>")


class Lookups(Protocol):
    """What attribution asks the store (store.inbound answers)."""

    def delivery(self, delivery_id: int) -> Delivery | None: ...

    def subscriber_id(self, email: str) -> int | None: ...


@dataclass(frozen=True)
class Attribution:
    how: How
    subscriber_id: int | None = None
    delivery: Delivery | None = None
    recipient: str | None = None
    """The address the report is about, as it names it (else the delivery's)."""

    @property
    def found(self) -> bool:
        return self.subscriber_id is not None


NOBODY = Attribution("none")


def verp_token(envelope_to: str | None) -> str | None:
    """The TOKEN of LOCAL+TOKEN@domain, if the address has one."""
    if not envelope_to:
        return None
    local = envelope_to.rpartition("@")[0]
    _, plus, token = local.partition("+")
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
              lookups: Lookups) -> Attribution:
    """Who `classification` (of `raw`) is about, or NOBODY."""
    c = classification
    if c.kind == "not-bounce":
        return NOBODY
    if c.kind == "unsubscribe":
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
    for how, token in candidates:
        row = delivery_id(token, key)
        delivery = None if row is None else lookups.delivery(row)
        if delivery is not None:
            return Attribution(how, delivery.subscriber_id, delivery, named or delivery.email)
    for recipient in [*c.recipients, *([sender] if sender else [])]:
        subscriber = lookups.subscriber_id(recipient)
        if subscriber is not None:
            return Attribution("address", subscriber, None, recipient)
    return Attribution("none", recipient=named)


def _unsubscriber(token: str | None, key: bytes) -> Attribution:
    """The subscriber an unsubscribe token names (the one-click link's token), if valid."""
    if not token:
        return NOBODY
    try:
        subject = links.verify(token, "unsubscribe", key, now=int(time.time()))
    except TokenError:
        return NOBODY
    return Attribution("token", int(subject)) if subject.isdigit() else NOBODY
