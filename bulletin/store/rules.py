"""The subscription rules, written once: what subscribing one address to one list does.

Both ways in use this one pure function: a single subscription (the subscribe page, the CLI,
the web service) and the bulk import (importer.py, thousands of rows at a time). Neither
decides anything itself; each reads the state, asks `subscribe`, and writes what it returns.
No database and no I/O here, so the rules can be tested on their own and the two paths held
together by a property test (tests/test_subscription_rules.py).

    before = State(Person("pending", None, "cy"), membership=None, suppressed=False)
    decision = subscribe(before, Request(name="Ann"))
    decision.outcome  # "activated"
    decision.after    # State(Person("active", "Ann", "cy"), membership="active", ...)
    decision.audit    # (AuditRow("confirm", "pending", "active", on_list=False),
                      #  AuditRow("join", None, "active", on_list=True))

The rules:
- a suppressed address is never subscribed (suppression always wins): outcome "suppressed";
- someone who left (status unsubscribed, bounced or complained, or unsubscribed from this
  list) is subscribed again only with `resubscribe` (they asked to be): otherwise "left";
- a new address becomes a subscriber with the requested status (active, or pending for a
  double opt-in still to be confirmed) and an active member of the list: "added";
- pending becomes active when active is requested (a confirmation, or an import): "activated";
- a blank (None) name or language is filled in from the request; a value already there is
  never overwritten (first values win): `filled`;
- joining a list they were not on is "joined"; coming back to a list they had left, or after
  leaving everything, is "resubscribed"; anything else is "unchanged";
- every change of status or membership is an audit row, in this order: the status change
  (action confirm or resubscribe; about the subscriber, so on no list), then the membership
  (action join; on the list). A new subscriber gets one row, "subscribe", on the list.
  Filling in a name is not audited; filling in a language is (each person's language choice
  kept in the audit trail, the Welsh Language Standards): a row "language" (about the
  subscriber, on no list) when the subscription changed nothing else.

What the caller adds: the timestamps, the audit rows' source, actor and detail, the consent
source written when `consent` is set, and the words of a refusal (`left_how` says why).

Where the two paths differed before this module (and what the rules now say): the import
wrote its confirm/resubscribe audit rows on the list, the single path on no list: a status
change is the subscriber's, not a list's, so on no list (as Store.confirm and an unsubscribe
from everything also write it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .models import LEFT

Outcome = Literal["added", "joined", "activated", "resubscribed", "unchanged", "suppressed",
                  "left"]
"""What happened. The first five change (or keep) a subscription; "suppressed" and "left" are
refusals, which change nothing."""

REFUSED: tuple[Outcome, ...] = ("suppressed", "left")
REQUESTABLE = ("active", "pending")


@dataclass(frozen=True, slots=True)
class Person:
    """A subscriber as the rules see them."""

    status: str
    """pending, active, unsubscribed, bounced or complained (models.Status)."""
    name: str | None
    language: str | None


@dataclass(frozen=True, slots=True)
class State:
    """One address, as far as one list is concerned."""

    subscriber: Person | None = None
    """None: no subscriber with this address."""
    membership: str | None = None
    """On this list: "active", "unsubscribed", or None (never on it)."""
    suppressed: bool = False


NOBODY = State()
"""An address the store has never seen."""


@dataclass(frozen=True, slots=True)
class Request:
    """What is asked: subscribe this address to this list."""

    status: str = "active"
    """"active", or "pending" for a double opt-in that awaits confirmation."""
    resubscribe: bool = False
    """They asked to come back: people who left may be subscribed again."""
    name: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One row to write to the audit trail (the caller adds time, source, actor, detail)."""

    action: str
    old_status: str | None
    new_status: str | None
    on_list: bool
    """Written with the list's id (True) or with none (False)."""


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    after: State
    """The state to store (the same as before for a refusal)."""
    audit: tuple[AuditRow, ...] = ()
    filled: bool = False
    """An existing subscriber's blank name or language is filled in."""
    consent: bool = False
    """Record the request's consent (source and time): a new subscriber or a status change."""
    left_how: str | None = None
    """For "left": the status they left with (unsubscribed, bounced, complained), or None when
    they unsubscribed from this list only."""

    @property
    def refused(self) -> bool:
        return self.outcome in REFUSED


_SUBSCRIBED = {status: (AuditRow("subscribe", None, status, True),) for status in REQUESTABLE}
"""The audit of a new subscriber, by status (made once: the import asks for each row)."""


_LANGUAGE = AuditRow("language", None, None, False)
"""A language filled in, with no other change to record it with."""


def subscribe(before: State, request: Request) -> Decision:
    """What subscribing `before`'s address to the list as `request` asks does (see the module
    docstring for the rules)."""
    if request.status not in REQUESTABLE:
        raise ValueError("a new subscription is active or pending")
    if before.suppressed:
        return Decision("suppressed", before)
    old = before.subscriber
    if old is None:
        return Decision("added",
                        State(Person(request.status, request.name, request.language),
                              "active", False),
                        _SUBSCRIBED[request.status], consent=True)
    gone = old.status in LEFT
    if (gone or before.membership == "unsubscribed") and not request.resubscribe:
        return Decision("left", before, left_how=old.status if gone else None)

    name = old.name if old.name is not None or not request.name else request.name
    language = old.language if old.language is not None or not request.language \
        else request.language
    outcome: Outcome = "unchanged"
    status = old.status
    audit: list[AuditRow] = []
    if gone or (old.status == "pending" and request.status == "active"):
        outcome = "resubscribed" if gone else "activated"
        audit.append(AuditRow("resubscribe" if gone else "confirm", old.status, request.status,
                              False))
        status = request.status
    if before.membership is None:
        audit.append(AuditRow("join", None, "active", True))
        if outcome == "unchanged":
            outcome = "joined"
    elif before.membership != "active":
        audit.append(AuditRow("join", before.membership, "active", True))
        outcome = "resubscribed"
    if not audit and language != old.language:
        audit.append(_LANGUAGE)
    return Decision(outcome, State(Person(status, name, language), "active", False),
                    tuple(audit), filled=(name, language) != (old.name, old.language),
                    consent=status != old.status)
