"""Writing a file the user named (a rendered issue, an export, an image for a CDN): all or
nothing. The data goes to PATH.tmp first and replaces PATH only when complete, so an error
or Ctrl-C never leaves a half-written file where a whole one is expected; what goes wrong is
one message naming the file. Low level: it imports only the errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from .errors import BulletinError


@contextmanager
def _replaced(path: Path, error: type[BulletinError]) -> Iterator[Path]:
    """A temporary file beside `path` to write, renamed onto `path` when the block ends
    without an exception, removed otherwise."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        yield temporary
        temporary.replace(path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise error(f"{path}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextmanager
def replacing(path: Path, error: type[BulletinError]) -> Iterator[TextIO]:
    """A UTF-8 text stream (newlines as written) whose contents replace `path` when the block
    ends without an exception; `error` naming the file when it cannot be written."""
    with _replaced(path, error) as temporary, \
            temporary.open("w", encoding="utf-8", newline="") as stream:
        yield stream


def write_bytes(path: Path, data: bytes, error: type[BulletinError]) -> None:
    """`path` holding `data`, whole or not at all; `error` naming the file when it cannot be
    written."""
    with _replaced(path, error) as temporary:
        temporary.write_bytes(data)
