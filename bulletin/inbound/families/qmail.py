"""qmail and its descendants (netqmail, qmail-ldap, vpopmail front ends, Yahoo's and Sina's
older servers): "Hi. This is the qmail-send program at ...", then each failed address
as "<user@domain>:" followed by the remote server's answer."""

from __future__ import annotations

import re

from bulletin.inbound.families.base import Finding
from bulletin.inbound.families.textual import scan
from bulletin.inbound.message import Parsed

_MARKER = re.compile(
    r"this is the qmail-send program|qmail-send|i'm afraid i wasn't able to deliver|"
    r"this is the (?:mail delivery agent|deliver program|mta program|machine generated)|"
    r"was unable to deliver your message to the following addresses|"
    r"there's a problem with the e-mail address|^<[^>\s]+@[^>\s]+>:\s*$",
    re.IGNORECASE | re.MULTILINE)
_BLOCK = re.compile(r"^<[^>\s]+@[^>\s]+>:\s*$", re.MULTILINE)


def detect(p: Parsed) -> Finding | None:
    if not _MARKER.search(p.report_text):
        return None
    if not _BLOCK.search(p.report_text):
        return scan(p, "qmail")
    return scan(p, "qmail", _BLOCK, max_lines=200)
