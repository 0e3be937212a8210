"""Yahoo's reports: "Sorry, we were unable to deliver your message to the following address."
or "Message from yahoo.com. Unable to deliver message to the following address(es).", then
"<user@domain>:" and the remote answer, one block per failed address."""

from __future__ import annotations

import re

from bulletin.inbound.families.base import Finding
from bulletin.inbound.families.textual import scan
from bulletin.inbound.message import Parsed

_MARKER = re.compile(r"unable to deliver (?:your )?message to the following address|"
                     r"message from\s+yahoo\.|yahoo! ?mail", re.IGNORECASE)


def detect(p: Parsed) -> Finding | None:
    if not _MARKER.search(p.report_text):
        return None
    return scan(p, "yahoo", _MARKER, max_lines=400)
