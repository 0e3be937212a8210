"""The scheduling use-cases: `bulletin schedule` (everything a send would check, now: the
issue's checks, the key, the settings, the list, the approvals; then the row), and running
one claimed schedule at its time (the same checks again, then the send use-case, stopped by a
cancel at its next look). Cancelling and listing are the store's (store/schedules.py)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ..approval.identity import identity
from ..errors import BulletinError
from ..send.outgoing import render_apart, render_here
from ..send.run import Request, planned
from ..store.schedules import CANCELLED, SENT, WAITING, ScheduleRecord
from ..store.store import Store
from . import timing

log = logging.getLogger("bulletin.schedule")

STOPPED, FAILED = "stopped", "failed"


def schedule(issue: Path, list_name: str | None, at: str, zone_name: str | None = None, *,
             grace: int | None = None, config: Path | None = None,
             who: str | None = None, now: datetime | None = None) -> ScheduleRecord:
    """Schedule `issue` to `list_name` (default: the newsletter's) at local time `at` in
    `zone_name` (default: the newsletter's `timezone`), `grace` minutes late at most
    (default: its `schedule_grace`); refused, with nothing scheduled, if the time is
    impossible or past, or if a send now would be refused (checks, approvals, settings)."""
    asked = now or datetime.now(UTC)  # a time just ahead is not past for having rendered
    if grace is not None:
        timing.grace(grace)
    if zone_name is not None:
        timing.zone(zone_name)
    person = identity(who, issue.parent)
    outgoing = render_here(issue, config, check=True)
    zone_name = zone_name or outgoing.newsletter.timezone
    grace = outgoing.newsletter.schedule_grace if grace is None else grace
    instant = timing.parse_at(at, zone_name, asked)
    request = Request(issue, list_name=list_name, actor=person, source="schedule",
                      sender=person)
    with planned(outgoing, request) as send:  # refuses what the send would refuse
        for other in send.store.schedules.all(statuses=(WAITING,)):
            if (other.issue, other.list_name) == (outgoing.key, send.plan.list_name):
                raise timing.ScheduleError(
                    f"{issue}: already scheduled to {other.list_name} as #{other.id} at "
                    f"{other.shown}; `bulletin schedule cancel {other.id}` first")
        number = send.store.schedules.add(
            outgoing.key, str(issue.resolve()), send.plan.list_name, instant,
            timing.shown(instant, zone_name), grace=grace, created_by=person)
        return send.store.schedules.get(number)


def run(store: Store, record: ScheduleRecord, config: Path | None,
        stopping: Callable[[], bool], *, worker: str | None = None) -> tuple[str, str]:
    """Send a claimed schedule now, as `bulletin send` would (its checks and approvals
    again, the sender its scheduler); how it ended and the report, also recorded. The
    claim's `worker` renews its lease at the send's progress reports."""
    path = Path(record.path)
    resume = f"`bulletin send {path} --list {record.list_name}` resumes it"
    renewed = [time.monotonic()]

    def halt() -> str | None:
        if worker is not None and time.monotonic() - renewed[0] >= timing.HEARTBEAT:
            renewed[0] = time.monotonic()
            store.schedules.beat(record.id, worker)
        if store.schedules.get(record.id).status == CANCELLED:
            return "cancelled"
        return "the service stopped" if stopping() else None

    try:
        outgoing = render_apart(path, config, check=True)
        request = Request(path, list_name=record.list_name, actor=record.created_by,
                          source="schedule", sender=record.created_by)
        with planned(outgoing, request) as send:
            finished = send.run(halt=halt)
    except BulletinError as exc:
        status, report = FAILED, f"not sent: {' '.join(str(exc).split())}"
    except Exception as exc:  # a fault of ours: recorded, so that it is not left running
        log.exception("schedule #%d failed", record.id)
        status, report = FAILED, f"failed: {type(exc).__name__}; {resume}"
    else:
        done = finished.report
        counts = f"{done.sent} sent, {done.failed} failed, {done.uncertain} uncertain"
        if done.stopped == "cancelled":
            status, report = CANCELLED, f"cancelled during the send: {done.sent} sent before " \
                                        f"the cancel; {resume}"
        elif done.stopped:
            status, report = STOPPED, f"stopped ({done.stopped}): {counts}; {resume}"
        else:
            status, report = SENT, counts
    ended = store.schedules.finish(record.id, status, report)
    log.info("schedule #%d (%s to %s): %s: %s", record.id, record.issue, record.list_name,
             ended, report)
    return ended, report
