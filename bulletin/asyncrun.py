"""Running a coroutine from synchronous code, even where this thread already has an event
loop running (a notebook, a test with a browser open): then on a thread of its own; and
waiting for an event at most so long (`until`), which the sender's waits share."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


def in_main_thread() -> bool:
    """Signal handlers can be installed only here."""
    return threading.current_thread() is threading.main_thread()


async def until(event: asyncio.Event, timeout: float) -> bool:
    """Wait until `event` is set (True) or `timeout` seconds have passed (False)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)
        return True
    return False
