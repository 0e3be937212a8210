"""Feedback reports (ARF, RFC 5965): a multipart/report with report-type=feedback-report and
a message/feedback-report part, sent by mailbox providers' feedback loops when a person
marks a message as spam. The complained-about address is the Original-Rcpt-To field, or the
To of the quoted original. Feedback-Type abuse, fraud, virus or other is a complaint; opt-out
is an unsubscribe request; not-spam and auth-failure reports change nothing for the person.

Microsoft's feedback loop (JMRP, for Outlook.com and Hotmail) does not use ARF: it sends the
complained-about message as a message/rfc822 attachment, subject "complaint about message
from <IP>", naming the recipient in X-HmXmrOriginalRecipient; `jmrp` reads that form."""

from __future__ import annotations

import re

from bulletin.inbound.families.base import Failure, Finding
from bulletin.inbound.message import (
    Parsed,
    addresses_in,
    content_type,
    header,
    part_text,
    report_fields_text,
)
from bulletin.inbound.model import Kind

_FIELD = re.compile(r"^([A-Za-z][\w-]*)[ \t]*:[ \t]*(.*)$", re.MULTILINE)


def _fields(p: Parsed) -> dict[str, list[str]] | None:
    for part in p.msg.walk() if p.msg.is_multipart() else []:
        if content_type(part) != "message/feedback-report":
            continue
        payload = part.get_payload()
        text = report_fields_text(part, payload)
        if text is None and isinstance(payload, list):
            text = "\n".join(f"{k}: {v}" for block in payload if hasattr(block, "items")
                             for k, v in block.items())
        elif text is None:
            text = part_text(part)
        found: dict[str, list[str]] = {}
        for name, value in _FIELD.findall(text):
            found.setdefault(name.lower(), []).append(value.strip())
        return found
    return None


def detect(p: Parsed) -> Finding | None:
    try:
        report_type = str(p.msg.get_param("report-type") or "")
    except Exception:
        report_type = ""
    fields = _fields(p)
    if fields is None and report_type.lower() != "feedback-report":
        return None
    fields = fields or {}
    feedback = (fields.get("feedback-type") or ["abuse"])[0].lower()
    recipients: list[str] = []
    for value in fields.get("original-rcpt-to", []) + fields.get("removal-recipient", []):
        recipients.extend(addresses_in(value))
    original = p.original
    if not recipients and original is not None:
        recipients = addresses_in(header(original, "To"))
    failures = [Failure(address=a, action="feedback") for a in dict.fromkeys(recipients)]
    kind: Kind
    if feedback == "opt-out":
        kind = "unsubscribe"
    elif feedback in ("not-spam", "auth-failure"):
        kind = "not-bounce"
    else:
        kind = "complaint"
    return Finding(family="arf", failures=failures, kind=kind,
                   diagnostic=f"feedback-type: {feedback}")


_JMRP_SUBJECT = re.compile(r"^\s*complaint about message from\b", re.IGNORECASE)


def jmrp(p: Parsed) -> Finding | None:
    """Microsoft's non-ARF complaint (JMRP)."""
    original = p.original
    if original is None:
        return None
    marker = header(original, "X-HmXmrOriginalRecipient")
    if not (marker or _JMRP_SUBJECT.search(p.subject)):
        return None
    recipients = addresses_in(marker) or addresses_in(header(original, "To"))
    return Finding(family="arf", kind="complaint", diagnostic="feedback-type: abuse (JMRP)",
                   failures=[Failure(address=a, action="feedback")
                             for a in dict.fromkeys(recipients)])
