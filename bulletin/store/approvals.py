"""Approvals: who signed off an issue, when, and exactly what they saw (its fingerprint and the
hash of each input), so that a send can count the approvals of the content it is about to
send and name what changed since the others.

    store.approvals.add("news/2026-12", fingerprint, parts, "Ann Jones", note="ok")
    store.approvals.of("news/2026-12")          # oldest first

Rows are only ever added; each approval writes its audit row (action "approved") in the same
transaction. Which approvals count is the approval package's rule, not the store's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .aggregate import Aggregate
from .models import Approval, AuditEntry, now

APPROVED = "approved"
"""The audit trail's action for an approval."""


@dataclass(frozen=True, slots=True)
class ApprovalRecord:
    at: datetime
    approver: str
    fingerprint: str
    parts: dict[str, str]
    """What was hashed (a label such as "the issue file") and its SHA-256."""
    note: str | None


class Approvals(Aggregate):
    """Recording and reading approvals."""

    def add(self, issue: str, fingerprint: str, parts: dict[str, str], approver: str, *,
            note: str | None = None, source: str = "cli") -> ApprovalRecord:
        """Record `approver`'s approval of `issue` as fingerprinted, with its audit row."""
        at = now()
        with self.transaction() as session:
            session.add(Approval(issue=issue, fingerprint=fingerprint,
                                 parts=json.dumps(parts, sort_keys=True), approver=approver,
                                 note=note, at=at))
            session.add(AuditEntry(at=at, email_key=issue, action=APPROVED, source=source,
                                   actor=approver, detail=f"fingerprint {fingerprint}"
                                   + (f"\n{note}" if note else "")))
        return ApprovalRecord(at, approver, fingerprint, parts, note)

    def of(self, issue: str) -> list[ApprovalRecord]:
        """Every approval of `issue`, oldest first."""
        with Session(self.engine) as session:
            rows = session.scalars(select(Approval).where(Approval.issue == issue)
                                   .order_by(Approval.id))
            return [ApprovalRecord(row.at, row.approver, row.fingerprint,
                                   json.loads(row.parts), row.note) for row in rows]
