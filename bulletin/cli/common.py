"""What every command module of the CLI shares: the consoles, the options that several
commands take, and `reported`, the one place where the library's errors become `Error: ...`
lines and exit status 1. Imports nothing heavier than typer and rich, so that `--help` stays
quick."""

from __future__ import annotations

import gc
import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ..environment import DATABASE_URL
from ..errors import BulletinError


class Delivery(StrEnum):
    each = "each"
    bilingual = "bilingual"
    side_by_side = "side-by-side"


out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

IssueArg = Annotated[Path, typer.Argument(help="The issue file, e.g. issues/cohes3ion-04.yaml",
                                          show_default=False)]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="bulletin.toml to use "
                      "(default: BULLETIN_CONFIG, else the nearest one above the issue)")]
"""bulletin.toml, for the commands that take an issue."""
StoreConfigOpt = Annotated[Path | None, typer.Option(
    "--config", help=f"bulletin.toml to use (default: BULLETIN_CONFIG, else the nearest one "
                     f"above this folder); the database is {DATABASE_URL}, else its "
                     f"database_url, else bulletin.db beside it")]
"""bulletin.toml, for the commands on the subscriber database alone."""
LangOpt = Annotated[str | None, typer.Option("--lang", help="Only this language "
                    "(default: as the newsletter is sent)")]
DeliveryOpt = Annotated[Delivery | None, typer.Option(
    "--delivery", help="Override the newsletter's delivery of several languages")]


def value(delivery: Delivery | None) -> str | None:
    """--delivery as the library takes it."""
    return delivery.value if delivery else None


def actor() -> str:
    """Who runs the command, for the audit trail."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@contextmanager
def reported() -> Iterator[None]:
    """Turn the library's errors into `Error: ...` lines and exit status 1."""
    try:
        yield
    except BulletinError as exc:
        for line in str(exc).splitlines() or [type(exc).__name__]:
            err.print(f"[bold red]Error:[/] {escape(line)}")
        raise typer.Exit(1) from None


@contextmanager
def short_lived() -> Iterator[None]:
    """For a command that does one short piece of work and ends (`bulletin render`): the
    cyclic garbage collector off while it runs, as it was afterwards. Nearly everything such a
    command allocates is the modules it imports, kept to the end; the collector would walk
    them again and again as they grow and find nothing to free. Memory still goes back as
    references do; only reference cycles wait for the collector."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
