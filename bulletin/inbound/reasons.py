"""The vocabulary of bounce reasons and the hard/soft decision, kept apart from parsing.

Parsers only report what the server said (an enhanced status code, RFC 3463, and its
diagnostic text); this module turns that into one reason word, and the reason (with the
status class) into hard or soft. Hard means the ADDRESS is dead: sending again can never
succeed, so the subscriber is suppressed. Everything about the message, the sender or the
moment (spam filters, blocklists, policy, a full mailbox, a timeout) is soft: the address may
well work for the next issue (a suspended mailbox too: it may be re-enabled). The split
follows the bounce analysers that publish their decisions (sisimai's hard bounces are user
unknown, host unknown, moved, and not accepting mail when permanent)."""

from __future__ import annotations

import re

# reason -> hard (True) or soft (False). "not-accepted" is hard only when permanent; the
# others that are hard stay hard even on a 4xx reply (a server that says "no such user" with
# 450 still has no such user). A delay warning is always soft.
REASONS: dict[str, bool] = {
    "user-unknown": True,      # no such mailbox
    "host-unknown": True,      # no such domain, no MX, null MX
    "has-moved": True,         # the address changed (5.1.6)
    "not-accepted": True,      # the domain accepts no mail (null MX), relaying denied by its MX
    "suspended": False,        # account disabled, deactivated, closed, inactive: may return
    "mailbox-full": False,
    "quota": False,            # the sender exceeded a rate or volume limit
    "too-large": False,
    "spam-rejected": False,    # content judged spam
    "blocked": False,          # the sending IP or domain is blocklisted or has bad reputation
    "policy": False,           # DMARC/SPF/DKIM failure, content or sender policy
    "sender-rejected": False,  # the sender address or domain refused (MAIL FROM, 5.1.7, 5.1.8)
    "filtered": False,         # a recipient-side filter or attachment rule refused it
    "virus": False,
    "expired": False,          # gave up after retrying (timeout)
    "delayed": False,          # still trying
    "network": False,          # connection or DNS trouble on the way
    "system": False,           # the remote server failed
    "syntax": False,           # a protocol or address syntax error
    "unknown": False,
}

# Diagnostic text -> reason, most specific first. Checked before the status code, since
# servers often send a generic code (5.0.0, 5.7.1, 5.5.0) with a precise text.
_TEXT: list[tuple[str, str]] = [
    ("virus", r"virus (?:found|detected|alert)|(?:contains?|infected with) (?:a |the )?virus|"
              r"malware|banned (?:file|attachment)|infected (?:by|with)"),
    ("blocked", r"(?:low|poor|bad) reputation|reputation of the sending|"
                r"(?:ip|address|host|domain) (?:is |has been )?(?:black|block)listed"),
    ("quota", r"receiving mail (?:at|over) a rate|rate that prevents|too many messages|"
              r"sending (?:rate|limit|quota)|rate limit(?:ed)?|exceeded .{0,30}sending|"
              r"relay quota|daily (?:sending |relay )?(?:quota|limit)"),
    ("spam-rejected", r"\bspam(?!haus|cop)|junk ?mail|\bbulk mail|uribl|surbl|"
                      r"spamhaus.{0,20}(?:dbl|content)|"
                      r"content.{0,30}(?:reject|refuse|block)|message (?:content )?rejected|"
                      r"rejected as (?:bulk|junk)|spamassassin|looks like spam|"
                      r"unsolicited|sex-?ual|suspicious content|blocked by spamcop|"
                      r"high probability of|considered unsolicited"),
    ("too-large", r"too (?:large|big)|exceeds? (?:the )?(?:maximum |size )|message size|"
                  r"size limit|maximum (?:message )?size|message length exceeds|"
                  r"\bsize exceeds"),
    ("mailbox-full", r"mailbox (?:is )?full|over ?quota|quota (?:exceeded|exceed)|"
                     r"exceed(?:s|ed)? (?:\w+ ){0,3}(?:quota|storage|disk)|"
                     r"(?:mailbox|account|disk|inbox) (?:\w+ ){0,2}(?:is )?(?:full|over)|"
                     r"insufficient (?:disk |system )?(?:space|storage)|"
                     r"no (?:space|room) left|not enough (?:space|storage)|storage limit|"
                     r"mail ?box size limit|mailfolder is full|user has exceeded"),
    ("user-unknown", r"deactivated|not (?:an )?active (?:address|mailbox|account|user)|"
                     r"discontinued|no longer (?:active|available|valid|in use|on server)|"
                     r"account (?:has been )?(?:closed|terminated|deleted|removed)|"
                     r"has been (?:closed|cancelled|deleted|removed)"),
    ("suspended", r"(?<!delivery temporarily )suspend|disabled|inactive|"
                  r"account (?:has been )?(?:expired|locked|blocked)|"
                  r"not currently active|frozen|temporarily (?:deactivated|unavailable)"),
    ("has-moved", r"has moved|moved to|changed (?:his|her|their)? ?address|"
                  r"no longer (?:with|at|works)"),
    ("user-unknown", r"user(?:name)? (?:is )?unknown|unknown (?:user|recipient|local|mailbox|"
                     r"address|alias|account)|no such (?:user|mailbox|recipient|address|"
                     r"account|local)|(?:user|recipient|mailbox|address|account|addressee)"
                     r"[^.\n]{0,40}(?:does ?n[o']t exist|not exist|doesn't exist|not found|"
                     r"unknown|invalid|not known|not valid)|"
                     r"invalid (?:recipient|mailbox|address|user)|not a (?:known|valid) "
                     r"(?:user|recipient|mailbox)|mailbox (?:unavailable|not available|"
                     r"not found|does not exist)|(?:is )?not a known user|bad.?recipient|"
                     r"badrcptto|no mail ?box|recipient (?:rejected|address rejected|"
                     r"not found|unknown)|unrouteable address|not our customer|"
                     r"no longer on server|does not exist|doesn't have a .{0,30}account|"
                     r"undeliverable address|address rejected|nie istnieje|"
                     r"user not found|unknown or illegal alias|not listed in|"
                     r"addressee unknown|no valid recipients|can't find|no mailbox here|"
                     r"account (?:does not exist|not found|is unavailable)|"
                     r"not have an account|is not a valid|delivery to the following "
                     r"recipient failed permanently|invalid address|unknown user|"
                     r"recipient not (?:found|exist)|mailbox is unavailable|no such person|"
                     r"address (?:you entered )?(?:couldn't|could not|can't|cannot) be found|"
                     r"recip(?:ient)?notfound|the email account that you tried to reach"),
    ("host-unknown", r"host (?:or domain name )?(?:not found|unknown)|unknown (?:host|domain)|"
                     r"no such (?:domain|host)|domain (?:not found|does not exist|"
                     r"is not valid|unknown|name not found)|name or service not known|"
                     r"no mx|nxdomain|host not found|unrouteable (?:mail )?domain|"
                     r"mail for [^ ]+ loops back|malformed or unexpected name server reply|"
                     r"could not be found|name server|domain name not found|"
                     r"domain .{0,40}(?:does not|doesn't) (?:exist|accept)"),
    ("not-accepted", r"relay(?:ing)? (?:access )?(?:denied|not (?:permitted|allowed))|"
                     r"as a relay|use me .{0,60}relay|null mx|"
                     r"not permitted to relay|unable to relay|we do not relay|"
                     r"rcpthosts|not a relay|relaying denied|not local|cannot relay|"
                     r"accepts? no mail|does not accept mail|not accept(?:ing)? mail"),
    ("blocked", r"block(?:ed|list)|blacklist|black list|denylist|\brbl\b|dnsbl|"
                r"spamhaus|spamcop|sorbs|barracuda|reputation|poor reputation|"
                r"listed (?:at|on|in)|ip (?:address )?(?:\S+ )?(?:is )?(?:not allowed|"
                r"rejected|denied)|client host .{0,40}rejected|"
                r"too many (?:connections|messages|recipients)|rate limit|"
                r"try again later|throttl|access denied"),
    ("policy", r"dmarc|\bspf\b|dkim|authenticat|policy|not authori[sz]ed|"
               r"sender (?:address )?rejected|sender verify|domain of sender|"
               r"reverse (?:dns|lookup)|\bptr\b|not compliant|rfc ?5322|"
               r"refused to accept|administrative prohibition|prohibited|"
               r"not allowed|denied"),
    ("filtered", r"filter|attachment|embedded image|not accepting mail with|"
                 r"rejected by (?:the )?recipient|recipient (?:has )?(?:refused|rejected)|"
                 r"refused by recipient|whitelist|allowlist|sender not (?:in|on)"),
    ("expired", r"retry time|timed? ?out|time(?:d)? limit|expired|gave up|giving up|"
                r"too long|could not be delivered (?:for|within) \d|"
                r"delivery time expired|message (?:has been )?in (?:the )?queue "
                r"(?:for|too long)|hops|loop"),
    ("network", r"connection (?:timed out|reset|lost|dropped|refused)|network|unreachable|"
                r"could not connect|lost connection|no route|dns|tls"),
    ("system", r"system error|internal (?:server )?error|temporar|local error|"
               r"server error|resources|out of memory|i/o error|mailer error|"
               r"service (?:not available|unavailable)"),
    ("syntax", r"syntax|malformed|unrecognized command|bad address syntax|"
               r"protocol (?:violation|error)|"
               r"invalid (?:syntax|command)"),
]
# Matched against lower-cased text (faster than IGNORECASE over long alternations).
_TEXT_COMPILED = [(reason, re.compile(pattern)) for reason, pattern in _TEXT]

# Enhanced status code (class stripped) -> reason. Used when the text says nothing clear.
_STATUS: dict[str, str] = {
    "1.1": "user-unknown", "1.0": "user-unknown", "1.2": "host-unknown", "1.3": "syntax",
    "1.4": "user-unknown", "1.5": "user-unknown", "1.6": "has-moved", "1.7": "sender-rejected",
    "1.8": "sender-rejected", "1.10": "host-unknown",
    "2.0": "user-unknown", "2.1": "suspended", "2.2": "mailbox-full", "2.3": "too-large",
    "2.4": "system", "3.0": "system", "3.1": "mailbox-full", "3.2": "system",
    "3.3": "system", "3.4": "too-large", "3.5": "system",
    "4.0": "network", "4.1": "network", "4.2": "network", "4.3": "host-unknown",
    "4.4": "host-unknown", "4.5": "network", "4.6": "expired", "4.7": "expired",
    "5.0": "syntax", "5.1": "syntax", "5.2": "syntax", "5.3": "quota", "5.4": "syntax",
    "5.5": "syntax", "6.0": "filtered", "6.1": "filtered", "6.2": "filtered",
    "6.3": "filtered", "6.4": "filtered", "6.5": "filtered", "7.0": "policy",
    "7.1": "policy", "7.2": "policy", "7.7": "policy", "7.9": "policy", "7.23": "policy",
    "7.25": "policy", "7.26": "policy", "7.27": "policy", "7.28": "spam-rejected",
}
STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
SMTP_REPLY = re.compile(r"(?<![\d.])([245])\d\d(?:[ -]|$)")


def find_status(text: str) -> str | None:
    """The first enhanced status code in `text` (ignoring dotted numbers like versions)."""
    found = STATUS.search(text)
    return ".".join(found.groups()) if found else None


# Where in the SMTP dialogue the server refused: a refusal of MAIL FROM (or of the message
# after DATA, unless the code names the recipient) is about the sender, not the address.
_AFTER_MAIL_FROM = re.compile(r"after mail from|in reply to mail from|sender address rejected|"
                              r"unroutable sender|sender domain|domain of sender",
                              re.IGNORECASE)
_AFTER_DATA = re.compile(r"after end of data|after data|in reply to end of data|"
                         r"in reply to data", re.IGNORECASE)
_ADDRESSISH = re.compile(r"[^\s<>()\[\]\"',;:]+@[^\s<>()\[\]\"',;:]+")
_ADDRESS_CODES = ("1.1", "1.2", "1.6", "1.10", "2.1")

_DECISIVE = ("quota", "too-large", "mailbox-full", "user-unknown", "has-moved", "suspended",
             "host-unknown")


def reason_for(status: str | None, diagnostic: str) -> str:
    """One word of the vocabulary for a failure, from its status code and text: the text when
    it names one of the decisive reasons, else a specific status code, else the text; a
    refusal of the sender is never a dead recipient address. Addresses are taken out of the
    text first: a local part such as "no-such-user@" says nothing about the failure."""
    diagnostic = _ADDRESSISH.sub(" ", diagnostic).lower()
    reason = _reason(status, diagnostic)
    if REASONS.get(reason) and _about_sender(status, diagnostic):
        return "sender-rejected"
    return reason


def _about_sender(status: str | None, diagnostic: str) -> bool:
    detail = status.split(".", 1)[1] if status else ""
    if detail in ("1.7", "1.8"):
        return True
    if _AFTER_MAIL_FROM.search(diagnostic):
        return True
    return bool(_AFTER_DATA.search(diagnostic)) and detail not in _ADDRESS_CODES


def _reason(status: str | None, diagnostic: str) -> str:
    for reason, pattern in _TEXT_COMPILED:
        if reason in _DECISIVE and pattern.search(diagnostic):
            return reason
    detail = status.split(".", 1)[1] if status else ""
    specific = _STATUS.get(detail)
    if specific == "user-unknown":
        # Servers answer a blocklisted sender with 5.1.1 too ("550 5.1.1 ... blocked using
        # ..."): when the text says blocked and not unknown, the text wins.
        for reason, pattern in _TEXT_COMPILED:
            if reason == "blocked" and pattern.search(diagnostic):
                return reason
    if specific and detail not in ("0.0", "7.0", "7.1", "5.0", "1.0", "3.0"):
        return specific
    for reason, pattern in _TEXT_COMPILED:
        if pattern.search(diagnostic):
            return reason
    return specific or "unknown"


def is_hard(reason: str, status: str | None, permanent: bool | None = None) -> bool:
    """Hard when the reason means the address is dead (see REASONS)."""
    if not REASONS.get(reason, False) or (permanent is False and (
            status is None or status.startswith("4"))):
        return False
    if reason == "not-accepted":
        return not (status or "").startswith("4")
    return True
