"""Scheduled sends: an issue to a list at a time, and the one service that runs it.

    number = store.schedules.add("news/dec", "issues/dec.yaml", "news", at, "2026-12-01 09:00
                                 Europe/London", grace=30, created_by="Ann")
    if store.schedules.claim(number, "host:pid"):   # one service alone wins
        ...
        store.schedules.finish(number, "sent", "1,000 sent")

The states (models.Schedule): scheduled -> running -> sent | stopped | failed;
scheduled -> missed | cancelled; running -> cancelled. Every change of state is one
conditional UPDATE (`... WHERE id = :id AND status = :expected`), so two services polling the
same database can both try and exactly one succeeds: the lock is the row's status, held by
the database, with nothing to clean up after a crash. Scheduling, cancelling and missing each
write an audit row about the issue, and so do starting and finishing (with the report), so
that the trail says when a scheduled send went and how it ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from .aggregate import Aggregate
from .errors import StoreError
from .models import AuditEntry, Schedule, now

WAITING = "scheduled"
RUNNING = "running"
CANCELLED = "cancelled"
SENT = "sent"
MISSED = "missed"


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    id: int
    issue: str
    """The issue's ledger name (newsletter/stem)."""
    path: str
    """The issue file, absolute."""
    list_name: str
    at: datetime
    shown: str
    """The time as it was asked for, with its zone."""
    grace: int
    """Minutes late it may still start."""
    status: str
    created_by: str
    claimed_by: str | None
    claimed_at: datetime | None
    report: str | None
    heartbeat_at: datetime | None = None
    """When the service sending it last said it was alive (its lease; None: not yet)."""


class Schedules(Aggregate):
    """Scheduling, claiming and finishing scheduled sends."""

    def add(self, issue: str, path: str, list_name: str, at: datetime, shown: str, *,
            grace: int, created_by: str) -> int:
        """A new schedule, waiting; its number."""
        with self.transaction() as session:
            row = Schedule(issue=issue, path=path, list_name=list_name, at=at, shown=shown,
                           grace=grace, status=WAITING, created_by=created_by,
                           created_at=now())
            session.add(row)
            session.flush()
            _audit(session, row, "scheduled", created_by, f"#{row.id} to {list_name} at "
                   f"{shown}")
            return row.id

    def all(self, *, statuses: tuple[str, ...] = ()) -> list[ScheduleRecord]:
        """Every schedule (or those in `statuses`), soonest first."""
        with Session(self.engine) as session:
            query = select(Schedule).order_by(Schedule.at, Schedule.id)
            if statuses:
                query = query.where(Schedule.status.in_(statuses))
            return [_record(row) for row in session.scalars(query)]

    def get(self, number: int) -> ScheduleRecord:
        with Session(self.engine) as session:
            row = session.get(Schedule, number)
            if row is None:
                raise StoreError(f"no schedule #{number}; `bulletin schedule list` shows them")
            return _record(row)

    def claim(self, number: int, worker: str) -> bool:
        """Take a waiting schedule to run it; false if another service took it first (or it
        was cancelled)."""
        return self._move(number, WAITING, RUNNING, claimed_by=worker, claimed_at=now(),
                          audit=("schedule-started", None, f"#{number} by {worker}"))

    def beat(self, number: int, worker: str, at: datetime | None = None) -> bool:
        """Renew `worker`'s lease on the running schedule (its heartbeat, `at` or now); false
        if it is no longer running under that worker (cancelled, or settled as dead)."""
        with self.transaction() as session:
            renewed: bool = session.execute(
                update(Schedule).where(Schedule.id == number, Schedule.status == RUNNING,
                                       Schedule.claimed_by == worker)
                .values(heartbeat_at=at or now())).rowcount == 1  # type: ignore[attr-defined]
            return renewed

    def expire(self, record: ScheduleRecord, status: str, report: str) -> bool:
        """Mark a running schedule whose lease ran out `status` (stopped) with `report`, as
        `record` saw it: false if its service renewed the lease meanwhile (or it moved on),
        so that a late heartbeat wins over the verdict that it was dead."""
        seen = Schedule.heartbeat_at.is_(None) if record.heartbeat_at is None \
            else Schedule.heartbeat_at == record.heartbeat_at
        return self._move(record.id, RUNNING, status, seen, report=report, finished_at=now(),
                          audit=("schedule-finished", None, f"#{record.id} {status}: {report}"))

    def miss(self, number: int) -> bool:
        """Mark a waiting schedule missed (too late to start by itself)."""
        return self._move(number, WAITING, MISSED, finished_at=now(), audit=(
            "schedule-missed", None, "too late to start: more than its grace period"))

    def cancel(self, number: int, actor: str) -> str:
        """Cancel a waiting or running schedule; the status it had. A running send sees
        it at its next look and stops (see bulletin.schedule)."""
        record = self.get(number)
        for status in (WAITING, RUNNING):
            if self._move(number, status, CANCELLED, audit=(
                    "schedule-cancelled", actor, f"#{number} while {status}")):
                return status
        raise StoreError(f"schedule #{number} is {self.get(number).status}, not waiting "
                         f"or running: nothing to cancel ({record.issue})")

    def finish(self, number: int, status: str, report: str) -> str:
        """Record how a running schedule ended (`status`, unless it was cancelled meanwhile,
        which stays, except when every message had gone) and its report; the status it ends
        in."""
        with self.transaction() as session:
            row = session.get(Schedule, number)
            if row is None:
                raise StoreError(f"no schedule #{number}")
            if row.status == CANCELLED and status == SENT:  # the cancel came too late
                report += "; the cancel came after the last message had gone"
                row.status = status
            if row.status == RUNNING:
                row.status = status
            row.report = report
            row.finished_at = now()
            _audit(session, row, "schedule-finished", None, f"#{number} {row.status}: {report}")
            return row.status

    def _move(self, number: int, old: str, new: str, *where: ColumnElement[bool],
              audit: tuple[str, str | None, str] | None = None, **values: object) -> bool:
        with self.transaction() as session:
            moved: bool = session.execute(
                update(Schedule).where(Schedule.id == number, Schedule.status == old, *where)
                .values(status=new, **values)).rowcount == 1  # type: ignore[attr-defined]
            if moved and audit is not None:
                row = session.get(Schedule, number)
                assert row is not None
                _audit(session, row, audit[0], audit[1], audit[2])
            return moved


def _audit(session: Session, row: Schedule, action: str, actor: str | None,
           detail: str) -> None:
    session.add(AuditEntry(at=now(), email_key=row.issue, action=action, source="schedule",
                           actor=actor, detail=detail))


def _record(row: Schedule) -> ScheduleRecord:
    return ScheduleRecord(row.id, row.issue, row.path, row.list_name, row.at, row.shown,
                          row.grace, row.status, row.created_by, row.claimed_by,
                          row.claimed_at, row.report, row.heartbeat_at)
