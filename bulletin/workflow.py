"""What the commands do, as library calls: find the workspace, load, render, write, check."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import links
from .checks import Finding, check
from .issue import IssueFile, load_issue
from .message import SAMPLE_RECIPIENT, build_message, recipient_values, to_bytes
from .render import Rendered, render
from .settings import Workspace, find_config, load_workspace


@dataclass(frozen=True)
class Prepared:
    workspace: Workspace
    loaded: IssueFile
    rendered: Rendered


def prepare(issue_path: Path, config: Path | None = None,
            language: str | None = None) -> Prepared:
    workspace = load_workspace(config or find_config(issue_path.parent))
    loaded = load_issue(issue_path, workspace)
    return Prepared(workspace, loaded, render(loaded, workspace, language))


def write_outputs(prepared: Prepared, out_dir: Path) -> list[Path]:
    """DIR/<stem>.html, .txt and .eml, filled in for the sample subscriber."""
    key = links.secret_key(required=False)
    base_url = prepared.workspace.settings.base_url
    values = recipient_values(SAMPLE_RECIPIENT, base_url, key)
    html, text = prepared.rendered.personalise(values)
    message = build_message(prepared.rendered, prepared.loaded.newsletter, base_url,
                            SAMPLE_RECIPIENT, key)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = prepared.loaded.slug
    written = []
    for suffix, data in ((".html", html.encode()), (".txt", text.encode()),
                         (".eml", to_bytes(message))):
        path = out_dir / f"{stem}{suffix}"
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_bytes(data)
        temporary.replace(path)
        written.append(path)
    return written


def run_checks(prepared: Prepared) -> list[Finding]:
    values = recipient_values(SAMPLE_RECIPIENT, prepared.workspace.settings.base_url,
                              links.secret_key(required=False))
    return check(prepared.loaded, prepared.rendered, values)
