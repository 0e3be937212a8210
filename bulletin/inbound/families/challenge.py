"""Challenge-response systems (Boxbe, Bluebottle, SpamArrest, "whitelist" servers): the
recipient's server holds the message until the sender proves to be a person. They often
dress the challenge as a DSN (Action: failed, Status 4.7.0), but nothing failed for good and
the address is alive, so it is classed like an auto-reply: it changes nothing."""

from __future__ import annotations

import re

from bulletin.inbound.families.base import Finding
from bulletin.inbound.message import Parsed

_CHALLENGE = re.compile(
    r"not pre-?approved|requires confirmation|x-boxbe|boxbe|spam ?arrest|mailblocks|"
    r"whitelist\.aspx|verify (?:that )?you are (?:a )?(?:human|real)|"
    r"sender verification request|please confirm (?:that )?you (?:are|sent)|"
    r"click (?:on )?the (?:link|url) below to (?:confirm|verify)|"
    r"challenge[ -]response|approved senders list|this account is protected by",
    re.IGNORECASE)


def detect(p: Parsed, finding: Finding | None) -> Finding | None:
    """An auto-reply finding when `finding` (a bounce) or the message is a challenge."""
    diagnostics = " ".join(f.diagnostic for f in finding.failures) if finding else ""
    if _CHALLENGE.search(diagnostics) or _CHALLENGE.search(p.report_text[:5000]):
        return Finding(family="challenge-response", kind="auto-reply",
                       diagnostic="a challenge-response request")
    return None
