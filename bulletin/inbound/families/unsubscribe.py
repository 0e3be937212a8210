"""Unsubscribe requests sent by email: the List-Unsubscribe mailto form (subject
"unsubscribe TOKEN") and people writing "unsubscribe" to the list's unsubscribe address. The
token is taken from the subject or from the To local part (unsubscribe+TOKEN@, or a VERP-like
opt-out-TOKEN@). The From address is never taken as the person to unsubscribe: anyone can
write any From, so the token, verified by whoever acts on the request, is the only identity."""

from __future__ import annotations

import re

from bulletin.inbound.families.base import Finding
from bulletin.inbound.message import Parsed, addresses_in, header, headers

_SUBJECT = re.compile(r"^\s*(?:re:\s*)?unsubscribe\b[\s:]*(?P<token>[\w.~=+/-]{6,200})?\s*$",
                      re.IGNORECASE)
_BODY = re.compile(r"^\s*unsubscribe\b", re.IGNORECASE)
_LOCAL = re.compile(r"^(?:unsubscribe|unsub|opt-?out|leave|remove)(?:[+-](?P<token>[\w.=~-]+))?$",
                    re.IGNORECASE)


def detect(p: Parsed, addresses: tuple[str, ...] = ()) -> Finding | None:
    """An unsubscribe request, when the subject or the first body line says "unsubscribe"
    and (if `addresses` are given) it was sent to one of them."""
    to = [a for name in ("Delivered-To", "X-Original-To", "To", "Envelope-To")
          for value in headers(p.msg, name) for a in addresses_in(value)]
    if addresses:
        wanted = {a.lower() for a in addresses}
        def base(a: str) -> str:
            local, _, domain = a.lower().rpartition("@")
            return f"{local.split('+', 1)[0]}@{domain}"
        if not any(a.lower() in wanted or base(a) in wanted for a in to):
            return None
    subject = _SUBJECT.match(p.subject)
    body_lines = [line for line in p.report_text.splitlines() if line.strip()][:3]
    by_body = bool(body_lines) and bool(_BODY.match(body_lines[0])) and len(p.report_text) < 2000
    local_token = None
    for address in to:
        local = address.rpartition("@")[0]
        found = _LOCAL.match(local)
        if found:
            local_token = found.group("token")
            break
    apple = header(p.msg, "X-Apple-Unsubscribe").lower() == "true"
    if not (subject or by_body or apple):
        return None
    token = (subject.group("token") if subject else None) or local_token
    # No recipients: the From address proves nothing, so the request names no one; the token
    # (verified by whoever acts on it) is its only identity.
    return Finding(family="unsubscribe", kind="unsubscribe", token=token,
                   diagnostic=p.subject[:200])
