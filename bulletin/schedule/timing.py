"""When a schedule is for, and what to do about it now: pure functions with `now` passed in,
so that a time at a clock change or a service down for hours is tested without waiting.

A local time is refused when it is in the past, when the zone is unknown, when it happens
twice (clocks go back: 01:30 in Europe/London on the last Sunday of October) or never
(clocks go forward); each is a one-line error saying what to write instead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import BulletinError
from ..fields import GRACE_MAX_MINUTES

FORMAT = "YYYY-MM-DD HH:MM"


class ScheduleError(BulletinError):
    """A schedule that cannot be: a past or impossible time, an unknown zone."""


class Due(StrEnum):
    WAIT = "wait"
    START = "start"
    MISSED = "missed"


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"--timezone {name}: unknown timezone; give an IANA name such as "
                            "Europe/London or UTC") from None


def parse_at(text: str, zone_name: str, now: datetime) -> datetime:
    """The UTC instant `text` (YYYY-MM-DD HH:MM, in `zone_name`) names; ScheduleError if it
    is unreadable, not after `now`, or ambiguous or skipped at a clock change."""
    where = zone(zone_name)
    local = None
    for read in (datetime.fromisoformat, lambda s: datetime.strptime(s, "%Y-%m-%d %H:%M")):
        try:  # ISO 8601, or single digits as people write them: 2026-12-1 9:00
            local = read(" ".join(text.split()))
            break
        except ValueError:
            continue
    if local is None or ":" not in text:  # a date alone is not a time (midnight?)
        raise ScheduleError(f"--at {text}: not a time; write it as {FORMAT}, e.g. "
                            '"2026-12-01 09:00"')
    if local.tzinfo is not None:
        raise ScheduleError(f"--at {text}: give the local time without an offset, and the "
                            "zone with --timezone")
    first, second = local.replace(tzinfo=where, fold=0), local.replace(tzinfo=where, fold=1)
    try:
        at = first.astimezone(UTC)
        back = at.astimezone(where).replace(tzinfo=None)
    except OverflowError:  # year 1 or 9999 beyond UTC's range
        raise ScheduleError(f"--at {text}: out of range; give a time such as "
                            '"2026-12-01 09:00"') from None
    if first.utcoffset() != second.utcoffset():
        if back != local:
            raise ScheduleError(f"--at {text}: that time does not happen in {zone_name} (the "
                                "clocks go forward then); pick a time an hour later or earlier")
        raise ScheduleError(f"--at {text}: that time happens twice in {zone_name} (the clocks "
                            "go back then); pick a time outside the hour, or give it in UTC "
                            "with --timezone UTC")
    if at <= now:
        raise ScheduleError(f"--at {text}: that is in the past (it is now "
                            f"{now.astimezone(where):%Y-%m-%d %H:%M} in {zone_name})")
    return at


def shown(at: datetime, zone_name: str) -> str:
    """The time as the operator reads it: local, with its zone."""
    return f"{at.astimezone(zone(zone_name)):%Y-%m-%d %H:%M} {zone_name}"


def grace(minutes: int) -> int:
    """`minutes` as a grace period, or ScheduleError (one line) if it cannot be one."""
    if not 0 <= minutes <= GRACE_MAX_MINUTES:
        raise ScheduleError(f"--grace {minutes}: give minutes, from 0 to {GRACE_MAX_MINUTES} "
                            "(a week)")
    return minutes


def due(at: datetime, now: datetime, grace_minutes: int,
        up_since: datetime | None = None) -> Due:
    """Whether a waiting schedule should start now, wait, or be given up as missed (its
    time passed more than `grace_minutes` ago while nothing was running: a service that was
    down sends no stale bulletin by itself). A service up and looking since `up_since`, no
    later than `at`, was running at the time (busy sending another schedule, say): it starts
    it, however late."""
    if now < at:
        return Due.WAIT
    if now - at > timedelta(minutes=grace_minutes) and (up_since is None or up_since > at):
        return Due.MISSED
    return Due.START


LEASE = timedelta(minutes=2)
"""How long a running schedule's service may go without renewing its heartbeat before another
service takes it for dead (killed on another host, say): many times the renewal period."""
HEARTBEAT = 5.0
"""Seconds between renewals of a lease by the service sending (at its progress reports, and
at its looks while a send of its is under way)."""


def lease_expired(claimed_at: datetime | None, heartbeat_at: datetime | None,
                  now: datetime, lease: timedelta = LEASE) -> bool:
    """Whether a running schedule's service is taken for dead: neither its claim nor its
    last heartbeat is within `lease` of `now`."""
    last = max((t for t in (claimed_at, heartbeat_at) if t is not None), default=None)
    return last is None or now - last > lease


def sleep_for(waiting: list[datetime], now: datetime, cycle: float) -> float:
    """Seconds until the next look: the soonest waiting time, or `cycle` at most (so that a
    new schedule, or a cancel, is seen within one cycle)."""
    soonest = min(((at - now).total_seconds() for at in waiting), default=cycle)
    return max(0.0, min(cycle, soonest))
