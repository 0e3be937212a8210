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

FORMAT = "YYYY-MM-DD HH:MM"
GRACE_MINUTES = 30
"""How late, by default, a schedule may still start by itself."""


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
    try:
        local = datetime.fromisoformat(" ".join(text.split()))
    except ValueError:
        raise ScheduleError(f"--at {text}: not a time; write it as {FORMAT}, e.g. "
                            '"2026-12-01 09:00"') from None
    if local.tzinfo is not None:
        raise ScheduleError(f"--at {text}: give the local time without an offset, and the "
                            "zone with --timezone")
    first, second = local.replace(tzinfo=where, fold=0), local.replace(tzinfo=where, fold=1)
    if first.utcoffset() != second.utcoffset():
        back = first.astimezone(UTC).astimezone(where).replace(tzinfo=None)
        if back != local:
            raise ScheduleError(f"--at {text}: that time does not happen in {zone_name} (the "
                                "clocks go forward then); pick a time an hour later or earlier")
        raise ScheduleError(f"--at {text}: that time happens twice in {zone_name} (the clocks "
                            "go back then); pick a time outside the hour, or give it in UTC "
                            "with --timezone UTC")
    at = first.astimezone(UTC)
    if at <= now:
        raise ScheduleError(f"--at {text}: that is in the past (it is now "
                            f"{now.astimezone(where):%Y-%m-%d %H:%M} in {zone_name})")
    return at


def shown(at: datetime, zone_name: str) -> str:
    """The time as the operator reads it: local, with its zone."""
    return f"{at.astimezone(zone(zone_name)):%Y-%m-%d %H:%M} {zone_name}"


def due(at: datetime, now: datetime, grace_minutes: int) -> Due:
    """Whether a waiting schedule should start now, wait, or be given up as missed (its
    time passed more than `grace_minutes` ago: a service that was down sends no stale
    bulletin by itself)."""
    if now < at:
        return Due.WAIT
    if now - at > timedelta(minutes=grace_minutes):
        return Due.MISSED
    return Due.START


def sleep_for(waiting: list[datetime], now: datetime, cycle: float) -> float:
    """Seconds until the next look: the soonest waiting time, or `cycle` at most (so that a
    new schedule, or a cancel, is seen within one cycle)."""
    soonest = min(((at - now).total_seconds() for at in waiting), default=cycle)
    return max(0.0, min(cycle, soonest))
