"""Sendmail (and its relatives) without a usable delivery-status part: "----- The following
addresses had permanent fatal errors -----", then "<user@domain>", then a session
transcript with the remote server's reply."""

from __future__ import annotations

import re

from bulletin.inbound.families.base import Finding
from bulletin.inbound.families.textual import scan
from bulletin.inbound.message import Parsed

# Each run of dashes tried once, from its start (a line of dashes alone must not take
# quadratic time).
_MARKER = re.compile(r"(?<!-)-++ ?the following addresses? (?:had|have) (?:permanent fatal "
                     r"errors|delivery notifications|transient non-fatal errors) ?-+|"
                     r"(?<!-)-++ ?transcript of session follows ?-+", re.IGNORECASE)
_BLOCK = re.compile(r"the following addresses? (?:had|have)", re.IGNORECASE)


def detect(p: Parsed) -> Finding | None:
    if not _MARKER.search(p.report_text):
        return None
    return scan(p, "sendmail", _BLOCK, max_lines=12)
