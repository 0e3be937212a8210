"""The big mailbox providers' own wordings: Gmail ("Delivery to the following recipient
failed permanently:"), Yahoo ("Sorry, we were unable to deliver your message to the following
address." / "Message from yahoo.com. Unable to deliver message to the following
address(es)."), and AOL ("Your mail to the following recipients could not be delivered",
naming bare screen names, which are AOL addresses)."""

from __future__ import annotations

import re

from bulletin.inbound.families.base import Exclusions, Finding, failures_from, permanence
from bulletin.inbound.families.textual import scan
from bulletin.inbound.message import Parsed

_GMAIL = re.compile(r"delivery to the following recipients? (?:failed|has been delayed|"
                    r"was aborted)|delevery to the following|"
                    r"the response from the remote server was|"
                    r"google tried to deliver your message", re.IGNORECASE)
_YAHOO = re.compile(r"unable to deliver (?:your )?message to the following address|"
                    r"message from\s+yahoo\.|yahoo! ?mail", re.IGNORECASE)
_AOL = re.compile(r"your mail to the following recipients could not be delivered",
                  re.IGNORECASE)


def gmail(p: Parsed) -> Finding | None:
    if not _GMAIL.search(p.report_text):
        return None
    return scan(p, "gmail", _GMAIL, max_lines=12)


def yahoo(p: Parsed) -> Finding | None:
    if not _YAHOO.search(p.report_text):
        return None
    return scan(p, "yahoo", _YAHOO, max_lines=400)


def aol(p: Parsed) -> Finding | None:
    found = _AOL.search(p.report_text)
    if not found:
        return None
    lines = p.report_text[found.end():].splitlines()
    names = []
    for line in lines[1:12]:
        word = line.strip()
        if re.fullmatch(r"[A-Za-z][\w.]{1,40}", word):
            names.append(f"{word}@aol.com")
        elif word and names:
            break
    exclusions = Exclusions(p)
    names = [n for n in names if exclusions.allows(n)]
    if not names:
        return scan(p, "aol", _AOL, max_lines=12)
    return Finding(family="aol", failures=failures_from(names, p.report_text),
                   permanent=permanence(p.report_text))
