"""The date an issue bears, for the archive's index (routes/archive.py)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

ISSUE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


class IssueDates:
    """The date an issue bears (its file's `date:`), for the archive's index: that is the
    issue's date, not the day it happened to be sent. Read from `issues/NAME.yaml` in the
    workspace, again only when the file changes; None when the file is gone or has none."""

    def __init__(self, root: Path) -> None:
        self.folder = root / "issues"
        self._known: dict[str, tuple[int, date | None]] = {}

    def __call__(self, issue: str) -> date | None:
        if not ISSUE_NAME.fullmatch(issue) or ".." in issue:
            return None
        path = self.folder / f"{issue}.yaml"
        try:
            changed = path.stat().st_mtime_ns
        except OSError:
            return None
        known = self._known.get(issue)
        if known is None or known[0] != changed:
            known = (changed, _date_in(path))
            self._known[issue] = known
        return known[1]


def _date_in(path: Path) -> date | None:
    import yaml

    try:
        with path.open("rb") as stream:
            value = yaml.safe_load(stream)
    except (OSError, yaml.YAMLError, RecursionError):  # (lists nested hundreds deep)
        return None
    found = value.get("date") if isinstance(value, dict) else None
    if isinstance(found, date):
        return found
    try:
        return date.fromisoformat(str(found)) if found is not None else None
    except ValueError:
        return None
