"""The shared shape of the non-standard, plain-text bounce formats: a family is recognised by
a marker in the report text (or its sender), and its failed recipients are the addresses in
the block that follows its "these addresses failed" line. Each MTA module declares its
markers and calls `scan`; the formats differ in wording, not in structure."""

from __future__ import annotations

import re

from bulletin.inbound.families.base import (
    Exclusions,
    Finding,
    block_after,
    candidates,
    failures_from,
    permanence,
)
from bulletin.inbound.message import Parsed, addresses_in, header


def scan(p: Parsed, family: str, block_start: re.Pattern[str] | None = None,
         max_lines: int = 40, text: str | None = None) -> Finding | None:
    """The failures named after `block_start` (or anywhere in the report text)."""
    text = p.report_text if text is None else text
    exclusions = Exclusions.of(p)
    block = block_after(text, block_start, max_lines) if block_start else ""
    found = candidates(block, exclusions) if block else []
    if not found:
        found = candidates(text, exclusions)
    if not found:
        failed = header(p.msg, "X-Failed-Recipients")
        found = [a for a in addresses_in(failed) if exclusions.allows(a)]
    if not found:
        return None
    return Finding(family=family, failures=failures_from(found[:100], block or text),
                   permanent=permanence(text))
