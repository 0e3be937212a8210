"""`bulletin init`, `render`, `check`, `preview` and `screenshot`: making an issue and looking
at it. Thin: the work is in bulletin.workflow, bulletin.web.preview and bulletin.screenshot."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ..errors import IssueError
from .common import ConfigOpt, DeliveryOpt, IssueArg, LangOpt, out, reported, short_lived, value

app = typer.Typer()


@app.command("init")
def init_command(folder: Annotated[Path, typer.Argument(
        help="The new workspace's folder (made if missing)")] = Path(".")) -> None:
    """Start a workspace of your own in FOLDER: a commented bulletin.toml, a first issue
    that shows every feature of the issue format, and a .gitignore. Never overwrites a file."""
    from ..starter import FIRST_ISSUE, create_workspace

    with reported():
        written = create_workspace(folder)
    for path in written:
        out.print(f"wrote {escape(str(path))}")
    where = f"cd {escape(shlex.quote(str(folder)))} && " if folder != Path(".") else ""
    out.print(f"Next: edit bulletin.toml, then {where}bulletin render {FIRST_ISSUE}")


@app.command("render")
def render_command(issue: IssueArg,
                   out_dir: Annotated[Path, typer.Option("--out", help="Folder to write to")]
                   = Path("out"),
                   config: ConfigOpt = None, lang: LangOpt = None,
                   delivery: DeliveryOpt = None) -> None:
    """Render ISSUE to DIR/<name>.html, .txt and .eml (as a sample subscriber gets it); one
    set per language, DIR/<name>.<lang>.*, when each subscriber gets their own language."""
    with reported(), short_lived():
        from ..workflow import prepare_editions, write_outputs

        editions = prepare_editions(issue, config, lang, value(delivery))
        for prepared in editions:
            stem = prepared.loaded.slug
            if len(editions) > 1:
                stem += "." + "+".join(prepared.rendered.languages)
            for path in write_outputs(prepared, out_dir, stem):
                out.print(f"wrote {escape(str(path))}")


@app.command("check")
def check_command(issue: IssueArg, config: ConfigOpt = None, lang: LangOpt = None,
                  delivery: DeliveryOpt = None,
                  fetch_images: Annotated[bool, typer.Option(
                      "--fetch-images", help="Fetch remote images to find those far wider "
                      "than shown")] = False) -> None:
    """Pre-send checks of every email the issue is sent as. Errors exit 1; warnings alone
    exit 0."""
    from ..checks import errors
    from ..workflow import prepare_editions, run_checks

    with reported():
        findings = []
        for prepared in prepare_editions(issue, config, lang, value(delivery)):
            findings += [f for f in run_checks(prepared, fetch_images=fetch_images)
                         if f not in findings]
    for finding in findings:
        colour = "red" if finding.level == "error" else "yellow"
        out.print(f"[{colour}]{finding.level}[/] [dim]{finding.code}[/] "
                  f"{escape(finding.where)}: {escape(finding.message)}")
    failed = len(errors(findings))
    warned = len(findings) - failed
    summary = f"{issue}: {failed} error{'s' * (failed != 1)}, " \
              f"{warned} warning{'s' * (warned != 1)}"
    out.print(f"[bold {'red' if failed else 'green'}]{escape(summary)}[/]")
    if failed:
        raise typer.Exit(1)


@app.command("preview")
def preview_command(issue: IssueArg,
                    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
                    port: Annotated[int, typer.Option(
                        min=0, max=65535, help="Port (0: any free port)")] = 8025,
                    config: ConfigOpt = None, lang: LangOpt = None,
                    delivery: DeliveryOpt = None) -> None:
    """Preview ISSUE in the browser: desktop, phone, text, headers, source and checks,
    re-rendered whenever the issue, bulletin.toml or the templates change."""
    from ..web.preview import Preview, create_app
    from ..web.server import bind, serve

    with reported():
        if not issue.is_file():
            raise IssueError(f"{issue}: no such file")
        sock = bind(host, port)
    preview = Preview(issue, config, lang, value(delivery))
    shown = f"[{host}]" if ":" in host else host
    out.print(f"Previewing {escape(str(issue))} at http://{shown}:{sock.getsockname()[1]}/ "
              "(Ctrl-C to stop)")
    serve(create_app(preview), sock, on_exit=preview.closing.set)
    out.print("Preview stopped.")


@app.command("screenshot")
def screenshot_command(
        issue: IssueArg,
        out_dir: Annotated[Path, typer.Option("--out", help="Folder to write to")] = Path("out"),
        widths: Annotated[list[int] | None, typer.Option(
            "--width", help="Viewport width in pixels; repeat for several")] = None,
        config: ConfigOpt = None, lang: LangOpt = None,
        delivery: DeliveryOpt = None) -> None:
    """Full-page PNGs of ISSUE at each --width (default 600 and 375), taken with Chromium."""
    from ..screenshot import screenshots
    from ..workflow import local_view, prepare, sample

    with reported():
        prepared = prepare(issue, config, lang, value(delivery))
        html = local_view(prepared, sample(prepared).html)
        for path in screenshots(html, widths or [600, 375], out_dir, prepared.loaded.slug):
            out.print(f"wrote {escape(str(path))}")
