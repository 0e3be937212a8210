"""The fingerprint of an issue as it would be sent: SHA-256 over everything that decides what
recipients get, so that an approval names one exact content and any later change, of one byte
of the issue, a template, the settings or an image, no longer matches it.

It is made of parts, each hashed on its own, so that a mismatch can name what changed:

    the email (LANG)   each edition's subject, preheader, HTML and text as rendered, the
                       sender and reply-to (what the theme, the settings and the issue made;
                       local images published content-addressed are named in the HTML by
                       the hash of their bytes, so those bytes are in it too)
    the list           the list it goes to
    the issue file     its bytes
    bulletin.toml      its bytes
    the theme NAME     every file of the theme's folder (templates and catalogues)
    the image PATH     each local file the issue or the brand names (src, dark_src)

The digest is SHA-256 over the parts' names and hashes. An approval covers a send when every
part of the send's fingerprint is in the approval's, with the same hash (`covered_by`): the
whole issue, or one language's edition of it (`send --lang`). Pure: it reads the files named
and nothing else, and hashes; no database, no rendering (the send renders before asking)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..send.outgoing import Outgoing

EMAIL = "the email"
"""The start of each edition's part's name: "the email (cy)", "the email (cy,en)"."""
LIST = "the list"
ISSUE = "the issue file"
SETTINGS = "bulletin.toml"

_SOURCE = re.compile(r"""\b(?:dark_)?src\s*:\s*(?:"([^"]+)"|'([^']+)'|([^"'\s,}#]+))""")
"""A `src:` or `dark_src:` value in the issue file (flow or block style)."""


@dataclass(frozen=True)
class Fingerprint:
    digest: str
    """SHA-256, hex, of every part."""
    parts: dict[str, str]
    """Each part's name and SHA-256."""

    def changed(self, earlier: dict[str, str]) -> list[str]:
        """The names of the parts that differ from `earlier` (an approval's parts): in the
        order above, then parts that are new or gone. The email is named only when no file
        behind it changed (the same files rendered differently: another bulletin version)."""
        names = list(self.parts) + [name for name in earlier if name not in self.parts
                                    and not name.startswith(EMAIL)]  # one edition's send
        found = [name for name in names if self.parts.get(name) != earlier.get(name)]
        files = [name for name in found if not name.startswith(EMAIL)]
        return files or found

    def covered_by(self, approved: dict[str, str]) -> bool:
        """Whether an approval of `approved` (its parts) covers this content: every part
        here is there, the same."""
        return all(approved.get(name) == value for name, value in self.parts.items())


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def of(outgoing: Outgoing, issue: Path, list_name: str) -> Fingerprint:
    """The fingerprint of `outgoing` (the issue file `issue` rendered) sent to `list_name`."""
    workspace, newsletter = outgoing.workspace, outgoing.newsletter
    parts = {}
    for edition in outgoing.editions:
        rendered = edition.rendered
        email = hashlib.sha256()
        for field in (rendered.subject, rendered.preheader, rendered.html, rendered.text,
                      newsletter.sender, newsletter.reply_to or ""):
            _field(email, field)
        parts[f"{EMAIL} ({','.join(rendered.languages)})"] = email.hexdigest()
    parts.update({LIST: sha256(list_name.encode()), ISSUE: _file(issue),
                  SETTINGS: _file(workspace.config_path)})
    theme = workspace.theme_dir(newsletter)
    parts[f"the theme {newsletter.theme}"] = folder(theme)
    logo = newsletter.brand.logo
    brand_images = [] if logo is None else [
        getattr(logo, name, None) for name in ("src", "dark_src")]
    for path in sorted(set(local_files(issue, workspace.root, brand_images))):
        shown = _shown(path, workspace.root)
        parts[f"the image {shown}"] = _file(path)
    return Fingerprint(digest(parts), parts)


def digest(parts: dict[str, str]) -> str:
    total = hashlib.sha256()
    for name in sorted(parts):
        _field(total, name)
        _field(total, parts[name])
    return total.hexdigest()


def folder(path: Path) -> str:
    """SHA-256 over every file under `path`: its relative name and bytes, in name order."""
    total = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        if "__pycache__" in file.parts:
            continue
        _field(total, file.relative_to(path).as_posix())
        total.update(bytes.fromhex(_file(file)))
    return total.hexdigest()


def local_files(issue: Path, root: Path, brand: Iterable[object]) -> list[Path]:
    """The files the issue (relative to its folder) and the brand (relative to bulletin.toml's
    folder) name as images; URLs and names of no file are left out."""
    found = []
    try:
        text = issue.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    named = [(issue.parent, "".join(match)) for match in _SOURCE.findall(text)]
    named += [(root, str(source)) for source in brand if isinstance(source, str | Path)]
    for base, name in named:
        if "://" in name or name.startswith(("data:", "cid:")):
            continue
        path = (base / name).resolve()
        if path.is_file():
            found.append(path)
    return found


def _field(hash_: hashlib._Hash, value: str) -> None:
    data = value.encode("utf-8")
    hash_.update(len(data).to_bytes(8, "big"))
    hash_.update(data)


def _file(path: Path) -> str:
    try:
        return sha256(path.read_bytes())
    except OSError:
        return "missing"


def _shown(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)
