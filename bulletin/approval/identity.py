"""Who is approving, scheduling or sending: one rule, so that the sender's own approval is
recognised as theirs and not counted. `--as NAME`, else BULLETIN_APPROVER, else git's
user.name and user.email ("Ann Jones <ann@example.org>"), else an error saying how to say."""

from __future__ import annotations

import os
import subprocess
import unicodedata
from pathlib import Path

from ..environment import APPROVER
from ..errors import BulletinError
from ..textchars import single_line


class IdentityError(BulletinError):
    """Nobody is named: no --as, no BULLETIN_APPROVER, no git user."""


def identity(given: str | None = None, where: Path | None = None) -> str:
    """The person acting: `given`, else BULLETIN_APPROVER, else the git user of the
    repository at `where` (or the global one)."""
    for candidate in (given, os.environ.get(APPROVER)):
        if candidate is not None and _plain(candidate):
            return _plain(candidate)
    name, email = (_plain(found) if found else None
                   for found in (_git("user.name", where), _git("user.email", where)))
    if name and email:
        return f"{name} <{email}>"
    if name or email:
        return name or email or ""
    raise IdentityError(f"who are you? set {APPROVER}=\"YOUR NAME\", or run `git config "
                        "--global user.name \"YOUR NAME\"` (approve and schedule also take "
                        "--as)")


def same_person(one: str, other: str) -> bool:
    """Whether two identities name the same person: equal ignoring case and spacing, or the
    same email address in angle brackets, or the same name before it."""
    def forms(who: str) -> set[str]:
        who = unicodedata.normalize("NFKC", _plain(who)).casefold()
        name, _, rest = who.partition("<")
        found = {who, name.strip().strip("\"'").strip()}
        if rest:
            found.add(rest.rstrip(">").strip())
        return found - {""}

    return bool(forms(one) & forms(other))


def _plain(who: str) -> str:
    """`who` as one plain line (textchars.single_line), and without any invisible format
    character (category Cf: a joiner too), which would make one name look like another."""
    return single_line("".join(" " if unicodedata.category(c) == "Cf" else c for c in who))


def _git(key: str, where: Path | None) -> str | None:
    try:
        done = subprocess.run(["git", "config", "--get", key], cwd=where, text=True,
                              capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    value = " ".join(done.stdout.split())
    return value if done.returncode == 0 and value else None
