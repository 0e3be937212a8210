"""Email addresses: checked with email-validator (syntax only, no DNS) and normalised.

The normalised address keeps the local part's case (some mail systems honour it) and
lower-cases the domain; the *key* lower-cases the whole address and uses the IDNA (ASCII) form
of the domain, so `Ann@Example.org`, `ann@EXAMPLE.ORG` and `ann@example.org` are one person.

email-validator costs about 20 µs an address, most of it in the domain checks, which are the
same for every address at one domain. Common addresses (an ASCII dot-atom local part) are
therefore checked by a fast path that validates each distinct domain once, through
email-validator, and gives exactly the same result as the full check (a property test holds
the two to that); anything else goes through email-validator whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import ATEXT, CASE_INSENSITIVE_MAILBOX_NAMES

MAX_LENGTH = 254

_FAST = re.compile(r"([" + ATEXT + r"]+(?:\.[" + ATEXT + r"]+)*)@([A-Za-z0-9.-]+)")
_SPECIAL_LOCAL = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)


class InvalidAddress(ValueError):
    """Not an email address; the message says why, in words a person can act on."""


@dataclass(frozen=True, slots=True)
class Address:
    email: str
    """The normalised address, as mail is sent to it."""
    key: str
    """The case-insensitive identity of the address: unique in the store."""


def _check(raw: str) -> Address:
    try:
        result = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as exc:
        reason = str(exc).rstrip(".")
        if '"' in raw and "@" in raw and reason.endswith("must have an @-sign"):
            # A quote not closed hides the @-sign from email-validator, which then says there
            # is none; what is wrong is the quote (a quoted local part is refused anyway).
            reason = 'it holds a quote character ("); remove it'
        reason = reason[:1].lower() + reason[1:]
        raise InvalidAddress(f"{raw!r} is not a valid email address: {reason}") from None
    return Address(result.normalized, f"{result.local_part.lower()}@{result.ascii_domain}")


@lru_cache(maxsize=16384)
def _domain(domain: str) -> tuple[str, str] | None:
    """(normalised domain, its ASCII form), or None when email-validator refuses it."""
    try:
        result = validate_email(f"a@{domain}", check_deliverability=False)
    except EmailNotValidError:
        return None
    return result.domain, result.ascii_domain


def normalise(raw: str) -> Address:
    """Check `raw` (surrounding white space ignored) and return it normalised, or raise
    InvalidAddress."""
    email, key = email_and_key(raw)
    return Address(email, key)


def email_and_key(raw: str) -> tuple[str, str]:
    """normalise(raw) as a plain (email, key) pair, for callers that check many addresses
    (the bulk import) and need no Address object for each."""
    raw = raw.strip()
    match = _FAST.fullmatch(raw)
    if match is not None and len(raw) <= MAX_LENGTH:
        local, domain = match.groups()
        checked = _domain(domain)
        if checked is not None and local.lower() not in _SPECIAL_LOCAL:
            unicode_domain, ascii_domain = checked
            email = f"{local}@{unicode_domain}"
            if len(email.encode()) <= MAX_LENGTH and \
                    len(local) + 1 + len(ascii_domain) <= MAX_LENGTH:
                return email, f"{local.lower()}@{ascii_domain}"
    address = _check(raw)
    return address.email, address.key


def normalise_slow(raw: str) -> Address:
    """The same as normalise(), always through email-validator whole (for tests)."""
    return _check(raw.strip())
