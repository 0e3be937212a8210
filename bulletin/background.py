"""A loop in a thread of its own beside the web service (the mailbox poller, the scheduler):
started and stopped with the service, each turn one `step` that says how long to wait before
the next; a stop wakes the wait at once and returns when the turn under way has ended."""

from __future__ import annotations

import threading


class Loop:
    """Runs `step()` over and over, waiting what it returns (seconds) between turns, from
    `start()` until `stop()`."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> float:
        """One turn; the seconds until the next."""
        raise NotImplementedError

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ends the loop: the turn under way ends first (each says how it stops)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._stopping.wait(self.step())
