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


@dataclass(frozen=True)
class Sample:
    """The issue as the sample subscriber receives it."""

    html: str
    text: str
    eml: bytes
    values: dict[str, str]


def prepare(issue_path: Path, config: Path | None = None,
            language: str | None = None) -> Prepared:
    workspace = load_workspace(config or find_config(issue_path.parent))
    loaded = load_issue(issue_path, workspace)
    return Prepared(workspace, loaded, render(loaded, workspace, language))


def sample(prepared: Prepared) -> Sample:
    """Placeholders filled for the sample subscriber, with tokens signed by
    BULLETIN_SECRET_KEY when it is set (else a throwaway key)."""
    key = links.secret_key(required=False)
    base_url = prepared.workspace.settings.base_url
    values = recipient_values(SAMPLE_RECIPIENT, base_url, key)
    html, text = prepared.rendered.personalise(values)
    message = build_message(prepared.rendered, prepared.loaded.newsletter, base_url,
                            SAMPLE_RECIPIENT, key)
    return Sample(html, text, to_bytes(message), values)


def write_outputs(prepared: Prepared, out_dir: Path) -> list[Path]:
    """DIR/<stem>.html, .txt and .eml, each replaced whole."""
    filled = sample(prepared)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix, data in ((".html", filled.html.encode()), (".txt", filled.text.encode()),
                         (".eml", filled.eml)):
        path = out_dir / f"{prepared.loaded.slug}{suffix}"
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_bytes(data)
        temporary.replace(path)
        written.append(path)
    return written


def run_checks(prepared: Prepared, filled: Sample | None = None) -> list[Finding]:
    filled = filled or sample(prepared)
    return check(prepared.loaded, prepared.rendered, filled.values)
