"""bulletin's generic webhook, for providers other than SES: a JSON body signed with a
shared secret (BULLETIN_WEBHOOK_SECRET).

    X-Bulletin-Timestamp: 1765075200            (Unix seconds)
    X-Bulletin-Signature: sha256=HEX            HMAC-SHA256(secret, TIMESTAMP + "." + BODY)
    {"events": [{"type": "bounce" | "complaint", "recipient": "ann@example.org",
                 "bounce_type": "hard" | "soft", "status": "5.1.1", "diagnostic": "...",
                 "message_id": "<...>", "issue": "news/2026-12", "id": "provider's id"}]}

A body is refused whole (400, naming the first bad event's index and field, nothing recorded)
when any event is malformed, its recipient not an address included.

The timestamp is signed with the body and must be within TOLERANCE seconds of now, so a
captured request cannot be replayed later; signatures are compared in constant time. Only
`type` and `recipient` are required. Without `bounce_type`, a bounce is hard when the status
and diagnostic say the address is dead. An event's key is its `id` (else its own JSON): the
same event posted twice counts once. Without `message_id`, `issue` (as the ledger names it:
NEWSLETTER/STEM, the stem being the first part of the message's Feedback-ID) traces the event
to the message of that issue sent to `recipient`, if there is one (inbound.attribute)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ...store.addresses import InvalidAddress, normalise
from ..model import Classification
from ..reasons import find_status, is_hard, reason_for
from .model import Event, Malformed, Unauthenticated, event_key

TOLERANCE = 300
SIGNATURE_HEADER = "X-Bulletin-Signature"
TIMESTAMP_HEADER = "X-Bulletin-Timestamp"
MIN_SECRET = 16


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    type: Literal["bounce", "complaint"]
    recipient: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    bounce_type: Literal["hard", "soft"] | None = None
    status: str | None = Field(default=None, max_length=64)
    diagnostic: str | None = Field(default=None, max_length=2000)
    message_id: str | None = Field(default=None, max_length=1000)
    issue: str | None = Field(default=None, min_length=3, max_length=200, pattern=r"^[^/\s]+/\S+$")
    id: str | None = Field(default=None, min_length=1, max_length=500)


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    events: list[_Event] = Field(max_length=1000)


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature header's value for `body` sent at `timestamp`."""
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body,
                                hashlib.sha256).hexdigest()


def authenticate(secret: bytes, body: bytes, signature: str | None, timestamp: str | None,
                 now: float) -> None:
    """Raise Unauthenticated unless the headers sign `body` with `secret`, lately."""
    if not signature or not timestamp:
        raise Unauthenticated("signature missing")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise Unauthenticated("timestamp malformed")
    if abs(now - int(timestamp)) > TOLERANCE:
        raise Unauthenticated("timestamp too old (or in the future)")
    if not hmac.compare_digest(sign(secret, timestamp, body).encode(),
                               signature.strip().encode("utf-8", "replace")):
        raise Unauthenticated("signature does not verify")


def events(body: bytes) -> list[Event]:
    """The events of an (authenticated) body."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # nested too deeply, too
        raise Malformed("not JSON") from None
    try:
        parsed = _Body.model_validate(data)
    except ValidationError as exc:
        where = ".".join(str(p) for p in exc.errors()[0]["loc"])
        raise Malformed(f"{where}: {exc.errors()[0]['msg']}") from None
    for index, e in enumerate(parsed.events):
        try:
            normalise(e.recipient)
        except InvalidAddress as exc:  # its words name the address: keep only the reason
            reason = str(exc).rpartition(" is not a valid email address: ")[2]
            raise Malformed(f"events.{index}.recipient: not a valid email address "
                            f"({reason})") from None
    return [_event(e) for e in parsed.events]


def _event(e: _Event) -> Event:
    identity = e.id or hashlib.sha256(e.model_dump_json().encode()).hexdigest()
    key = event_key("events", identity, e.recipient.lower())
    original = {"Message-ID": e.message_id} if e.message_id else {}
    if e.type == "complaint":
        return Event(key, Classification("complaint", (e.recipient,), None, "abuse",
                                         e.diagnostic, "webhook", e.message_id, original,
                                         issue=e.issue))
    diagnostic = e.diagnostic or ""
    status = find_status(e.status or "") or find_status(diagnostic)
    reason = reason_for(status, diagnostic) if diagnostic or status else "unknown"
    hard = e.bounce_type == "hard" if e.bounce_type else is_hard(reason, status)
    return Event(key, Classification("hard" if hard else "soft", (e.recipient,), status,
                                     reason, e.diagnostic, "webhook", e.message_id, original,
                                     issue=e.issue))
