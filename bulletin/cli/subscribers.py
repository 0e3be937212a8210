"""`bulletin subscribers ...` and `bulletin db ...`: the subscriber store from the command line.

Thin, like the rest of the CLI: find the workspace and its database, call the store, print.
The store (SQLAlchemy) is imported when a command runs, not when the CLI starts.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from ..errors import BulletinError
from ..outfile import replacing
from . import subscriber_show
from .common import StoreConfigOpt, actor, err, out, reported
from .database import open_store as _store
from .database import workspace as _workspace

if TYPE_CHECKING:
    from ..store import ImportReport, Note

subscribers_app = typer.Typer(name="subscribers", no_args_is_help=True,
                              help="Subscribers and lists: import, export, add, remove, "
                                   "count, show.")
db_app = typer.Typer(name="db", no_args_is_help=True, help="The subscriber database.")
app = typer.Typer()
"""Both groups, for the top level."""
app.add_typer(subscribers_app)
app.add_typer(db_app)

ListOpt = Annotated[str, typer.Option("--list", help="The list, e.g. cohes3ion",
                                      show_default=False)]
EmailArg = Annotated[str, typer.Argument(help="An email address", show_default=False)]

SOURCE = "cli"
NOTES_SHOWN = 10
PROGRESS_EVERY = 100_000


def _number(count: int, thing: str, things: str | None = None) -> str:
    return f"{count:,} {thing if count == 1 else (things or thing + 's')}"


def _summary(report: ImportReport, path: Path) -> str:
    parts = [(report.added, "added"), (report.joined, "joined the list"),
             (report.activated, "confirmed (were pending)"),
             (report.resubscribed, "re-subscribed (--resubscribe)"),
             (report.unchanged, "already on the list"),
             (report.duplicates, "duplicates merged"),
             (report.unsubscribed, "had unsubscribed: not re-subscribed"),
             (report.suppressed, "suppressed: never imported"),
             (report.bad, "bad rows not imported")]
    said = ", ".join(f"{count:,} {what}" for count, what in parts if count)
    rate = f" in {report.seconds:.1f} s" if report.seconds >= 1 else ""
    return (f"{path} → {report.list_name}: {_number(report.rows, 'row')}"
            f"{': ' + said if said else ''}{rate}")


@subscribers_app.command("import")
def import_command(
        file: Annotated[Path, typer.Argument(
            help="A CSV file with a header row: email (required), name (or first name and "
                 "last name), language; Mailchimp's and Excel's headers are understood, and "
                 "commas, semicolons or tabs between fields", show_default=False)],
        list_name: ListOpt,
        resubscribe: Annotated[bool, typer.Option(
            "--resubscribe", help="Subscribe again people who had unsubscribed, bounced or "
                                  "complained (only if they have asked to be). Suppressed "
                                  "addresses are never imported.")] = False,
        verbose: Annotated[bool, typer.Option(
            "--verbose", help="List every duplicate and skipped row, not just the first "
                              f"{NOTES_SHOWN} of each kind")] = False,
        encoding: Annotated[str | None, typer.Option(
            "--encoding", help="The file's encoding when it is not UTF-8: cp1252 for a file "
                               "Excel saved as plain 'CSV', utf-16 for 'Unicode Text'")] = None,
        config: StoreConfigOpt = None) -> None:
    """Import subscribers from a CSV file into a list, all or nothing: if anything stops it,
    nothing is imported. Running the same import again changes nothing."""
    shown_notes: Counter[str] = Counter()

    def on_note(note: Note) -> None:
        where = f"{file}:{note.line}"
        if note.kind == "bad":
            err.print(f"[bold red]Error:[/] {escape(where)}: {escape(note.message)}; "
                          f"row not imported")
            return
        shown_notes[note.kind] += 1
        if verbose or shown_notes[note.kind] <= NOTES_SHOWN:
            out.print(f"[dim]note:[/] {escape(where)}: {escape(note.message)}")

    next_progress = [PROGRESS_EVERY]

    def on_progress(rows: int) -> None:
        if rows >= next_progress[0]:
            err.print(f"[dim]… {rows:,} rows read[/]")
            next_progress[0] = (rows // PROGRESS_EVERY + 1) * PROGRESS_EVERY
    with reported():
        from ..csvimport import open_csv

        stream = open_csv(file, encoding)
        if stream is not None:
            out.print(f"[dim]note: reading {escape(str(file))} as {escape(str(encoding))}"
                          f"[/]")
        try:
            with _store(config) as store:
                report = store.import_csv(file, list_name, actor=actor(),
                                          resubscribe=resubscribe, on_note=on_note,
                                          on_progress=on_progress, stream=stream)
        except KeyboardInterrupt:
            raise BulletinError(f"{file}: interrupted; nothing was imported (an import is "
                                f"all or nothing). Run it again to import the file") from None
        finally:
            if stream is not None:
                stream.close()
    if not verbose:
        for kind, count in sorted(shown_notes.items()):
            if count > NOTES_SHOWN:
                out.print(f"[dim]note: … and {count - NOTES_SHOWN:,} more {kind} rows "
                              f"(--verbose lists them all)[/]")
    if report.ignored_columns:
        columns = ", ".join(report.ignored_columns)
        out.print(f"[dim]note: {escape(str(file))}: ignored columns: {escape(columns)}[/]")
    out.print(escape(_summary(report, file)))
    if report.bad:
        err.print(f"[bold red]Error:[/] {escape(str(file))}: "
                      f"{_number(report.bad, 'bad row')} not imported (listed above); fix "
                      f"them and import the file again: rows already in are left as they are")
        raise typer.Exit(1)


@subscribers_app.command("export")
def export_command(
        list_name: ListOpt,
        out_file: Annotated[Path | None, typer.Option(
            "--out", help="File to write (default: standard output)")] = None,
        config: StoreConfigOpt = None) -> None:
    """Write a list's active members as CSV (email,name,language), ready to import."""
    with reported(), _store(config) as store:
        if out_file is None:
            count = store.export_csv(list_name, sys.stdout)
            sys.stdout.flush()
            err.print(f"{_number(count, 'subscriber')} exported")
            return
        with replacing(out_file, BulletinError) as stream:
            count = store.export_csv(list_name, stream)
    out.print(f"wrote {_number(count, 'subscriber')} to {escape(str(out_file))}")


@subscribers_app.command("add")
def add_command(
        email: EmailArg, list_name: ListOpt,
        name: Annotated[str | None, typer.Option("--name", help="Their name")] = None,
        language: Annotated[str | None, typer.Option(
            "--language", help="Their language, e.g. en or cy")] = None,
        pending: Annotated[bool, typer.Option(
            "--pending", help="Awaiting confirmation (double opt-in), not yet active")] = False,
        resubscribe: Annotated[bool, typer.Option(
            "--resubscribe", help="They had unsubscribed and have asked to be subscribed "
                                  "again")] = False,
        config: StoreConfigOpt = None) -> None:
    """Subscribe one person to a list."""
    from ..csvimport import clean_language, clean_name

    with reported():
        try:
            clean = clean_name(name or "")
        except ValueError as exc:
            raise BulletinError(f"--name: {exc}") from None
        try:
            tag = clean_language(language or "")
        except ValueError as exc:
            raise BulletinError(f"--language: {exc}") from None
        with _store(config) as store:
            outcome = store.subscribe(email, list_name, source=SOURCE, actor=actor(),
                                      name=clean, language=tag,
                                      status="pending" if pending else "active",
                                      resubscribe=resubscribe)
    said = {"added": f"added {email} to {list_name}",
            "joined": f"{email} joined {list_name}",
            "activated": f"{email} confirmed and on {list_name}",
            "resubscribed": f"{email} re-subscribed to {list_name}",
            "unchanged": f"{email} was already on {list_name}"}[outcome]
    out.print(escape(said))


@subscribers_app.command("remove")
def remove_command(
        email: EmailArg,
        list_name: Annotated[str | None, typer.Option(
            "--list", help="Unsubscribe from this list only (default: from everything)")]
        = None,
        config: StoreConfigOpt = None) -> None:
    """Unsubscribe someone. Their record is kept, so no import adds them back."""
    with reported(), _store(config) as store:
        changed = store.unsubscribe(email, list_name, source=SOURCE, actor=actor())
    where = list_name or "everything"
    out.print(escape(f"unsubscribed {email} from {where}" if changed
                         else f"{email} was already unsubscribed from {where}"))


def _counts_line(label: str, counts: dict[str, int]) -> str:
    return f"{label}: " + " · ".join(f"{count:,} {state}" for state, count in counts.items())


@subscribers_app.command("count")
def count_command(
        list_name: Annotated[str | None, typer.Option(
            "--list", help="One list (default: every list, and everyone)")] = None,
        config: StoreConfigOpt = None) -> None:
    """How many subscribers are active, paused, pending, unsubscribed, bounced, complained
    or suppressed."""
    with reported(), _store(config) as store:
        names = [list_name] if list_name else store.list_names()
        lines = [_counts_line(name, store.counts(name)) for name in names]
        if list_name is None:
            lines.append(_counts_line("everyone", store.counts()))
    for line in lines:
        out.print(escape(line))


subscriber_show.register(subscribers_app)


@subscribers_app.command("lists")
def lists_command(
        create: Annotated[str | None, typer.Option(
            "--create", help="Make a list (e.g. a topic of a newsletter)")] = None,
        newsletter: Annotated[str | None, typer.Option(
            "--newsletter", help="With --create: the newsletter it belongs to")] = None,
        title: Annotated[str | None, typer.Option(
            "--title", help="With --create: what subscribers see it called")] = None,
        config: StoreConfigOpt = None) -> None:
    """Show the lists and their active members; --create makes one."""
    with reported():
        if (newsletter or title) and create is None:
            raise BulletinError("--newsletter and --title go with --create NAME")
        if newsletter is not None and (found := _workspace(config)) is not None \
                and newsletter not in found.settings.newsletters:
            raise BulletinError(f"--newsletter {newsletter}: {found.config_path} has no such "
                                "newsletter; give one of "
                                f"{', '.join(sorted(found.settings.newsletters))}")
        with _store(config) as store:
            if create is not None:
                if store.create_list(create, newsletter=newsletter, title=title):
                    out.print(f"created list {escape(create)}")
                else:
                    out.print(f"list {escape(create)} already exists")
            lists = store.lists()
    for info in lists:
        about = ", ".join(part for part in (info.title, info.newsletter and
                                            f"newsletter {info.newsletter}") if part)
        out.print(f"{escape(info.name)}  {_number(info.active, 'active member')}"
                      f"{'  (' + escape(about) + ')' if about else ''}")
    if not lists:
        out.print("no lists yet: add newsletters to bulletin.toml, or "
                      "`bulletin subscribers lists --create NAME`")


@db_app.command("upgrade")
def upgrade_command(config: StoreConfigOpt = None) -> None:
    """Create the database's tables, or bring them up to date (keeping the data)."""
    from ..store.engine import resolve_url, shown
    from ..store.store import upgrade

    with reported():
        workspace = _workspace(config)
        url = resolve_url(workspace.root if workspace else None,
                          workspace.settings.database_url if workspace else None)
        result = upgrade(url)
    where = escape(shown(url))
    if result.changed:
        out.print(f"{where}: upgraded from {result.before or 'empty'} to {result.after}")
    else:
        out.print(f"{where}: up to date ({result.after})")
