"""The command line: parse arguments, call the library, print. Only here do errors become
messages and exit codes.

Each command imports what it needs when it runs, so that starting one command does not load
every other's libraries (rendering, the store, the web service): `bulletin send` renders in a
child process and must not hold the rendering stack itself (see bulletin.send.outgoing)."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperArgument, TyperGroup, TyperOption

from .errors import BulletinError, IssueError


class Delivery(StrEnum):
    each = "each"
    bilingual = "bilingual"
    side_by_side = "side-by-side"


_TYPE_WORDS = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "Path": "PATH"}


def _prose(help_text: str | None) -> str | None:
    """A docstring's paragraphs each made one line, so that rich wraps them to the terminal
    (typer keeps single line breaks in rich mode). A paragraph starting with \b is kept."""
    if not help_text:
        return help_text
    return "\n\n".join(paragraph if paragraph.startswith("\b") else " ".join(paragraph.split())
                       for paragraph in inspect.cleandoc(help_text).split("\n\n"))


def _type_word(param: TyperOption | TyperArgument) -> str:
    """What click would show for a value: TEXT, INTEGER, PATH, an enum's choices; nothing
    for a flag."""
    if isinstance(param, TyperOption) and param.is_flag:
        return ""
    descriptor = param.type_descriptor
    if descriptor.is_choice:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in descriptor.choices or ()) + "]"
    annotation: Any = descriptor.annotation
    if descriptor.is_list and typing.get_args(annotation):
        annotation = typing.get_args(annotation)[0]
    name = getattr(annotation, "__name__", str(annotation))
    return _TYPE_WORDS.get(name, name.upper())


def _conventional(command: Any) -> None:
    """Help in typer's and click's conventions, for `command` and every command under it:
    prose that the terminal wraps, TEXT or PATH rather than <str> or <path>, an argument
    named in capitals, a flag (--help too) with no type."""
    # Help is plain text: "[smtp]" is a table's name, not rich markup to swallow.
    help_text = _prose(command.help)
    command.help = escape(help_text) if help_text else help_text
    for param in command.params:
        if getattr(param, "help", None):
            param.help = escape(param.help)
        if isinstance(param, TyperArgument) and param.metavar is None:
            param.metavar = (param.name or "value").upper()
        if isinstance(param, TyperOption | TyperArgument):
            chosen = param.metavar if isinstance(param, TyperOption) else None
            word = chosen if chosen is not None else _type_word(param)
            setattr(param, "display_type_rich", lambda ctx, word=word: word)  # noqa: B010
    help_option = command.get_help_option

    def get_help_option(ctx: Any) -> Any:
        option = help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option

    setattr(command, "get_help_option", get_help_option)  # noqa: B010
    for sub in getattr(command, "commands", {}).values():
        _conventional(sub)


class _Conventional(TyperGroup):
    """The top-level group: builds as typer's, then gives the whole tree conventional help."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        _conventional(self)


app: typer.Typer = typer.Typer(help="Compose, check and send email bulletins.",
                               cls=_Conventional, no_args_is_help=True, add_completion=False,
                               pretty_exceptions_enable=False)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

IssueArg = Annotated[Path, typer.Argument(help="The issue file, e.g. issues/cohes3ion-04.yaml",
                                          show_default=False)]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="bulletin.toml to use "
                      "(default: BULLETIN_CONFIG, else the nearest one above the issue)")]
LangOpt = Annotated[str | None, typer.Option("--lang", help="Only this language "
                    "(default: as the newsletter is sent)")]
DeliveryOpt = Annotated[Delivery | None, typer.Option(
    "--delivery", help="Override the newsletter's delivery of several languages")]


@contextmanager
def reported() -> Iterator[None]:
    """Turn the library's errors into `Error: ...` lines and exit status 1."""
    try:
        yield
    except BulletinError as exc:
        for line in str(exc).splitlines() or [type(exc).__name__]:
            err.print(f"[bold red]Error:[/] {escape(line)}")
        raise typer.Exit(1) from None


@app.command("init")
def init_command(folder: Annotated[Path, typer.Argument(
        help="The new workspace's folder (made if missing)")] = Path(".")) -> None:
    """Start a workspace of your own in FOLDER: a commented bulletin.toml, a first issue
    that shows every feature of the issue format, and a .gitignore. Never overwrites a file."""
    from .starter import FIRST_ISSUE, create_workspace

    with reported():
        written = create_workspace(folder)
    for path in written:
        out.print(f"wrote {escape(str(path))}")
    where = f"cd {escape(str(folder))} && " if folder != Path(".") else ""
    out.print(f"Next: edit bulletin.toml, then {where}bulletin render {FIRST_ISSUE}")


@app.command("render")
def render_command(issue: IssueArg,
                   out_dir: Annotated[Path, typer.Option("--out", help="Folder to write to")]
                   = Path("out"),
                   config: ConfigOpt = None, lang: LangOpt = None,
                   delivery: DeliveryOpt = None) -> None:
    """Render ISSUE to DIR/<name>.html, .txt and .eml (as a sample subscriber gets it); one
    set per language, DIR/<name>.<lang>.*, when each subscriber gets their own language."""
    from .workflow import prepare_editions, write_outputs

    with reported():
        editions = prepare_editions(issue, config, lang, _value(delivery))
        for prepared in editions:
            stem = prepared.loaded.slug
            if len(editions) > 1:
                stem += "." + "+".join(prepared.rendered.languages)
            for path in write_outputs(prepared, out_dir, stem):
                out.print(f"wrote {escape(str(path))}")


@app.command("check")
def check_command(issue: IssueArg, config: ConfigOpt = None, lang: LangOpt = None,
                  delivery: DeliveryOpt = None) -> None:
    """Pre-send checks of every email the issue is sent as. Errors exit 1; warnings alone
    exit 0."""
    from .checks import errors
    from .workflow import prepare_editions, run_checks

    with reported():
        findings = []
        for prepared in prepare_editions(issue, config, lang, _value(delivery)):
            findings += [f for f in run_checks(prepared) if f not in findings]
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
                    port: Annotated[int, typer.Option(help="Port (0: any free port)")] = 8025,
                    config: ConfigOpt = None, lang: LangOpt = None,
                    delivery: DeliveryOpt = None) -> None:
    """Preview ISSUE in the browser: desktop, phone, text, headers, source and checks,
    re-rendered whenever the issue, bulletin.toml or the templates change."""
    from .web.preview import Preview, create_app
    from .web.server import bind, serve

    with reported():
        if not issue.is_file():
            raise IssueError(f"{issue}: no such file")
        sock = bind(host, port)
    preview = Preview(issue, config, lang, _value(delivery))
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
    from .screenshot import screenshots
    from .workflow import prepare, sample

    with reported():
        prepared = prepare(issue, config, lang, _value(delivery))
        html = sample(prepared).html
        for path in screenshots(html, widths or [600, 375], out_dir, prepared.loaded.slug):
            out.print(f"wrote {escape(str(path))}")


def _value(delivery: Delivery | None) -> str | None:
    return delivery.value if delivery else None


def main() -> None:
    app()


from . import cli_send  # noqa: E402,F401  (registers send, send-test, status)

from . import cli_subscribers  # noqa: E402,F401  # isort: skip  (registers subscribers, db)

from . import cli_serve  # noqa: E402,F401  # isort: skip  (registers serve)
