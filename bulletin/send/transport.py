"""The interface every transport implements, and what one send returns.

A transport takes one complete message for one envelope recipient and says what became of
it. It never raises for what a mail server answers or for a lost connection: those become a
`Result`. It raises a `bulletin.errors.SendError` only when the settings themselves are
wrong (TLS refused, the login rejected, no server there at the start), since every later
message would fail the same way.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

Handover = Callable[[], None]
"""Called by a transport just before it writes the end of a message's data: from then on
the server may take the message, so a sender that dies without its reply cannot know."""


class Status(enum.Enum):
    SENT = "sent"
    """The server took responsibility for the message (250 after the end of data)."""
    TEMPORARY = "temporary"
    """Not accepted, and worth trying again later: a 4xx reply at any stage, or the
    connection lost or timed out before the end of data was written."""
    PERMANENT = "permanent"
    """Refused for good: a 5xx reply at any stage. Do not try again."""
    UNCERTAIN = "uncertain"
    """The end of data was written but no reply came (the connection dropped or timed
    out): the server may have accepted the message. Never resend it automatically."""


@dataclass(frozen=True, slots=True)
class Result:
    status: Status
    code: int
    """The server's reply code; 0 when there was no reply (a lost connection, a timeout)."""
    reply: str
    """The server's reply text (lines joined by newlines), or what happened instead."""
    unreachable: bool = False
    """Nothing was sent because the relay could not be reached (no connection, or it would
    not greet us): the relay's state, nothing to do with this recipient."""

    @property
    def sent(self) -> bool:
        return self.status is Status.SENT


SENT = Result(Status.SENT, 250, "OK")
"""What the transports that always succeed (file, memory) return."""


class Transport(Protocol):
    """`async with transport: await transport.send(...)`, one message at a time or
    concurrently; each transport says how many it sends at once."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None: ...

    async def send(self, sender: str, recipient: str, data: bytes, *,
                   stuffed: bool = False, handover: Handover | None = None) -> Result:
        """Send `data` (a complete RFC 5322 message, CRLF line ends) from the envelope
        sender `sender` to the one envelope recipient `recipient`. With `stuffed`, `data` is
        already dot-stuffed for SMTP's DATA (`smtp.dot_stuff`), as the dispatcher makes it
        once per template rather than once per message. `handover`, if given, is called
        once the message may have been taken (just before the end of its data is written),
        and never for a message refused or lost before that."""
        ...
