"""The rate limit, on a fake clock: never more than the rate in any window."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bulletin.fields import SLOWEST_RATE, rate_problem
from bulletin.send.ratelimit import RateLimit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(limit: RateLimit, clock: Clock, count: int) -> list[float]:
    """Times at which `count` messages were allowed to go."""
    sent = []
    while len(sent) < count:
        pause = limit.delay()
        if pause == 0:
            sent.append(clock.now)
        else:
            clock.now += pause
    return sent


@given(st.floats(0.5, 500), st.integers(1, 400))
def test_per_second(rate: float, count: int) -> None:
    clock = Clock()
    times = run(RateLimit(per_second=rate, clock=clock), clock, count)
    start = times[0]
    for index, at in enumerate(times):
        # The bucket starts full with one second's worth (at least one), then refills.
        assert index + 1 <= max(1, rate) + (at - start) * rate + 1e-6


@given(st.integers(1, 50), st.integers(1, 200))
def test_per_hour_window(per_hour: int, count: int) -> None:
    clock = Clock()
    times = run(RateLimit(per_hour=per_hour, clock=clock), clock, count)
    for index, at in enumerate(times):
        in_window = [t for t in times[:index + 1] if t > at - 3600]
        assert len(in_window) <= per_hour


def test_no_limit_never_waits() -> None:
    clock = Clock()
    assert run(RateLimit(clock=clock), clock, 1000)[-1] == 1000.0


def test_steady_rate() -> None:
    clock = Clock()
    times = run(RateLimit(per_second=10, clock=clock), clock, 110)
    assert times[-1] - times[0] == pytest.approx(10.0, abs=0.11)


@example(SLOWEST_RATE)
@example(math.nextafter(SLOWEST_RATE, 0))
@example(1e-300)
@example(math.inf)
@given(st.floats())
def test_a_rate_is_refused_exactly_when_it_is_none_or_would_wait_over_an_hour(
        rate: float) -> None:
    """bulletin.toml's rate_per_second and `bulletin send --rate` (one rule, rate_problem):
    a rate that is a rate, and whose longest wait between two messages is an hour or less."""
    problem = rate_problem(rate)
    if not (0 < rate < math.inf):
        assert problem is not None and problem.startswith(
            "give the most messages a second as a finite number above 0")
        return
    clock = Clock()
    limit = RateLimit(per_second=rate, clock=clock)
    assert limit.delay() == 0
    longest = limit.delay()  # the second message waits for the bucket to refill
    if problem is None:
        assert longest <= 3600 * (1 + 1e-12)
    else:
        assert longest > 3600 * (1 - 1e-12)
        assert problem.startswith("that is under one message an hour")
