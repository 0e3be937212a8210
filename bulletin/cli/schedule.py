"""`bulletin schedule ISSUE --list NAME --at TIME`, `bulletin schedule list` and
`bulletin schedule cancel ID`: sends at a set time, which `bulletin serve` runs. Thin: parse,
call bulletin.schedule.jobs or the store, print."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from .common import ConfigOpt, IssueArg, StoreConfigOpt, out, reported


class _IssueFirst(TyperGroup):
    """`bulletin schedule ISSUE ...` (or `bulletin schedule --at TIME ISSUE`) is
    `bulletin schedule add ...`."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and \
                args[0] not in self.get_help_option_names(ctx):
            args = ["add", *args]
        return super().parse_args(ctx, args)

    def format_usage(self, ctx: Any, formatter: Any) -> None:
        formatter.write_usage(ctx.command_path, "ISSUE --at TIME [OPTIONS] | list | cancel ID")


app = typer.Typer()
schedule_app = typer.Typer(name="schedule", cls=_IssueFirst, no_args_is_help=True,
                           help="Sends at a set time, run by `bulletin serve`.")
app.add_typer(schedule_app)


@schedule_app.command("add")
def add_command(
        issue: IssueArg,
        at: Annotated[str, typer.Option("--at", help='Local time, "YYYY-MM-DD HH:MM"',
                                        show_default=False)],
        list_name: Annotated[str | None, typer.Option(
            "--list", help="The list to send to (default: the newsletter's list)")] = None,
        timezone: Annotated[str | None, typer.Option(
            "--timezone", help="The zone of --at (IANA name, e.g. Europe/London; default: "
                               "the newsletter's timezone, else Europe/London)",
            show_default=False)] = None,
        grace: Annotated[int | None, typer.Option(
            "--grace", help="Minutes late it may still start; later, it is marked missed and "
                            "not sent by itself (default: the newsletter's schedule_grace, "
                            "else 30)", show_default=False)] = None,
        as_: Annotated[str | None, typer.Option(
            "--as", help="Who schedules (and so sends): default BULLETIN_APPROVER, else the "
                         "git user")] = None,
        config: ConfigOpt = None) -> None:
    """Send ISSUE to a list at a set time (`bulletin schedule ISSUE --at ...` for short). It
    is checked now as `bulletin send` would check it (errors, approvals, settings), and again
    at the time."""
    from ..schedule.jobs import schedule

    with reported():
        record = schedule(issue, list_name, at, timezone, grace=grace, config=config, who=as_)
    out.print(f"Scheduled #{record.id}: {escape(record.issue)} to {escape(record.list_name)} "
              f"at {escape(record.shown)} ({record.at:%Y-%m-%d %H:%M} UTC), by "
              f"{escape(record.created_by)}. `bulletin serve` sends it; `bulletin schedule "
              f"cancel {record.id}` cancels it.")


@schedule_app.command("list")
def list_command(config: StoreConfigOpt = None) -> None:
    """Every schedule: when, what, to which list, and how it stands or ended."""
    from ..settings import find_config, load_workspace
    from ..store.store import Store

    with reported():
        workspace = load_workspace(config or find_config())
        with Store.for_workspace(workspace) as store:
            records = store.schedules.all()
    if not records:
        out.print("No schedules; `bulletin schedule ISSUE --at TIME` makes one.")
    for record in records:
        out.print(f"#{record.id} {record.status:<9} {escape(record.shown)} "
                  f"({record.at:%Y-%m-%d %H:%M} UTC)  {escape(record.issue)} to "
                  f"{escape(record.list_name)}  by {escape(record.created_by)}")
        if record.status == "missed":
            out.print(f"    not sent: the service was not running within {record.grace} "
                      f"minutes of the time; send it now with `bulletin send "
                      f"{escape(record.path)} --list {escape(record.list_name)}`")
        elif record.report:
            out.print(f"    {escape(record.report)}")
        elif record.status == "running":
            out.print(f"    being sent by {escape(record.claimed_by or '?')}; if that service "
                      f"stopped, `bulletin send {escape(record.path)} --list "
                      f"{escape(record.list_name)}` resumes it")


@schedule_app.command("cancel")
def cancel_command(
        number: Annotated[int, typer.Argument(metavar="ID", help="The schedule's number",
                                              show_default=False, min=1, max=2**31 - 1)],
        as_: Annotated[str | None, typer.Option(
            "--as", help="Who cancels, for the audit trail: default BULLETIN_APPROVER, else "
                         "the git user")] = None,
        config: StoreConfigOpt = None) -> None:
    """Cancel a schedule; one being sent stops within seconds, and `bulletin schedule list`
    then says how many went before the cancel."""
    from ..approval.identity import IdentityError, identity
    from ..settings import find_config, load_workspace
    from ..store.store import Store

    with reported():
        workspace = load_workspace(config or find_config())
        try:
            who = identity(as_)
        except IdentityError:
            who = "unknown"
        with Store.for_workspace(workspace) as store:
            was = store.schedules.cancel(number, who)
    if was == "running":
        out.print(f"Cancelled #{number} while it was being sent: it stops within seconds; "
                  "`bulletin schedule list` then says how many went before the cancel.")
    else:
        out.print(f"Cancelled #{number}: it will not be sent.")


@app.command("worker")
def worker_command(config: StoreConfigOpt = None) -> None:
    """Send the scheduled issues at their time, and nothing else (`bulletin serve` does this
    too, beside the web pages). Ctrl-C stops it; a send under way stops within seconds, and
    `bulletin send` resumes it."""
    import logging
    import threading

    from .. import links
    from ..schedule.worker import Scheduler
    from ..settings import find_config, load_workspace
    from ..store.store import Store

    with reported():
        links.secret_key()  # what the sends will need, checked now
        workspace = load_workspace(config or find_config())
        store = Store.for_workspace(workspace)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    scheduler = Scheduler(store, workspace.config_path)
    out.print(f"Sending scheduled issues at their time (new ones seen within "
              f"{scheduler.cycle:g} s; Ctrl-C to stop)")
    scheduler.start()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        scheduler.stop()
        store.close()
    out.print("Stopped.")

