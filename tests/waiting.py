"""Waiting for something to happen, not for some time to pass.

A test that sleeps and then looks, or kills a process after so many seconds, assumes how fast
the machine is; on a busy machine it looks too early. `wait_for` polls a condition instead.
Its deadline is only a safety net, so that a test that would otherwise hang fails, saying what
it waited for: it is far beyond anything a slow machine needs, never a timing assumption."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

SAFETY = 300.0
"""Seconds to wait for something that should happen: reached only when something is wrong."""

T = TypeVar("T")


def wait_for(condition: Callable[[], T], what: str, *, deadline: float = SAFETY,
             interval: float = 0.005) -> T:
    """Call `condition` until it returns something true, and return that; fail the test
    after `deadline` seconds without it."""
    give_up = time.monotonic() + deadline
    while not (value := condition()):
        if time.monotonic() > give_up:
            raise AssertionError(f"waited {deadline:g} s (a safety net) for {what}")
        time.sleep(interval)
    return value
