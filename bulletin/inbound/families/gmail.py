"""Gmail's plain-text reports (the older, non-DSN form, and Google Workspace relays):
"Delivery to the following recipient failed permanently:" (or "has been delayed"), then the
address on a line of its own, then "Technical details of permanent failure"."""

from __future__ import annotations

import re

from bulletin.inbound.families.base import Finding
from bulletin.inbound.families.textual import scan
from bulletin.inbound.message import Parsed

_MARKER = re.compile(r"delivery to the following recipients? (?:failed|has been delayed|"
                     r"was aborted)|delevery to the following|"
                     r"the response from the remote server was|"
                     r"google tried to deliver your message", re.IGNORECASE)


def detect(p: Parsed) -> Finding | None:
    if not _MARKER.search(p.report_text):
        return None
    return scan(p, "gmail", _MARKER, max_lines=12)
