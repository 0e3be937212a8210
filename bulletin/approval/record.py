"""The approval use-cases: `bulletin approve` (render the issue, fingerprint it, record who
approved it) and `bulletin approvals` (each approval, and whether it still matches the issue
as it is now, naming what changed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..send.outgoing import Outgoing, render_here
from ..store.approvals import ApprovalRecord
from ..store.store import Store
from . import fingerprint
from .fingerprint import Fingerprint
from .identity import identity


@dataclass(frozen=True)
class Approved:
    key: str
    """The issue's ledger name."""
    record: ApprovalRecord
    list_name: str
    warnings: int
    errors: int
    """What `bulletin check` finds in what was approved."""


@dataclass(frozen=True)
class Listed:
    key: str
    needed: int
    fingerprint: Fingerprint
    approvals: list[tuple[ApprovalRecord, list[str]]]
    """Each approval, oldest first, with what changed since (empty: it matches)."""


def _rendered(issue: Path, config: Path | None, list_name: str | None,
              check: bool) -> tuple[Outgoing, str, Fingerprint]:
    outgoing = render_here(issue, config, check=check)
    chosen = list_name or outgoing.newsletter.mailing_list
    return outgoing, chosen, fingerprint.of(outgoing, issue, chosen)


def approve(issue: Path, config: Path | None = None, approver: str | None = None,
            note: str | None = None, list_name: str | None = None) -> Approved:
    """Record the approval of `issue` as it renders now, to `list_name` (default: the
    newsletter's list), by `approver` (default: the identity rule)."""
    who = identity(approver, issue.parent)
    outgoing, chosen, found = _rendered(issue, config, list_name, check=True)
    note = " ".join(note.split()) if note else None
    with Store.for_workspace(outgoing.workspace) as store:
        record = store.approvals.add(outgoing.key, found.digest, found.parts, who, note=note)
    return Approved(outgoing.key, record, chosen, len(outgoing.warnings), len(outgoing.errors))


def listed(issue: Path, config: Path | None = None, list_name: str | None = None) -> Listed:
    """The approvals of `issue`, each against the issue as it renders now."""
    outgoing, _, found = _rendered(issue, config, list_name, check=False)
    with Store.for_workspace(outgoing.workspace) as store:
        records = store.approvals.of(outgoing.key)
    return Listed(outgoing.key, outgoing.newsletter.approvals, found,
                  [(record, [] if found.covered_by(record.parts)
                    else found.changed(record.parts)) for record in records])
