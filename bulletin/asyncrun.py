"""Running a coroutine from synchronous code, even where this thread already has an event
loop running (a notebook, a test with a browser open): then on a thread of its own."""

from __future__ import annotations

import asyncio
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
