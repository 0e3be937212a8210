"""The relay's state during a send, apart from any recipient's: since when it has been
unreachable, and how long to wait before trying it again (longer each time, never past the
outage a send may sit out). The dispatcher asks it each time a connection cannot be made;
none of that is anyone's failure."""

from __future__ import annotations

import time

from .config import DispatchSettings


class Outage:
    """Whether, and since when, the relay has been unreachable."""

    def __init__(self, settings: DispatchSettings) -> None:
        self.settings = settings
        self.since: float | None = None
        """When the relay was first found unreachable, since it was last reached."""

    def reached(self) -> None:
        self.since = None

    def failed(self, tries: int) -> tuple[float, float]:
        """The relay could not be reached, for the (`tries` + 1)-th time in a row for one
        message: (seconds it has been unreachable, seconds to wait before the next try).
        Once it has been unreachable for `max_outage` seconds, the send should stop."""
        now = time.monotonic()
        if self.since is None:
            self.since = now
        down, settings = now - self.since, self.settings
        delay = min(settings.reconnect_delay * 2 ** min(tries, 30),
                    settings.reconnect_delay_max, settings.max_outage - down)
        return down, delay
