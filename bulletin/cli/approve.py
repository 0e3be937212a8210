"""`bulletin approve` and `bulletin approvals`: sign-off bound to the exact content. Thin:
parse, call bulletin.approval.record, print; `show_standing` prints the approvals in the plan
`bulletin send` shows before it sends, `show_approvals` them in `bulletin status`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from .common import ConfigOpt, IssueArg, out, reported

if TYPE_CHECKING:
    from pathlib import Path

    from ..approval.gate import Standing
    from ..approval.record import Listed

app = typer.Typer()

ListOpt = Annotated[str | None, typer.Option(
    "--list", help="The list it will be sent to (default: the newsletter's list)")]


@app.command("approve")
def approve_command(
        issue: IssueArg,
        as_: Annotated[str | None, typer.Option(
            "--as", help="Who approves (default: BULLETIN_APPROVER, else git's user.name "
                         "and user.email)")] = None,
        note: Annotated[str | None, typer.Option("--note", help="A note kept with it")] = None,
        list_name: ListOpt = None, config: ConfigOpt = None) -> None:
    """Approve ISSUE exactly as it renders now: any later change (one byte of the issue, a
    template, bulletin.toml, an image) needs approving again."""
    from ..approval.record import approve

    with reported():
        done = approve(issue, config, as_, note, list_name)
    record = done.record
    out.print(f"Approved {escape(done.key)} for the list {escape(done.list_name)} by "
              f"{escape(record.approver)} at {record.at:%Y-%m-%d %H:%M} UTC "
              f"(fingerprint {record.fingerprint[:12]})")
    if done.errors:
        out.print(f"[yellow]Note:[/] `bulletin check` finds {done.errors} error(s) in it; "
                  "a send refuses until they are fixed, and the fix needs approving again")


@app.command("approvals")
def approvals_command(issue: IssueArg, list_name: ListOpt = None,
                      config: ConfigOpt = None) -> None:
    """Who approved ISSUE, when, with what note, and whether each still matches the issue as
    it is now (if not, what changed)."""
    from ..approval.record import listed

    with reported():
        found = listed(issue, config, list_name)
    out.print(f"[bold]{escape(found.key)}[/]: needs {found.needed} approval"
              f"{'s' * (found.needed != 1)} (fingerprint now {found.fingerprint.digest[:12]})")
    show_approvals(found, issue)


def show_approvals(found: Listed, issue: Path) -> None:
    """Each approval of the issue, and whether it matches the issue as it is now."""
    if not found.approvals:
        out.print(f"No approvals yet; `bulletin approve {escape(str(issue))}` records one.")
    for record, changed in found.approvals:
        matches = "yes" if not changed else f"no (changed: {', '.join(changed)})"
        note = f"; note: {record.note}" if record.note else ""
        out.print(f"  {escape(record.approver)} at {record.at:%Y-%m-%d %H:%M} UTC; matches "
                  f"current: {escape(matches)}{escape(note)}")


def show_standing(standing: Standing | None) -> None:
    """The approvals line of the plan `bulletin send` prints."""
    if standing is None or (not standing.needed and not standing.current):
        return
    people = ", ".join(standing.counted) or "none"
    out.print(f"[bold]Approvals:[/]  {len(standing.counted)} of {standing.needed} needed, of "
              f"this content ({standing.fingerprint.digest[:12]}): {escape(people)}")
