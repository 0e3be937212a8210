"""Classify one inbound message: hard or soft bounce, complaint, auto-reply, unsubscribe
request, or none of these. Pure: bytes in, a Classification out; no store, no network.

The order is the decision: a feedback report (ARF) first, since it quotes our message and
would look like a bounce; then a person forwarding mail ("Fwd:", From a person) is never a
bounce, whatever report it quotes (only an unsubscribe request); then a standard DSN (RFC
3464); then an emailed unsubscribe request; then auto-replies (never bounces, so they are
recognised before any bounce-body heuristic can misread an out-of-office text); then the
named non-standard MTA formats; then the heuristic. Parsing says who failed and what the
server said; `reasons` alone decides hard or soft."""

from __future__ import annotations

import re
from dataclasses import replace

from bulletin.inbound.families import (
    BOUNCE_FAMILIES,
    arf,
    autoreply,
    challenge,
    heuristic,
    rfc3464,
    unsubscribe,
)
from bulletin.inbound.families.base import (
    BOUNCE_SUBJECT,
    Failure,
    Finding,
    forwarded_by_person,
    is_daemon,
    looks_like_report,
)
from bulletin.inbound.message import Parsed, addresses_in, header, headers, parse_bytes
from bulletin.inbound.model import Classification, Kind
from bulletin.inbound.reasons import find_status, is_hard, reason_for

_ORIGINAL_HEADERS = ("To", "Cc", "From", "Subject", "Message-ID", "List-Id", "List-Unsubscribe",
                     "Feedback-ID", "Date")
# Horizontal white space only: "^\s*" under MULTILINE would rescan every blank line after
# each line start (quadratic in a report of many blank lines).
_MESSAGE_ID = re.compile(r"^[ \t]*+message-id:[ \t]*+(<[^>\s]{3,250}>)",
                         re.IGNORECASE | re.MULTILINE)


def classify(message: bytes, *, unsubscribe_addresses: tuple[str, ...] = ()) -> Classification:
    """The classification of one message. Raises NotAnEmailError (a BulletinError) for bytes
    that are not an email at all; never anything else.

    `unsubscribe_addresses`, when given, are the addresses that take emailed unsubscribe
    requests: a message saying "unsubscribe" counts only when sent to one of them."""
    msg = parse_bytes(message)
    try:
        return _classify(Parsed.of(msg), unsubscribe_addresses)
    except RecursionError:
        return Classification(kind="not-bounce", family="unreadable")


def _classify(p: Parsed, unsubscribe_addresses: tuple[str, ...]) -> Classification:
    finding = arf.detect(p) or arf.jmrp(p)
    if finding is None and forwarded_by_person(p):  # never a bounce, whatever it quotes
        finding = unsubscribe.detect(p, unsubscribe_addresses)
        return _assemble(p, finding) if finding else replace(_context(p), family="forwarded",
                                                              reason="forwarded")
    finding = (finding or rfc3464.detect(p)
               or unsubscribe.detect(p, unsubscribe_addresses) or autoreply.detect(p))
    if finding is None and looks_like_report(p):
        for family in BOUNCE_FAMILIES:
            finding = family(p)
            if finding is not None:
                break
    if finding is None:
        finding = heuristic.detect(p)
    if finding is not None and finding.kind is None:
        finding = challenge.detect(p, finding) or finding
    return _assemble(p, finding)


def _assemble(p: Parsed, finding: Finding | None) -> Classification:
    base = _context(p)
    if finding is None:
        return base
    recipients = tuple(dict.fromkeys(f.address for f in finding.failures))
    if finding.kind is not None:
        return replace(base, kind=finding.kind, recipients=recipients, family=finding.family,
                       diagnostic=finding.diagnostic or None, token=finding.token)
    failed = [f for f in finding.failures if f.action in ("failed", "")] or \
        [f for f in finding.failures if f.action == "delayed"]
    if finding.failures and not failed:
        # Success, relay or expansion notices: nothing failed, no one to name.
        return replace(base, family=finding.family)
    first = failed[0] if failed else Failure(address="", diagnostic=p.report_text[:500])
    status = first.status or find_status(p.report_text[:5000])
    diagnostic = first.diagnostic or finding.diagnostic
    reason = reason_for(status, diagnostic or p.report_text[:3000])
    if reason == "unknown":
        reason = reason_for(status, p.report_text[:5000])
    delayed = all(f.action == "delayed" for f in failed) and bool(failed)
    permanent = False if delayed else finding.permanent
    if delayed:
        reason = "delayed"  # whatever the cause: still being tried, so nothing failed yet
    kind: Kind = "hard" if is_hard(reason, status, permanent) else "soft"
    if kind == "hard" and finding.family == "heuristic" and not (
            is_daemon(p.sender) or (header(p.msg, "Return-Path").strip() == "<>"
                                    and BOUNCE_SUBJECT.search(p.subject))):
        # A guess from words alone never suppresses anyone: it takes a report's sender, or
        # a report's subject with an empty Return-Path (which auto-responders use too).
        kind = "soft"
    return replace(base, kind=kind, recipients=tuple(dict.fromkeys(f.address for f in failed)),
                   status=status, reason=reason, diagnostic=diagnostic or None,
                   family=finding.family)


def _context(p: Parsed) -> Classification:
    """A not-bounce classification with the fields every classification carries: the quoted
    original and the envelope."""
    original = p.original
    selected: dict[str, str] = {}
    if original is not None:
        for name in _ORIGINAL_HEADERS:
            value = header(original, name)
            if value:
                selected[name] = value
        for name in dict.fromkeys(k for k in original if k.lower().startswith("x-")):
            value = header(original, name)
            if value:
                selected[name] = value[:500]
    message_id = selected.get("Message-ID")
    if not message_id:
        found = _MESSAGE_ID.search(p.text[p.text.lower().find("message-id"):]
                                   if "message-id" in p.text.lower() else "")
        message_id = found.group(1) if found else None
    # Where the report was delivered, closest to the envelope first: Postfix's X-Original-To
    # (before alias expansion), the earliest Delivered-To (each hop prepends one), Exim's
    # Envelope-To, then To. A VERP address (bounces+TOKEN@) survives in these.
    envelope = None
    for name, last in (("X-Original-To", False), ("Delivered-To", True),
                       ("Envelope-To", False), ("To", False)):
        values = [a for v in headers(p.msg, name) for a in addresses_in(v)]
        if values:
            envelope = values[-1] if last else values[0]
            break
    return Classification(kind="not-bounce", family="none", original_message_id=message_id,
                          original_headers=selected, envelope_to=envelope)
