"""Policy: what an inbound message, once classified and attributed, does to its subscriber.
Pure: the decision from the kind, the subscriber's soft bounces so far and the newsletter's
settings; the store (store.inbound) applies it, in the transaction that records the message.

    hard bounce            bounced, and the address suppressed
    soft bounce            counted; the `soft_limit`th (of different messages) within
                           `soft_days` days counts as hard
    complaint              complained: unsubscribed from everything, and suppressed
    auto-reply             nothing
    unsubscribe request    unsubscribed from everything, as by the one-click link (only
                           with a valid token: attribute.py)

Defaults ([newsletters.X.bounces] in bulletin.toml): soft_limit = 3, soft_days = 30."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..settings import Bounces, Workspace
from ..store.inbound import Effect
from .model import Classification


def rules_for(workspace: Workspace, issue: str | None = None,
              envelope_to: str | None = None) -> Bounces:
    """The bounce settings of the newsletter a message is about: the one its ledger row's
    issue (newsletter/stem) belongs to, else the one whose sender or unsubscribe address
    received it, else the only newsletter; the defaults when none is known."""
    newsletters = workspace.settings.newsletters
    if issue is not None and issue.partition("/")[0] in newsletters:
        return newsletters[issue.partition("/")[0]].bounces
    if envelope_to:
        local, _, domain = envelope_to.lower().rpartition("@")
        base = f"{local.split('+', 1)[0]}@{domain}"
        for newsletter in newsletters.values():
            for configured in (newsletter.sender, newsletter.unsubscribe_mailto or ""):
                if base and base in configured.lower():
                    return newsletter.bounces
    if len(newsletters) == 1:
        return next(iter(newsletters.values())).bounces
    return Bounces()


def soft_since(rules: Bounces, now: datetime) -> datetime:
    """Since when soft bounces count towards the limit."""
    return now - timedelta(days=rules.soft_days)


def decide(c: Classification, soft_bounces: int, rules: Bounces) -> Effect:
    """What to do about `c`, the subscriber having had `soft_bounces` soft bounces (this one
    included) within the window."""
    status = c.status or "-"
    reason = c.reason or "unknown"
    if c.kind == "hard":
        return Effect("bounce", f"hard bounce {status} {reason}{_said(c)}")
    if c.kind == "soft":
        if soft_bounces >= rules.soft_limit:
            return Effect("bounce", f"{soft_bounces} soft bounces in {rules.soft_days} days "
                                    f"(limit {rules.soft_limit}); the last {status} "
                                    f"{reason}{_said(c)}")
        return Effect("count", f"soft bounce {soft_bounces} of {rules.soft_limit} in "
                               f"{rules.soft_days} days: {status} {reason}")
    if c.kind == "complaint":
        return Effect("complaint", f"spam complaint (feedback report, {c.family})")
    if c.kind == "unsubscribe":
        return Effect("unsubscribe", "unsubscribe request by email, with a valid token")
    return Effect("none", c.kind)


def _said(c: Classification) -> str:
    """The server's words, shortened, on one line."""
    text = " ".join((c.diagnostic or "").split())
    return f": {text[:160]}" if text else ""
