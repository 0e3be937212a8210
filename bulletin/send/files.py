"""Transports that send nothing: a folder of .eml files (dry runs) and a list in memory
(tests). Both accept every message."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import NamedTuple, Self

from ..dotstuff import dot_unstuff
from .transport import SENT, Handover, Result

_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")
_NUMBERED = re.compile(r"^(\d+)-")
_NAME_LIMIT = 100


def safe_name(recipient: str) -> str:
    """`recipient` as a file name: letters, digits and @._+- kept, anything else `_`,
    at most 100 characters, never starting with a dot."""
    return _UNSAFE.sub("_", recipient)[:_NAME_LIMIT].lstrip(".") or "_"


def _taken(data: bytes, stuffed: bool, handover: Handover | None) -> bytes:
    """The message as given to a transport that takes it at once: unstuffed, its handover
    told (see `Transport.send`)."""
    if handover is not None:
        handover()
    return dot_unstuff(data) if stuffed else data


class FileTransport:
    """Writes each message to `directory/<n>-<recipient>.eml`, n counting on from the
    highest number already there, so a second dry run into the same folder overwrites
    nothing. Each file appears whole (written aside, then renamed)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._count = 0

    async def __aenter__(self) -> Self:
        self.directory.mkdir(parents=True, exist_ok=True)
        numbers = [int(m[1]) for p in self.directory.iterdir() if (m := _NUMBERED.match(p.name))]
        self._count = max(numbers, default=0)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        return None

    async def send(self, sender: str, recipient: str, data: bytes, *,
                   stuffed: bool = False, handover: Handover | None = None) -> Result:
        data = _taken(data, stuffed, handover)
        self._count += 1
        path = self.directory / f"{self._count:06d}-{safe_name(recipient)}.eml"
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return SENT


class Sent(NamedTuple):
    sender: str
    recipient: str
    data: bytes


class MemoryTransport:
    """Records each message in `messages`. `outcome`, if given, decides each send's result
    (to test what a dispatcher does with failures); only SENT messages are recorded."""

    def __init__(self, outcome: Callable[[str, str, bytes], Result] | None = None) -> None:
        self.messages: list[Sent] = []
        self.outcome = outcome
        self.open = False

    async def __aenter__(self) -> Self:
        self.open = True
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        self.open = False

    async def send(self, sender: str, recipient: str, data: bytes, *,
                   stuffed: bool = False, handover: Handover | None = None) -> Result:
        data = _taken(data, stuffed, handover)
        result = self.outcome(sender, recipient, data) if self.outcome else SENT
        if result.sent:
            self.messages.append(Sent(sender, recipient, data))
        return result
