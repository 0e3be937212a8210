"""Published images written out as files (`bulletin media export`): from the store, as sends
published them, or rendered now from issues, for copying to where `[media] base_url` points."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .errors import OutputError
from .images import MediaFile, is_media_name
from .outfile import write_bytes


def write(folder: Path, files: Iterable[MediaFile]) -> list[Path]:
    """FOLDER/<name> for each file not there yet (a name is its content's hash)."""
    from .workflow import output_dir

    output_dir(folder, "FOLDER")
    written = []
    for media in files:
        if not is_media_name(media.name):
            continue
        path = folder / media.name
        if path.is_file():
            continue
        write_bytes(path, media.data, OutputError)
        written.append(path)
    return written


def export_store(folder: Path, config: Path | None) -> list[Path]:
    """Every image in the workspace's store."""
    from .settings import find_config, load_workspace
    from .store import Store

    workspace = load_workspace(config or find_config())
    with Store.for_workspace(workspace) as store:
        found = (store.media.get(name) for name in store.media.names())
        return write(folder, (MediaFile(m.name, m.data, m.content_type)
                              for m in found if m is not None))


def export_issues(folder: Path, issues: list[Path], config: Path | None) -> list[Path]:
    """The images of each issue, rendered now (every edition)."""
    from .workflow import prepare_editions

    files: dict[str, MediaFile] = {}
    for issue in issues:
        for prepared in prepare_editions(issue, config):
            files.update((m.name, m) for m in prepared.rendered.media)
    return write(folder, files.values())
