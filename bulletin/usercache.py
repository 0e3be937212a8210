"""What a render can make again, kept between commands so that `bulletin render` does not
redo it each time: processed local images here, compiled Jinja templates (templatecache.py)
in a folder of it, and the rules premailer reads from a theme's CSS (render.py).

They live in the user's cache folder ($XDG_CACHE_HOME/bulletin, else ~/.cache/bulletin),
never in a workspace. Nothing there is needed: every entry is checked against what it was
made from before it is used (a template's source checksum, an image's bytes and display
size), so a changed file is made afresh, and a folder that is missing, unwritable or damaged
only costs time, never a wrong result or an error."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def folder(part: str) -> Path | None:
    """The cache's `part` subfolder, made if need be; None when it cannot be, or when there
    is no absolute folder to put it in (a relative XDG_CACHE_HOME is ignored, as the XDG
    specification asks; a home folder that cannot be found would be taken for the folder
    the command runs in)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
        if not os.path.isabs(base):
            return None
    path = Path(base) / "bulletin" / part
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return path


Made = tuple[str, bytes, str, int, int]  # name, bytes, content type, width, height


def image(raw: bytes, details: tuple[object, ...], make: Callable[[], Made]) -> Made:
    """What `make` makes of the file `raw` with `details` (display size, codec version...),
    kept from an earlier command when it made the same; else made now and kept."""
    directory = folder("images")
    if directory is None:
        return make()
    digest = hashlib.sha256(raw)
    digest.update(repr(details).encode())
    path = directory / f"{digest.hexdigest()}.bin"
    try:
        head, data = path.read_bytes().split(b"\n", 1)
        record = json.loads(head)
        if record["sha256"] == hashlib.sha256(data).hexdigest():
            return record["name"], data, record["type"], record["width"], record["height"]
    except (OSError, ValueError, TypeError, KeyError):
        pass  # not kept yet, or damaged: made again
    made = make()
    name, data, content_type, width, height = made
    record = {"name": name, "type": content_type, "width": width, "height": height,
              "sha256": hashlib.sha256(data).hexdigest()}
    _write(path, json.dumps(record).encode() + b"\n" + data)
    return made


def kept(part: str, key: bytes, make: Callable[[], bytes | None],
         read: Callable[[bytes], T | None]) -> T | None:
    """What `read` makes of the bytes `make` makes, kept in the cache's `part` folder under a
    digest of `key` (which must name everything the bytes depend on): from an earlier
    command when one kept them (whole, and `read` makes something of them), else made now and
    kept. None when `make` makes nothing to keep, or `read` nothing of what it makes."""
    directory = folder(part)
    if directory is None:
        made = make()
        return None if made is None else read(made)
    path = directory / f"{hashlib.sha256(key).hexdigest()}.bin"
    try:
        head, data = path.read_bytes().split(b"\n", 1)
        if head.decode() == hashlib.sha256(data).hexdigest():
            found = read(data)
            if found is not None:
                return found
    except (OSError, ValueError):
        pass  # not kept yet, or damaged: made again
    made = make()
    if made is None:
        return None
    _write(path, hashlib.sha256(made).hexdigest().encode() + b"\n" + made)
    return read(made)


def _write(path: Path, data: bytes) -> None:
    """`data` at `path`, whole (a new file renamed into place), or nothing."""
    made = None
    try:
        handle, made = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(made, path)
    except OSError:
        if made is not None:
            with contextlib.suppress(OSError):
                os.unlink(made)
