"""The rule a send is held to: with `approvals = N` in its newsletter's table of bulletin.toml,
N distinct people other than the one sending must have approved the fingerprint of exactly
what is about to go out (to this list). An approval of anything else does not count, and the
refusal names what changed since it.

    standing = gate.standing(store, outgoing, issue_path, "news", sender="Ann")
    gate.require(standing, issue_path)        # ApprovalError, one line, unless enough

A dry run and `send-test` are never held to it (they send nothing to the list)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BulletinError
from ..store.approvals import ApprovalRecord
from . import fingerprint
from .fingerprint import Fingerprint
from .identity import identity, same_person

if TYPE_CHECKING:
    from ..send.outgoing import Outgoing
    from ..store.store import Store

USED = "send-approved"
"""The audit trail's action for a send that went out on approvals: who, and the fingerprint."""


class ApprovalError(BulletinError):
    """Not enough approvals of the content about to be sent."""


@dataclass(frozen=True)
class Standing:
    """Where an issue's approvals stand for one send."""

    needed: int
    sender: str | None
    """Who sends (None when nobody need be named: no approvals needed)."""
    fingerprint: Fingerprint
    current: list[ApprovalRecord]
    """The approvals of exactly this content (or of the whole issue, for one language's
    edition of it), oldest first."""
    counted: list[str]
    """The distinct people among them who count (not the sender)."""
    changed: list[str]
    """What changed since the latest approval of other content (empty if none)."""
    other_list: str | None = None
    """The list, when it is not the newsletter's own (an approval must name it)."""

    @property
    def enough(self) -> bool:
        return len(self.counted) >= self.needed


def standing(store: Store, outgoing: Outgoing, issue: Path, list_name: str,
             sender: str | None = None) -> Standing:
    """The approvals of `outgoing` to `list_name` as they stand; the sender (`sender`, else
    the identity rule) is named only when the newsletter needs approvals."""
    needed = outgoing.newsletter.approvals
    if needed and sender is None:
        sender = identity(None, issue.parent)
    now = fingerprint.of(outgoing, issue, list_name)
    records = store.approvals.of(outgoing.key)
    current = [record for record in records if now.covered_by(record.parts)]
    stale = [record for record in records if not now.covered_by(record.parts)]
    return Standing(needed, sender, now, current, distinct(current, sender),
                    now.changed(stale[-1].parts) if stale else [],
                    None if list_name == outgoing.newsletter.mailing_list else list_name)


def distinct(records: list[ApprovalRecord], sender: str | None) -> list[str]:
    """The people who approved, each once, the sender left out."""
    people: list[str] = []
    for record in records:
        who = record.approver
        if sender is not None and same_person(who, sender):
            continue
        if not any(same_person(who, seen) for seen in people):
            people.append(who)
    return people


def require(found: Standing, issue: Path) -> None:
    """ApprovalError, in one line saying who must approve what, unless there are enough."""
    if found.enough:
        return
    have = len(found.counted)
    since = f"; changed since an earlier approval: {', '.join(found.changed)}" \
        if found.changed else ""
    own = " (your own does not count)" if found.current and not have else ""
    raise ApprovalError(
        f"{issue}: not sent: needs {found.needed} approval{'s' * (found.needed != 1)} of the "
        f"current content from people other than {found.sender}; has {have}{own}{since}; "
        f"they run `bulletin approve {issue}"
        f"{f' --list {found.other_list}' if found.other_list else ''}`")


def used(found: Standing) -> str:
    """The audit trail's detail for a send that went out on `found`."""
    return f"fingerprint {found.fingerprint.digest}; approved by {', '.join(found.counted)}"
