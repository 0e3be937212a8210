"""What the commands do, as library calls: find the workspace, load, render, write, check."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import links
from .errors import OutputError
from .issue import IssueFile, load_issue
from .languages import for_unknown_language
from .message import SAMPLE_RECIPIENT, build_message, recipient_values, to_bytes
from .outfile import write_bytes
from .render import Rendered, editions, render, render_edition
from .settings import Workspace, find_config, load_workspace

if TYPE_CHECKING:  # the checks (parity, image checks, lxml) load only where they run
    from collections.abc import Iterable

    from .checks import Finding
    from .images import MediaFile


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


def load(issue_path: Path, config: Path | None = None,
         delivery: str | None = None) -> tuple[Workspace, IssueFile]:
    """The workspace and the validated issue; `delivery` overrides the newsletter's."""
    workspace = load_workspace(config or find_config(issue_path.parent))
    loaded = load_issue(issue_path, workspace)
    if delivery is not None:
        newsletter = loaded.newsletter.model_copy(update={"delivery": delivery})
        loaded = replace(loaded, newsletter=newsletter)
    return workspace, loaded


def prepare(issue_path: Path, config: Path | None = None, language: str | None = None,
            delivery: str | None = None) -> Prepared:
    """The issue rendered in `language`, else as its first edition."""
    workspace, loaded = load(issue_path, config, delivery)
    return Prepared(workspace, loaded, render(loaded, workspace, language))


def prepare_editions(issue_path: Path, config: Path | None = None,
                     language: str | None = None,
                     delivery: str | None = None) -> list[Prepared]:
    """Every email the issue is sent as (one per language when each subscriber gets their
    own), or only `language`."""
    workspace, loaded = load(issue_path, config, delivery)
    if language is not None:
        return [Prepared(workspace, loaded, render(loaded, workspace, language))]
    prepared = [Prepared(workspace, loaded, render_edition(loaded, workspace, languages))
                for languages in editions(loaded)]
    combined = for_unknown_language(loaded.newsletter)
    if combined is not None:  # subscribers with no recorded language get every language
        both = replace(loaded, newsletter=combined)
        prepared.append(Prepared(workspace, both, render_edition(
            both, workspace, tuple(combined.languages))))
    return prepared


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


def local_view(prepared: Prepared, html: str) -> str:
    """`html` showing its local images from their bytes (data: URIs), with no server: for a
    preview, a rendered .html file or a screenshot, never for mail that is sent."""
    from .images import media_url

    settings = prepared.workspace.settings
    media = prepared.rendered.media
    return inline_for_preview(html, media, {
        m.name: media_url(settings.base_url, settings.media.base_url, m.name) for m in media})


def inline_for_preview(html: str, files: Iterable[MediaFile], urls: dict[str, str]) -> str:
    """`html` with each published image's URL replaced by its bytes as a data: URI, so a
    preview, a rendered .html file or a screenshot shows the images with no server. Never
    for mail that is sent. `urls` maps name -> URL."""
    import base64

    for media in files:
        url = urls.get(media.name)
        if url:
            data = base64.b64encode(media.data).decode()
            html = html.replace(url, f"data:{media.content_type};base64,{data}")
    return html


def output_dir(out_dir: Path, named: str = "--out") -> Path:
    """`out_dir`, made if need be; an OutputError saying why if it cannot be, naming it as
    the command line does (`named`)."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"{named} {out_dir}: a file is in the way; name a folder") from None
    except OSError as exc:
        raise OutputError(f"{named} {out_dir}: cannot make the folder: {exc.strerror}"
                          ) from None
    return out_dir


def write_outputs(prepared: Prepared, out_dir: Path, stem: str | None = None) -> list[Path]:
    """DIR/<stem>.html, .txt and .eml, each replaced whole."""
    filled = sample(prepared)
    output_dir(out_dir)
    written = []
    for suffix, data in ((".html", local_view(prepared, filled.html).encode()),
                         (".txt", filled.text.encode()),
                         (".eml", filled.eml)):
        path = out_dir / f"{stem or prepared.loaded.slug}{suffix}"
        write_bytes(path, data, OutputError)
        written.append(path)
    return written


def run_checks(prepared: Prepared, filled: Sample | None = None,
               fetch_images: bool = False) -> list[Finding]:
    """The checks, on the sample subscriber's parts (made here, without an .eml, if not
    given); with `fetch_images`, remote images are fetched to measure them."""
    from .checks import check

    if filled is not None:
        return check(prepared.loaded, prepared.rendered, filled.html, filled.text,
                     fetch_images)
    values = recipient_values(SAMPLE_RECIPIENT, prepared.workspace.settings.base_url,
                              links.secret_key(required=False))
    return check(prepared.loaded, prepared.rendered, *prepared.rendered.personalise(values),
                 fetch_images)
