"""`bulletin init`: a new workspace of the user's own (a commented bulletin.toml, a starter
issue that shows every feature of the issue format, a .gitignore for the database and keys)
that renders and passes `bulletin check` at once, so nobody has to start by copying the
bundled example and stripping another organisation out of it.

The files are package data beside this module. Nothing that exists is ever overwritten: if any
target is there already, nothing is written at all."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from ..errors import OutputError

FIRST_ISSUE = Path("issues/first-issue.yaml")
FILES = {
    "bulletin.toml": "bulletin.toml",
    str(FIRST_ISSUE): "first-issue.yaml",
    ".gitignore": "gitignore",
}
"""Where each file goes in the new workspace, and the package file it is copied from."""


def create_workspace(folder: Path) -> list[Path]:
    """Write the starter files into `folder` (made if missing); return their paths. Raises
    OutputError, having written nothing, if any of them exists or cannot be written."""
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: exists and is not a folder; name a new or empty folder")
    targets = {folder / name: source for name, source in FILES.items()}
    taken = [path for path in targets if path.exists() or path.is_symlink()]
    if taken:
        raise OutputError(f"{taken[0]}: already exists; bulletin init never overwrites a "
                          f"file, so nothing was written: name a new folder")
    written: list[Path] = []
    try:
        for path, source in targets.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("x", encoding="utf-8") as target:  # "x": never over a file
                target.write(files(__name__).joinpath(source).read_text(encoding="utf-8"))
            written.append(path)
    except OSError as exc:
        for path in written:  # all or nothing
            path.unlink(missing_ok=True)
        raise OutputError(f"{exc.filename or folder}: cannot write: "
                          f"{exc.strerror or exc}") from None
    return written
