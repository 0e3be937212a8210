"""Exim: "This message was created automatically by mail delivery software." then
"The following address(es) failed:" and each address indented, with the X-Failed-Recipients
header naming them all (used first: it survives rewording and translations)."""

from __future__ import annotations

import re

from bulletin.inbound.families.base import Finding, failures_from, permanence
from bulletin.inbound.families.textual import scan
from bulletin.inbound.message import Parsed, addresses_in, header

_MARKER = re.compile(r"created automatically by mail delivery software|"
                     r"following address(?:es|\(es\))? failed|x-failed-recipients",
                     re.IGNORECASE)
_BLOCK = re.compile(r"following address(?:es|\(es\))?\s+(?:failed|"
                    r"(?:has|have) not yet been delivered)|"
                    r"could not be delivered to (?:one or more|all)|"
                    r"has not yet been delivered to", re.IGNORECASE)


def detect(p: Parsed) -> Finding | None:
    failed = header(p.msg, "X-Failed-Recipients")
    if failed:
        # The header names exactly the failed addresses: no exclusions needed.
        found = list(dict.fromkeys(addresses_in(failed)))
        if found:
            return Finding(family="exim", failures=failures_from(found, p.report_text),
                           permanent=permanence(p.report_text))
    if not _MARKER.search(p.report_text):
        return None
    return scan(p, "exim", _BLOCK, max_lines=30)
