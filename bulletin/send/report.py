"""What one run of the dispatcher did, as it goes: the counts the progress bar and the final
line show, and its failures by kind of reply (dispatch.py keeps it up to date); and the
reason, on one line, a fault of its own gives a message."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

FAILURE_KINDS = 50
_ADDRESS = re.compile(r"<?[^\s<>@\"']+@[^\s<>\"']+>?")


@dataclass
class Report:
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    uncertain: int = 0
    unreachable: int = 0
    """Times a connection to the relay could not be made (each tried again later)."""
    stopped: str | None = None
    seconds: float = 0.0
    last_failures: dict[str, int] = field(default_factory=dict)
    """Failures by reply, addresses taken out (so that a reply naming each recipient does not
    make a key each), at most `FAILURE_KINDS` kinds; the rest under one key."""

    @property
    def done(self) -> int:
        """Messages this run is done with: sent, failed, or left uncertain."""
        return self.sent + self.failed + self.uncertain

    def tally(self, reply: str) -> None:
        """One more failure with `reply`, under its kind."""
        kind = _ADDRESS.sub("<address>", reply)
        if kind not in self.last_failures and len(self.last_failures) >= FAILURE_KINDS:
            kind = "(other replies)"
        self.last_failures[kind] = self.last_failures.get(kind, 0) + 1


Progress = Callable[[Report], None]


def reason(exc: Exception) -> str:
    """An exception as a reason on one line, for the ledger."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
