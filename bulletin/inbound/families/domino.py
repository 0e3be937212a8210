"""Lotus/HCL Domino: "Your message\n  Subject: ...\nwas not delivered to:\n\n  user@domain\n
because: ...", usually with the subject "DELIVERY FAILURE: ..."."""

from __future__ import annotations

import re

from bulletin.inbound.families.base import Finding
from bulletin.inbound.families.textual import scan
from bulletin.inbound.message import Parsed

_MARKER = re.compile(r"was not delivered to:|delivery failure:|lotus|domino", re.IGNORECASE)
_BLOCK = re.compile(r"was not delivered to:", re.IGNORECASE)


def detect(p: Parsed) -> Finding | None:
    if not (_MARKER.search(p.report_text) and (_BLOCK.search(p.report_text)
                                               or "DELIVERY FAILURE" in p.subject)):
        return None
    return scan(p, "domino", _BLOCK, max_lines=8)
