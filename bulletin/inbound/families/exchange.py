"""Microsoft Exchange, Office 365 and the servers that imitate their reports (GroupWise,
MailEnable, SmarterMail): "Your message did not reach some or all of the intended
recipients", "The following recipient(s) could not be reached:", then each address followed
by " on <date>" and the reason, or "Delivery has failed to these recipients or groups"."""

from __future__ import annotations

import re

from bulletin.inbound.families.base import Finding
from bulletin.inbound.families.textual import scan
from bulletin.inbound.message import Parsed

_MARKER = re.compile(
    r"did not reach (?:some or all of )?the (?:intended )?recipients?|"
    r"following recipient\(?s?\)? could not be reached|"
    r"delivery has failed to these recipients|your message couldn't be delivered|"
    r"microsoft exchange|office ?365|outlook\.com|"
    r"^[ \t]*+your message[ \t\r]*$", re.IGNORECASE | re.MULTILINE)
_BLOCK = re.compile(r"could not be reached|delivery has failed to these recipients|"
                    r"did not reach the following recipient|couldn't be delivered to|"
                    r"was not delivered to|undeliverable to the following",
                    re.IGNORECASE)


def detect(p: Parsed) -> Finding | None:
    if not _MARKER.search(p.report_text):
        return None
    return scan(p, "exchange", _BLOCK, max_lines=30)
