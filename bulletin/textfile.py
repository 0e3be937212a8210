"""Reading a whole text file the user named (bulletin.toml, an issue's YAML), with the one set
of plain messages for what goes wrong: no such file, not UTF-8, cannot read. Low level (it
imports only the errors) so that the settings and the issue loader share it; each passes the
error class its callers expect."""

from __future__ import annotations

from pathlib import Path

from .errors import BulletinError


def read_text(path: Path, error: type[BulletinError]) -> str:
    """The file's text, decoded as UTF-8; `error` with a one-line message naming the file
    and what to do when it is missing, not UTF-8 or unreadable."""
    try:
        return path.read_text(encoding="utf-8-sig")  # a byte-order mark (Notepad's) is no text
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        data = exc.object
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            raise error(f"{path}: the file is UTF-16 text; save it as UTF-8") from None
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        raise error(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at column "
                    f"{column}); save the file as UTF-8") from None
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror or exc}") from None
