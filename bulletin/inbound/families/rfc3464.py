"""Standard delivery status notifications (RFC 3464): a multipart/report whose
message/delivery-status part has one block of fields per recipient (Final-Recipient,
Original-Recipient, Action, Status, Diagnostic-Code). Every modern MTA (Postfix, Exim,
Sendmail, Exchange, Gmail, Amazon SES, ...) sends these; the Original-Recipient (what the
sender wrote) is preferred to the Final-Recipient (after aliasing) when both are there."""

from __future__ import annotations

import email.message
import re

from bulletin.inbound.families.base import (
    Exclusions,
    Failure,
    Finding,
    candidates,
    failure_details,
    permanence,
)
from bulletin.inbound.message import (
    Parsed,
    addresses_in,
    bytes_text,
    content_type,
    decode_header,
    headers,
    normalise_address,
    part_text,
    report_fields_text,
)
from bulletin.inbound.reasons import find_status

_DSN_TYPES = ("message/delivery-status", "message/global-delivery-status")
MOST = 1000
"""Recipients read from one report, at most: one of our messages has one recipient, and
servers take a few hundred a message; a report naming tens of thousands is cut here rather
than costing the mailbox's pass a minute."""
_FIELD = re.compile(r"^([A-Za-z][\w-]*)[ \t]*:[ \t]*(.*)$")


def _blocks(part: email.message.Message) -> list[dict[str, str]]:
    """The field blocks of a delivery-status part (the first is the per-message block)."""
    payload = part.get_payload()
    encoded = report_fields_text(part, payload)
    if encoded is not None:
        text = encoded
    elif isinstance(payload, list):
        chunks = []
        for block in payload:
            if not isinstance(block, email.message.Message):
                continue
            lines = [f"{k}: {decode_header(v)}" for k, v in block.items()]
            # Its bytes as sent (get_payload() without decode replaces 8-bit ones), read as
            # UTF-8: message/global-delivery-status names recipients in it.
            rest = block.get_payload(decode=True)
            if isinstance(rest, bytes) and b":" in rest:
                lines.append(bytes_text(rest))
            chunks.append("\n".join(lines))
        text = "\n\n".join(chunks)
    else:
        text = part_text(part)
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = ""
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            if current:
                blocks.append(current)
                current, last = {}, ""
            continue
        if line[:1] in (" ", "\t") and last:
            current[last] += " " + line.strip()
            continue
        found = _FIELD.match(line)
        if found:
            last = found.group(1).lower()
            current.setdefault(last, found.group(2).strip())
    if current:
        blocks.append(current)
    return blocks


def _address(value: str) -> str:
    """The address in a recipient field ("rfc822; <a@b.example> (comment)")."""
    value = value.split(";", 1)[1] if ";" in value else value
    found = addresses_in(value)
    return found[0] if found else normalise_address(value.strip())


def detect(p: Parsed) -> Finding | None:
    parts = [part for part in p.msg.walk() if content_type(part) in _DSN_TYPES] \
        if p.msg.is_multipart() else []
    if not parts:
        return None
    failures: list[Failure] = []
    unnamed: list[Failure] = []
    seen: set[str] = set()
    for part in parts:
        for block in _blocks(part)[:MOST + 1]:
            raw = block.get("original-recipient") or block.get("final-recipient") \
                or block.get("x-actual-recipient") or ""
            address = _address(raw)
            if "@" not in address or address.lower() in seen:
                if "@" not in address and block.get("final-recipient"):
                    address = _address(block["final-recipient"])
                if "@" not in address or address.lower() in seen:
                    if "@" not in address and ("final-recipient" in block
                                               or "original-recipient" in block):
                        unnamed.append(_failure("", block))  # "Final-Recipient: rfc822;"
                    continue
            seen.add(address.lower())
            failures.append(_failure(address, block))
    if not failures:
        # A report whose status part names no recipient: look in the human-readable text,
        # else take the one recipient of the quoted original.
        exclusions = Exclusions.of(p)
        found = candidates(p.report_text, exclusions) or _original_recipient(p, exclusions)
        if not found:
            return None
        told = unnamed[0] if len(unnamed) == 1 else None
        for address in found[:50]:
            status, diagnostic = failure_details(p.report_text, address)
            if told is not None:
                failures.append(Failure(address=address, status=told.status or status,
                                        diagnostic=told.diagnostic or diagnostic,
                                        action=told.action))
            else:
                failures.append(Failure(address=address, status=status,
                                        diagnostic=diagnostic))
    for failure in failures:
        if not failure.diagnostic:
            failure.diagnostic = failure_details(p.report_text, failure.address)[1]
    return Finding(family="rfc3464", failures=failures, permanent=permanence(p.report_text))


def _failure(address: str, block: dict[str, str]) -> Failure:
    """The failure one per-recipient block describes."""
    diagnostic = block.get("diagnostic-code", "")
    diagnostic = diagnostic.split(";", 1)[1].strip() if ";" in diagnostic[:12] \
        else diagnostic
    status = find_status(block.get("status", "")) or find_status(diagnostic)
    specific = find_status(diagnostic)
    if status and status.endswith(".0.0") and specific and \
            specific[0] == status[0] and not specific.endswith(".0.0"):
        status = specific  # "Status: 5.0.0" with "550 5.1.1 ..." in the diagnostic
    words = block.get("action", "failed").strip().lower().split()
    action = words[0] if words else "failed"
    if action not in ("delayed", "delivered", "relayed", "expanded"):
        action = "failed"
    return Failure(address=address, status=status, diagnostic=diagnostic, action=action)


def _original_recipient(p: Parsed, exclusions: Exclusions) -> list[str]:
    """The quoted original's recipient, when it had exactly one (a newsletter's message
    has one): who an empty Final-Recipient was about."""
    original = p.original
    if original is None:
        return []
    found = {a.lower(): a for name in ("To", "Cc") for value in headers(original, name)
             for a in addresses_in(value) if exclusions.allows(a, strict=False)}
    return list(found.values()) if len(found) == 1 else []

