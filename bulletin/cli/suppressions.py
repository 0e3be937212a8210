"""`bulletin suppressions ...`: the addresses never sent to again (hard bounces, complaints,
an operator's decision), from the command line: list, add, remove (lift), export as CSV.

Adding and lifting are audited with who did it (the OS user, or --actor) and why. Lifting
a suppression does not subscribe anyone again. Thin, like the rest of the CLI: the work is
bulletin.store.suppressions; the store is imported when a command runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from ..errors import BulletinError
from ..outfile import replacing
from .common import StoreConfigOpt, actor, out, reported
from .database import open_store

if TYPE_CHECKING:
    from ..store.suppressions import Suppressed

app = typer.Typer(name="suppressions", no_args_is_help=True,
                  help="The suppression list: addresses never sent to again.")

SOURCE = "cli"
AddressArg = Annotated[str, typer.Argument(help="An email address", show_default=False)]
ActorOpt = Annotated[str | None, typer.Option(
    "--actor", help="Who is doing this, for the audit trail (default: the OS user)")]


def _when(suppressed: Suppressed) -> str:
    return suppressed.at.isoformat(timespec="seconds")


@app.command("list")
def list_command(
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array")] = False,
        config: StoreConfigOpt = None) -> None:
    """Show every suppressed address, newest first: the address, why, from where (bounce,
    complaint, cli, ...) and since when."""
    with reported(), open_store(config) as store:
        rows = store.suppressions.all()
    if as_json:
        print(json.dumps([{"email": row.email, "reason": row.reason, "source": row.source,
                           "suppressed_at": _when(row)} for row in rows], ensure_ascii=False))
        return
    for row in rows:
        reason = " ".join(row.reason.split())
        out.print(f"{escape(row.email)}  {row.at:%Y-%m-%d %H:%M} UTC  {escape(row.source)}: "
                  f"{escape(reason)}")
    out.print(f"{len(rows):,} suppressed address{'es' * (len(rows) != 1)}")


@app.command("add")
def add_command(
        address: AddressArg,
        reason: Annotated[str, typer.Option("--reason", help="Why, for the audit trail and "
                                            "the list", show_default=False)],
        who: ActorOpt = None, config: StoreConfigOpt = None) -> None:
    """Never send to ADDRESS again, subscribed or not."""
    with reported():
        if not reason.strip():
            raise BulletinError("--reason: say why the address is suppressed, e.g. "
                                '--reason "asked by phone"')
        with open_store(config) as store:
            added = store.suppressions.add(address, reason=" ".join(reason.split()),
                                           source=SOURCE, actor=who or actor())
            found = store.suppressions.get(address)
    assert found is not None
    out.print(escape(f"suppressed {found.email}" if added else
                     f"{found.email} was already suppressed ({found.source}: {found.reason})"))


@app.command("remove")
def remove_command(
        address: AddressArg,
        reason: Annotated[str | None, typer.Option("--reason", help="Why, for the audit "
                                                   "trail")] = None,
        who: ActorOpt = None, config: StoreConfigOpt = None) -> None:
    """Lift the suppression of ADDRESS. It does not subscribe them again; their status
    (bounced, complained, ...) stays as it is."""
    with reported(), open_store(config) as store:
        lifted = store.suppressions.remove(address, source=SOURCE, actor=who or actor(),
                                           reason=" ".join(reason.split()) if reason else None)
        if not lifted:
            raise BulletinError(f"{address.strip()} is not suppressed; nothing to remove "
                                "(`bulletin suppressions list` shows those that are)")
    out.print(escape(f"lifted the suppression of {address.strip()}"))


@app.command("export")
def export_command(
        file: Annotated[Path | None, typer.Argument(
            help="The CSV file to write (default: standard output)")] = None,
        config: StoreConfigOpt = None) -> None:
    """Write the suppression list as CSV: email, reason, source, suppressed_at (newest
    first). Cells that a spreadsheet would run as a formula start with an apostrophe."""
    with reported(), open_store(config) as store:
        rows = store.suppressions.all()
        if file is None:
            _write(rows, sys.stdout)
            sys.stdout.flush()
            return
        with replacing(file, BulletinError) as stream:
            _write(rows, stream)
    out.print(f"wrote {len(rows):,} suppressed address{'es' * (len(rows) != 1)} to "
              f"{escape(str(file))}")


def _write(rows: list[Suppressed], stream: IO[str]) -> None:
    import csv

    from ..csvimport import formula_safe

    writer = csv.writer(stream, lineterminator="\r\n")
    writer.writerow(("email", "reason", "source", "suppressed_at"))
    for row in rows:
        # A reason may quote a remote server's reply: no cell of it runs as a formula.
        writer.writerow((formula_safe(row.email), formula_safe(row.reason),
                         formula_safe(row.source), _when(row)))
