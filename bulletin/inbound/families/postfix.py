"""Postfix reports without a delivery-status part (old versions, or the part stripped):
"This is the Postfix program at host ...", then "<user@domain>: host ... said: 550 ..."."""

from __future__ import annotations

import re

from bulletin.inbound.families.base import Finding
from bulletin.inbound.families.textual import scan
from bulletin.inbound.message import Parsed

_MARKER = re.compile(r"this is the [\w .()/-]{0,60}program at host|"
                     r"i'm sorry to have to inform you that (?:the|your) message",
                     re.IGNORECASE)
_BLOCK = re.compile(r"^[ \t]*+<[^>\s]+@[^>\s]+>(?: \(expanded from <[^>]+>\))?:",
                    re.MULTILINE)


def detect(p: Parsed) -> Finding | None:
    if not _MARKER.search(p.report_text):
        return None
    return scan(p, "postfix", _BLOCK, max_lines=60)
