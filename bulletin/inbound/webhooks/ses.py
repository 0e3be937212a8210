"""Amazon SES notifications (the Message of an SNS Notification): each bounced or
complained-about recipient becomes one classified Event.

    Bounce      bounceType Permanent: hard, unless the server's words name a reason that is
                not about the address (a full mailbox, spam, a block: soft, as for email);
                Transient: soft; Undetermined: hard only when the words say the address
                is dead. Each of bouncedRecipients with its status and diagnosticCode.
    Complaint   each of complainedRecipients, complaintFeedbackType as the reason.
    Delivery and anything else: nothing.

The message is traced as an email's report is (inbound.attribute): by the original's own
Message-ID (in mail.headers; SES's messageId is its own and names nothing of ours), by the
envelope sender mail.source (VERP), and by the recipient's address, the original's From,
List-Id and List-Unsubscribe kept to tell that it was ours. Each event's key is the SNS
MessageId with the recipient, so that the same notification delivered again records nothing
new."""

from __future__ import annotations

import json
from typing import Any

from ..model import Classification, Kind
from ..reasons import find_status, is_hard, reason_for
from .model import Event, event_key
from .sns import Envelope

QUOTED = ("From", "List-Id", "List-Unsubscribe")
"""The original's headers (mail.headers) kept, with its Message-ID, to tell it is ours."""
SUBTYPE_REASONS = {"NoEmail": "user-unknown", "MailboxFull": "mailbox-full",
                   "MessageTooLarge": "too-large", "ContentRejected": "spam-rejected",
                   "AttachmentRejected": "policy"}


def _strings(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def events(envelope: Envelope) -> list[Event]:
    """The bounces and complaints in an SNS Notification from SES ([] for anything else)."""
    try:
        note = json.loads(envelope.message)
    except (ValueError, RecursionError):
        return []
    if not isinstance(note, dict):
        return []
    kind = note.get("notificationType") or note.get("eventType")
    mail = _strings(note.get("mail"))
    headers = {str(h.get("name", "")).lower(): str(h.get("value", ""))
               for h in _list(mail.get("headers")) if isinstance(h, dict)}
    common = _strings(mail.get("commonHeaders"))
    original = headers.get("message-id") or _text(common.get("messageId"))
    quoted = {name: headers[name.lower()] for name in QUOTED if headers.get(name.lower())}
    if original:
        quoted["Message-ID"] = original
    context: dict[str, Any] = {"original_message_id": original, "original_headers": quoted,
                               "envelope_to": _text(mail.get("source")), "family": "ses"}
    found: list[tuple[str, Classification]] = []
    if kind == "Bounce":
        bounce = _strings(note.get("bounce"))
        for r in _list(bounce.get("bouncedRecipients")):
            address = _text(_strings(r).get("emailAddress"))
            if address:
                found.append((address, _bounce(bounce, _strings(r), address, context)))
    elif kind == "Complaint":
        complaint = _strings(note.get("complaint"))
        feedback = _text(complaint.get("complaintFeedbackType")) or "abuse"
        for r in _list(complaint.get("complainedRecipients")):
            address = _text(_strings(r).get("emailAddress"))
            if address:
                found.append((address, Classification(
                    "complaint", (address,), None, feedback,
                    f"feedback-type: {feedback} (SES)", **context)))
    return [Event(event_key("sns", envelope.message_id, str(i), address.lower()), c)
            for i, (address, c) in enumerate(found)]


def _bounce(bounce: dict[str, Any], recipient: dict[str, Any], address: str,
            context: dict[str, Any]) -> Classification:
    diagnostic = _text(recipient.get("diagnosticCode")) or ""
    status = _text(recipient.get("status"))
    status = find_status(status) if status else find_status(diagnostic)
    reason = reason_for(status, diagnostic) if diagnostic or status else "unknown"
    if reason == "unknown":
        reason = SUBTYPE_REASONS.get(str(bounce.get("bounceSubType")), reason)
    bounce_type = bounce.get("bounceType")
    hard: bool
    if bounce_type == "Permanent":
        hard = reason == "unknown" or is_hard(reason, status, True)
    elif bounce_type == "Transient":
        hard = False
    else:
        hard = is_hard(reason, status)
    kind: Kind = "hard" if hard else "soft"
    return Classification(kind, (address,), status, reason, diagnostic or None, **context)
