"""`bulletin media export DIR`: the published images as files, for a deployment whose
`[media] base_url` is a CDN or a web server they are copied to."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from .common import StoreConfigOpt, out, reported

app = typer.Typer(name="media", help="Published images (BASE/media/).", no_args_is_help=True)


@app.command("export")
def export_command(
        folder: Annotated[Path, typer.Argument(help="The folder to write to (made if missing)",
                                               show_default=False)],
        issues: Annotated[list[Path] | None, typer.Argument(
            help="Only these issues' images, rendered now (default: every image in the "
                 "store, as sends published them)", show_default=False)] = None,
        config: StoreConfigOpt = None) -> None:
    """Write each published image to FOLDER/<name> (its content-addressed name, as the
    mail links to it); a file that is there already is left alone."""
    from ..media_export import export_issues, export_store

    with reported():
        written = export_issues(folder, issues, config) if issues else export_store(folder,
                                                                                  config)
    for path in written:
        out.print(f"wrote {escape(str(path))}")
    out.print(f"{len(written)} new file{'s' * (len(written) != 1)} in {escape(str(folder))}")
