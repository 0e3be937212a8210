"""A limit on messages per second and per hour, shared by every connection of a send."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from ..asyncrun import until


class RateLimit:
    """`await limit.wait()` before each message. Per second: a token bucket holding one
    second's worth (at least one message), so the rate holds without bursts beyond it.
    Per hour: a sliding window of the send times of the last hour."""

    def __init__(self, per_second: float | None = None, per_hour: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if per_second is not None and per_second <= 0:
            raise ValueError("per_second must be positive")
        if per_hour is not None and per_hour < 1:
            raise ValueError("per_hour must be at least 1")
        self.per_second = per_second
        self.per_hour = per_hour
        self._clock = clock
        self._capacity = max(1.0, per_second or 0.0)
        self._tokens = self._capacity
        self._filled = clock()
        self._hour: deque[float] = deque()
        self._lock = asyncio.Lock()

    def delay(self) -> float:
        """Seconds to wait before the next message may go; 0 takes its place now."""
        now = self._clock()
        wait = 0.0
        if self.per_second is not None:
            self._tokens = min(self._capacity,
                               self._tokens + (now - self._filled) * self.per_second)
            self._filled = now
            if self._tokens < 1 - 1e-9:
                wait = (1 - self._tokens) / self.per_second
        if self.per_hour is not None:
            while self._hour and self._hour[0] <= now - 3600:
                self._hour.popleft()
            if len(self._hour) >= self.per_hour:
                wait = max(wait, self._hour[0] + 3600 - now)
        if wait == 0:
            if self.per_second is not None:
                self._tokens = max(0.0, self._tokens - 1)
            if self.per_hour is not None:
                self._hour.append(now)
        return wait

    async def wait(self, stop: asyncio.Event | None = None) -> bool:
        """Until the next message may go (True), or until `stop` is set (False: that message
        must not go): at once, and without a lock, when there is no limit (the dispatcher
        awaits it for every message, limit or not)."""
        if self.per_second is None and self.per_hour is None:
            return True
        async with self._lock:
            while (pause := self.delay()) > 0:
                if stop is None:
                    await asyncio.sleep(pause)
                elif await until(stop, pause):
                    return False
        return True
