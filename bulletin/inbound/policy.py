"""Policy: what an inbound message, once classified and attributed, does to its subscriber.
Pure: the decision from the kind, the subscriber's soft bounces so far and the newsletter's
settings; the store (store.inbound) applies it, in the transaction that records the message.

    hard bounce            bounced, and the address suppressed
    soft bounce            counted; the `soft_limit`th (of different messages) within
                           `soft_days` days counts as hard, and so does one that makes
                           each of the last `soft_consecutive` issues sent to the
                           subscriber a soft bounce (repeated reports about one message
                           count once)
    delay notice           nothing (the mail is still being tried; it may well arrive)
    complaint              complained: unsubscribed from everything, and suppressed
    auto-reply             nothing
    unsubscribe request    unsubscribed from everything, as by the one-click link (only
                           with a valid token: attribute.py); so is a feedback loop's
                           opt-out report about a message of ours

Defaults ([newsletters.X.bounces] in bulletin.toml): soft_limit = 3, soft_days = 30,
soft_consecutive = 3 (0: off)."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import parseaddr
from urllib.parse import urlsplit

from ..settings import Bounces, Workspace
from ..store.inbound import Effect
from ..store.softbounces import SoftCount, SoftRule
from .attribute import Ours
from .model import Classification


def is_delay(c: Classification) -> bool:
    """A delay notice: the mail is still queued, nothing has failed yet."""
    return c.kind == "soft" and c.reason == "delayed"


def ours(workspace: Workspace) -> Ours:
    """What marks a quoted original as one of this workspace's newsletters' messages."""
    newsletters = workspace.settings.newsletters.values()
    senders = {parseaddr(n.sender)[1].lower() for n in newsletters}
    domains = {s.rpartition("@")[2] for s in senders}
    host = (urlsplit(workspace.settings.base_url).hostname or "").lower()
    list_ids = {f"{n.mailing_list}.{d}".lower() for n in newsletters for d in (*domains, host)
                if d}
    unsubscribe = {parseaddr(n.unsubscribe_mailto)[1].lower()
                   for n in newsletters if n.unsubscribe_mailto}
    if host:
        unsubscribe.add(f"//{host}/")
    return Ours(frozenset(senders - {""}), frozenset(domains - {""}), frozenset(list_ids),
                frozenset(unsubscribe - {""}))


def rules_for(workspace: Workspace, issue: str | None = None,
              envelope_to: str | None = None) -> Bounces:
    """The bounce settings of the newsletter a message is about (`newsletter_of`); the
    defaults when none is known."""
    name = newsletter_of(workspace, issue, envelope_to)
    return Bounces() if name is None else workspace.settings.newsletters[name].bounces


def newsletter_of(workspace: Workspace, issue: str | None = None,
                  envelope_to: str | None = None) -> str | None:
    """The newsletter a message is about: the one its ledger row's issue (newsletter/stem)
    belongs to, else the one whose sender or unsubscribe address received it, else the only
    newsletter; None when none is known."""
    newsletters = workspace.settings.newsletters
    if issue is not None and issue.partition("/")[0] in newsletters:
        return issue.partition("/")[0]
    if envelope_to:
        local, _, domain = parseaddr(envelope_to)[1].rpartition("@")
        bases = {f"{local}@{domain.lower()}", f"{local.rpartition('+')[0]}@{domain.lower()}"}
        for name, newsletter in newsletters.items():
            for configured in (newsletter.sender, newsletter.unsubscribe_mailto or ""):
                mine, _, at = parseaddr(configured)[1].rpartition("@")
                if mine and f"{mine}@{at.lower()}" in bases:
                    return name
    if len(newsletters) == 1:
        return next(iter(newsletters))
    return None


def soft_rule(rules: Bounces, now: datetime, newsletter: str | None) -> SoftRule:
    """What soft bounces count: since `soft_days` ago, and the last `soft_consecutive`
    issues of `newsletter`."""
    return SoftRule(now - timedelta(days=rules.soft_days), rules.soft_consecutive, newsletter)


def decide(c: Classification, softs: SoftCount, rules: Bounces) -> Effect:
    """What to do about `c`, the subscriber having had `softs` soft bounces (this one
    included)."""
    status = c.status or "-"
    reason = c.reason or "unknown"
    if c.kind == "hard":
        return Effect("bounce", f"hard bounce {status} {reason}{_said(c)}")
    if is_delay(c):
        return Effect("none", f"delay notice {status}: not a bounce; nothing counted")
    if c.kind == "soft":
        if softs.recent >= rules.soft_limit:
            return Effect("bounce", f"{softs.recent} soft bounces in {rules.soft_days} days "
                                    f"(limit {rules.soft_limit}); the last {status} "
                                    f"{reason}{_said(c)}")
        if rules.soft_consecutive and softs.streak >= rules.soft_consecutive:
            return Effect("bounce", f"soft bounces of the last {softs.streak} issues sent "
                                    f"(limit {rules.soft_consecutive}: "
                                    f"{', '.join(softs.issues)}); the last {status} "
                                    f"{reason}{_said(c)}")
        return Effect("count", f"soft bounce {softs.recent} of {rules.soft_limit} in "
                               f"{rules.soft_days} days: {status} {reason}")
    if c.kind == "complaint":
        return Effect("complaint", f"spam complaint (feedback report, {c.family})")
    if c.kind == "unsubscribe" and c.family == "arf":
        return Effect("unsubscribe", "opt-out by feedback report (arf), about a message of ours")
    if c.kind == "unsubscribe":
        return Effect("unsubscribe", "unsubscribe request by email, with a valid token")
    return Effect("none", c.kind)


def _said(c: Classification) -> str:
    """The server's words, shortened, on one line."""
    text = " ".join((c.diagnostic or "").split())
    return f": {text[:160]}" if text else ""
