"""What a family parser returns, and the helpers they share: which addresses in a report can
be the failed recipient (not the sender, not a postmaster, not a Message-ID), and the failures
named in a block of report text.

A family parser is a function `detect(p: Parsed) -> Finding | None`: None means "not my
format", and the next family is tried."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

from bulletin.inbound.message import (
    ADDRESS,
    Parsed,
    addresses_in,
    header,
    headers,
    normalise_address,
)
from bulletin.inbound.model import Kind
from bulletin.inbound.reasons import SMTP_REPLY, find_status


@dataclass
class Failure:
    """One recipient a report says failed, with what the server said."""

    address: str
    status: str | None = None
    diagnostic: str = ""
    action: str = "failed"   # failed | delayed | delivered | relayed | expanded


@dataclass
class Finding:
    """What one family recognised. `kind` is set by non-bounce families (complaint,
    auto-reply, unsubscribe, not-bounce); bounce families leave it None and name failures."""

    family: str
    failures: list[Failure] = field(default_factory=list)
    kind: Kind | None = None
    permanent: bool | None = None
    diagnostic: str = ""
    token: str | None = None


_DAEMON = re.compile(
    r"mailer-?daemon|post_?master|mail ?delivery|delivery ?(?:sub)?system|mdaemon|"
    r"\bsmtp\b|mail ?administrator|system administrator|\bmailer\b|e500|"
    r"virus|interscan|imss|mailsweeper|mail ?server|symantec|lsmtp|^<>$", re.IGNORECASE)
BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|returned (?:mail|to sender)|failure notice|delivery (?:status|"
    r"failure|failed|notification|problem|report)|mail delivery|non.?delivery|"
    r"could not be delivered|not delivered|delivery has failed|failed mail|"
    r"returned mail|permanent (?:delivery|error)|warning: could not send|mail system error|"
    r"nondeliverable|delivery error|message status|failed delivery|"
    r"bounce|unable to deliver|error during delivery|processing error|mail failed|"
    r"could not send|not be delivered|delayed mail|mail not deliv|delivery warning|"
    r"zustellung|unzustellbar|non remis|no entregado|non recapitabile|"
    r"automatically rejected", re.IGNORECASE)
FAILURE_PHRASE = re.compile(
    r"could not be delivered|couldn't be delivered|wasn't able to deliver|unable to deliver|"
    r"not (?:be )?delivered|delivery (?:to the following|has failed|failed)|"
    r"undeliverable|permanent(?:ly)? (?:fatal )?(?:error|fail)|failed (?:recipients?|addresses)|"
    r"following address(?:es|\(es\))? failed|could not be reached|did not reach|"
    r"was not accepted|has not yet been delivered|has been delayed|delivery problems|"
    r"failed permanently|fatal (?:delivery )?errors?|(?:was|were|been|is|automatically) "
    r"rejected|rejected (?:by|your|the|for)|address rejected|has been postponed|"
    r"delivery failure|no valid recipients|invalid final delivery|unknown user|"
    r"not deliver|nie istnieje|not a valid user|no such user|user unknown|does not exist|"
    r"n'a pas pu|no pudo ser entregado|не может быть доставлено|"
    r"невозможно доставить|无法发送", re.IGNORECASE)
# Lines that quote a sender header, or give advice or a link: never a failed recipient.
# Possessive white space, and the advice searched for rather than reached by ".*": a line
# of endless white space must not take quadratic time.
_NOT_RECIPIENT_LINE = re.compile(
    r"^\s*+(?:>\s*+)?(?:from|message-id|in-reply-to|references|received|return-path|"
    r"reply-to|sender|errors-to|x-[\w-]+|list-[\w-]+|mail from|envelope-from|"
    r"reporting-mta|dkim-signature|authentication-results|arc-[\w-]+)\b", re.IGNORECASE)
_ADVICE = re.compile(r"\bplease contact\b|\bfor (?:further )?(?:assistance|help)\b|https?://",
                     re.IGNORECASE)
_LOCAL_NOT_RECIPIENT = re.compile(
    r"^(?:mailer-?daemon|postmaster|abuse|root|nobody|hostmaster|webmaster)$", re.IGNORECASE)


FORWARD_SUBJECT = re.compile(r"^[ \t]*+(?:(?:re|aw|sv)[ \t]*+:[ \t]*+)*+(?:fwd?|fw)[ \t]*+:",
                             re.IGNORECASE)


def is_daemon(sender: str) -> bool:
    return bool(_DAEMON.search(sender))


def forwarded_by_person(p: Parsed) -> bool:
    """A person passing on mail they received ("Fwd:"/"FW:" subject, From a person, not an
    empty Return-Path, not itself a report): any report quoted in it, inline or attached, is
    about the person's own mail and names their own correspondents, never a bounce of ours."""
    return (bool(FORWARD_SUBJECT.match(p.subject)) and not is_daemon(p.sender)
            and header(p.msg, "Return-Path").strip() != "<>"
            and p.msg.get_content_type() != "multipart/report")


def looks_like_report(p: Parsed) -> bool:
    """Whether the message presents itself as a delivery report (sender, subject, envelope)."""
    null_sender = header(p.msg, "Return-Path").strip() == "<>"
    return (is_daemon(p.sender) or bool(BOUNCE_SUBJECT.search(p.subject)) or (null_sender
            and bool(FAILURE_PHRASE.search(p.report_text[:4000]))))


def says_it_failed(p: Parsed) -> bool:
    """A report sender AND a bounce subject, or either one AND a failure phrase in the text."""
    signs = is_daemon(p.sender) + bool(BOUNCE_SUBJECT.search(p.subject)) + (
        header(p.msg, "Return-Path").strip() == "<>")
    return signs >= 2 or (signs >= 1 and bool(FAILURE_PHRASE.search(p.text[:20000])))


class Exclusions:
    """Addresses that are never the failed recipient: the report's own sender and envelope,
    the original's sender, postmasters and daemons."""

    def __init__(self, p: Parsed) -> None:
        self.p = p

    @classmethod
    def of(cls, p: Parsed) -> Exclusions:
        """The exclusions of `p`, computed once per message."""
        found = p.memo.get("exclusions")
        if not isinstance(found, Exclusions):
            found = p.memo["exclusions"] = cls(p)
        return found

    @cached_property
    def weak(self) -> set[str]:
        """The quoted original's sender: usually not the failed recipient, but a person who
        wrote to themselves (or to a list they are on) can be both."""
        found: set[str] = set()
        original = self.p.original
        if original is not None:
            for name in ("From", "Sender", "Return-Path", "Reply-To", "Errors-To"):
                for value in headers(original, name):
                    found.update(a.lower() for a in addresses_in(value))
        return found - self.addresses

    @cached_property
    def addresses(self) -> set[str]:
        found: set[str] = set()
        for name in ("From", "Sender", "Reply-To", "Return-Path", "Errors-To"):
            for value in headers(self.p.msg, name):
                found.update(a.lower() for a in addresses_in(value))
        # The bounce is addressed to the original sender (or its VERP address).
        for name in ("To", "Delivered-To", "X-Original-To", "Envelope-To"):
            for value in headers(self.p.msg, name):
                found.update(a.lower() for a in addresses_in(value))
        return found

    def allows(self, address: str, strict: bool = True) -> bool:
        local, _, domain = address.rpartition("@")
        if _LOCAL_NOT_RECIPIENT.match(local) or "." not in domain:
            return False
        if address.lower() in self.addresses or (strict and address.lower() in self.weak):
            return False
        if local.isdigit() and len(local) <= 15:
            return True  # a telephone number at an SMS gateway
        # Message-IDs look like addresses: a long run of digits/hex before '@' is one.
        return not re.fullmatch(r"[0-9a-fA-F.$=_-]{16,}|[\w.]*\d{8,}[\w.$-]*", local)


def candidates(text: str, exclusions: Exclusions) -> list[str]:
    """The addresses in `text` that may be failed recipients, in order, without repeats,
    skipping lines that quote sender headers, URLs or "contact the postmaster" advice; the
    original's sender only when no one else is named."""
    return _candidates(text, exclusions, True) or _candidates(text, exclusions, False)


def _candidates(text: str, exclusions: Exclusions, strict: bool) -> list[str]:
    seen: list[str] = []
    lowered: set[str] = set()
    for line in text.splitlines():
        if "@" not in line or _NOT_RECIPIENT_LINE.match(line) or _ADVICE.search(line):
            continue
        for match in ADDRESS.finditer(line):
            before = line[max(0, match.start() - 12):match.start()].lower()
            if re.search(r"(?:mail from:?|from:|by|id|envelope-from)\s*<?$", before):
                continue
            address = normalise_address(match.group(1))
            if exclusions.allows(address, strict) and address.lower() not in lowered:
                lowered.add(address.lower())
                seen.append(address)
    return seen


def failure_details(text: str, address: str) -> tuple[str | None, str]:
    """The status code and diagnostic line(s) near `address` in `text` (or in the whole text):
    up to six lines from the address on, and the explanation just before it ("The account is
    disabled.\n\n<a@b>"), back to the previous address at most."""
    where = text.lower().find(address.lower())
    if where < 0:
        window = text[:1500]
        lines = [line.strip() for line in window.splitlines() if line.strip()][:6]
        return find_status(window) or find_status(text[:3000]), " ".join(lines)[:500]
    before = text[max(0, where - 300):where]
    previous = list(ADDRESS.finditer(before))
    before = before[previous[-1].end():] if previous else before
    after = text[where:where + 600]
    lines = [line.strip() for line in after.splitlines() if line.strip()][:6]
    earlier = [line.strip() for line in before.splitlines() if line.strip()][-2:]
    diagnostic = " ".join(lines + earlier)[:700]
    status = find_status(after) or find_status(before) or find_status(text[:3000])
    return status, diagnostic


def failures_from(addresses: list[str], text: str) -> list[Failure]:
    out = []
    for address in addresses:
        status, diagnostic = failure_details(text, address)
        out.append(Failure(address=address, status=status, diagnostic=diagnostic))
    return out


def permanence(text: str) -> bool | None:
    """What the report says about retrying: False for a warning or a 4xx, True for a
    permanent failure, None when it does not say."""
    lowered = text.lower()
    if re.search(r"warning message only|not yet been delivered|has been delayed|"
                 r"will (?:continue|keep) (?:to )?(?:try|retry)|still (?:being )?retr|"
                 r"has been postponed|delivery (?:is )?delayed|will be retried|"
                 r"not (?:yet )?been delivered|advisory-only", lowered):
        return False
    if re.search(r"permanent|given up|giving up|fatal", lowered):
        return True
    reply = SMTP_REPLY.search(text)
    if reply:
        return reply.group(1) == "5"
    return None


def block_after(text: str, start: re.Pattern[str], max_lines: int = 40) -> str:
    """The text from the first match of `start` for at most `max_lines` lines."""
    found = start.search(text)
    if not found:
        return ""
    return "\n".join(text[found.start():].splitlines()[:max_lines])
