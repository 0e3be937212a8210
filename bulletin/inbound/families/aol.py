"""AOL's reports: "Your mail to the following recipients could not be delivered because ...",
naming bare screen names (which are @aol.com addresses), one per line."""

from __future__ import annotations

import re

from bulletin.inbound.families.base import Exclusions, Finding, failures_from, permanence
from bulletin.inbound.families.textual import scan
from bulletin.inbound.message import Parsed

_MARKER = re.compile(r"your mail to the following recipients could not be delivered",
                     re.IGNORECASE)
_SCREEN_NAME = re.compile(r"[A-Za-z][\w.]{1,40}")


def detect(p: Parsed) -> Finding | None:
    found = _MARKER.search(p.report_text)
    if not found:
        return None
    names = []
    for line in p.report_text[found.end():].splitlines()[1:12]:
        word = line.strip()
        if _SCREEN_NAME.fullmatch(word):
            names.append(f"{word}@aol.com")
        elif word and names:
            break
    exclusions = Exclusions.of(p)
    names = [n for n in names if exclusions.allows(n)]
    if not names:
        return scan(p, "aol", _MARKER, max_lines=12)
    return Finding(family="aol", failures=failures_from(names, p.report_text),
                   permanent=permanence(p.report_text))
