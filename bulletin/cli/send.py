"""`bulletin send-test`, `bulletin send`, `bulletin dkim-record` and `bulletin status`: thin,
like the rest of the CLI: parse, confirm, call the send use-case (bulletin.send.run), print.

`bulletin send` renders the issue in a child process (bulletin.send.outgoing), so that the
process that sends, for as long as the list is long, never holds the rendering stack; while
the child renders, this process imports what sending needs.

Nearly all that `bulletin send` makes before its first message (the modules it imports, the
settings, the templates, the plan) lives until the command ends, so the cyclic garbage
collector is off while it is made, and then leaves it alone (`gc.freeze`): the collections
during the send walk only what the send makes, and less often (`_collector`)."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from ..errors import SendError
from .approve import show_standing
from .common import (
    ConfigOpt,
    DeliveryOpt,
    IssueArg,
    LangOpt,
    actor,
    err,
    out,
    reported,
    value,
)

if TYPE_CHECKING:
    from ..send.campaign import Plan
    from ..send.outgoing import Outgoing
    from ..send.report import Report
    from ..send.run import Finished, Send, Status

app = typer.Typer()

ToOpt = Annotated[list[str], typer.Option("--to", help="An address to send the test to; "
                                                    "repeat for several")]


@app.command("send-test")
def send_test_command(issue: IssueArg, to: ToOpt,
                      out_dir: Annotated[Path | None, typer.Option(
                          "--out", help="Write the .eml files here instead of sending")] = None,
                      config: ConfigOpt = None, lang: LangOpt = None,
                      delivery: DeliveryOpt = None) -> None:
    """Send ISSUE now to the --to addresses, subject prefixed [TEST]; every language the
    issue is sent in. Not recorded as sends to the list."""
    from email_validator import EmailNotValidError, validate_email

    from ..send.outgoing import render_here
    from ..send.run import send_test

    with reported():
        for address in to:
            try:
                validate_email(address, check_deliverability=False)
            except EmailNotValidError as exc:
                shown = address if address.isprintable() else repr(address)
                raise SendError(f"--to {shown}: {exc}") from None
        copies = send_test(render_here(issue, config, lang, value(delivery)), to, out_dir)
    for copy in copies:
        result = copy.result
        mark = "[green]sent[/]" if result.sent else f"[red]{result.status.value}[/]"
        reply = f"{result.code} {result.reply}".strip() if result.code else result.reply
        out.print(f"{mark} [TEST] ({copy.language}) to {escape(copy.address)}: "
                  f"{escape(reply)}")
    if any(not copy.result.sent for copy in copies):
        raise typer.Exit(1)


@app.command("send")
def send_command(
        issue: IssueArg,
        list_name: Annotated[str | None, typer.Option(
            "--list", help="The list to send to (default: the newsletter's list)")] = None,
        yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
        dry_run: Annotated[bool, typer.Option(
            "--dry-run", help="Show what would happen; send nothing, record nothing")] = False,
        resend_uncertain: Annotated[bool, typer.Option(
            "--resend-uncertain", help="Send again the messages whose fate is unknown")]
        = False,
        connections: Annotated[int | None, typer.Option(
            min=1, max=200, help="SMTP connections at once (default: [smtp] connections)")]
        = None,
        rate: Annotated[float | None, typer.Option(help="Messages per second, at most")] = None,
        per_hour: Annotated[int | None, typer.Option(help="Messages per hour, at most")] = None,
        lang: Annotated[str | None, typer.Option(
            "--lang", help="Only this language's edition, to the subscribers who get it "
            "(delivery \"each\"); the others later, by another run")] = None,
        force: Annotated[str | None, typer.Option(
            "--force", metavar="REASON", help="Send even though `bulletin check` finds errors; "
            "REASON goes to the audit trail")] = None,
        config: ConfigOpt = None, delivery: DeliveryOpt = None) -> None:
    """Send ISSUE to a mailing list, if `bulletin check` finds no errors in it. Safe to run
    again: it resumes, and nobody recorded as sent is sent to again."""
    from ..fields import rate_problem
    from ..send.outgoing import render_apart

    with reported(), _collector() as sending:
        if force is not None and not force.strip():
            raise SendError('--force: give the reason for sending past the errors, e.g. '
                            '--force "the alt text is in the caption"')
        if rate is not None and (problem := rate_problem(rate)) is not None:
            raise SendError(f"--rate {rate:g}: {problem}")
        if per_hour is not None and per_hour < 1:
            raise SendError(f"--per-hour {per_hour}: give the most messages an hour as a whole "
                            "number of at least 1, e.g. --per-hour 50000 (leave it out for "
                            "no limit)")
        outgoing = render_apart(issue, config, lang, value(delivery), check=True,
                                meanwhile=_sending_modules)
        from ..send.run import Request, planned

        request = Request(issue, list_name=list_name, language=lang, dry_run=dry_run,
                          resend_uncertain=resend_uncertain, connections=connections,
                          per_second=rate, per_hour=per_hour, force=force, actor=actor())
        with planned(outgoing, request) as send:
            _show(send.plan, resend_uncertain)
            show_standing(send.approvals)
            _show_findings(outgoing, force)
            if dry_run:
                out.print("[bold]Dry run:[/] nothing sent, nothing recorded.")
                return
            if send.nothing_to_send:
                out.print("Nothing to send.")
                return
            if not yes and not typer.confirm(f"Send to {send.plan.to_send} recipients now?",
                                             default=False, err=True):
                err.print("Not sent.")
                raise typer.Exit(1)
            sending()
            finished = _run_with_progress(send)
            _final(finished.report, finished.counts, finished.being_sent)
    if finished.report.stopped:
        raise typer.Exit(130 if finished.report.stopped == "interrupted" else 1)


def _sending_modules() -> None:
    """What sending needs (the store with SQLAlchemy, the dispatcher, the SMTP client),
    imported while the child renders: the two take their time side by side."""
    from ..send import run  # noqa: F401


YOUNG = 10_000
"""The collector's first threshold while the messages go (Python's default is 700): what
they make is mostly freed by reference counts at once, and the objects that live a while
(a window of messages in flight) need not be walked every 700 allocations."""


@contextmanager
def _collector() -> Iterator[Callable[[], None]]:
    """The cyclic garbage collector for one send: off while the send is set up, and on
    again, if it was on, once the function yielded is called (as the messages start), with
    everything that exists by then frozen (`gc.freeze`: moved where no collection looks), for
    it stays to the end, and its first threshold at YOUNG. Afterwards as it was before: on or
    off, its thresholds, and unfrozen (unless something else had frozen objects first: then
    nothing is frozen here). Memory still goes back as references do; only reference cycles
    wait for the collector."""
    enabled = gc.isenabled()
    thresholds = gc.get_threshold()
    ours = gc.get_freeze_count() == 0
    frozen = False

    def sending() -> None:
        nonlocal frozen
        if ours:
            gc.freeze()
            frozen = True
        gc.set_threshold(YOUNG, *thresholds[1:])
        if enabled:
            gc.enable()

    gc.disable()
    try:
        yield sending
    finally:
        gc.set_threshold(*thresholds)
        if frozen:
            gc.unfreeze()
        if enabled:
            gc.enable()


@app.command("dkim-record")
def dkim_record_command(
        newsletters: Annotated[list[str] | None, typer.Argument(
            help="Newsletters (default: every one with a [newsletters.NAME.dkim] table)")]
        = None,
        config: ConfigOpt = None) -> None:
    """Print the DNS TXT record that publishes each newsletter's DKIM public key, split into
    strings of at most 255 characters as zone files need."""
    from ..dkim import dkim_signer, txt_strings
    from ..settings import find_config, load_workspace

    with reported():
        workspace = load_workspace(config or find_config())
        slugs = newsletters or [slug for slug, newsletter in
                                workspace.settings.newsletters.items() if newsletter.dkim]
        if not slugs:
            raise SendError(f"{workspace.config_path}: no newsletter has a "
                            "[newsletters.NAME.dkim] table (see README: Sending)")
        records = []
        for slug in slugs:
            signer = dkim_signer(workspace, slug)
            if signer is None:
                raise SendError(f"{workspace.config_path}: newsletters.{slug} has no dkim "
                                "table; add selector and key_file")
            records.append((slug, signer))
    for slug, signer in records:
        out.print(f"# {escape(slug)}: {signer.algorithm}", highlight=False)
        out.print(f"{signer.selector}._domainkey.{signer.domain}. IN TXT "
                  f"{txt_strings(signer.public_record())}", highlight=False, soft_wrap=True,
                  markup=False)


def _show(plan: Plan, resend_uncertain: bool) -> None:
    counts = plan.counts
    out.print(f"[bold]Newsletter:[/] {escape(plan.newsletter)}  ({escape(plan.issue)})")
    out.print(f"[bold]Subject:[/]    {escape(plan.subject)}")
    out.print(f"[bold]From:[/]       {escape(plan.sender)}")
    out.print(f"[bold]List:[/]       {escape(plan.list_name)}: {plan.members} active "
              f"member{'s' * (plan.members != 1)} after suppression")
    if plan.audience is not None:
        others = "no language or another" if plan.audience.default else "it"
        out.print(f"[bold]Language:[/]   {plan.audience.language} only: the subscribers who "
                  f"chose {others}; counts below are theirs")
        out.print(f"[yellow]Warning:[/]    this sends {plan.audience.language} ahead of the "
                  "other languages; the Welsh Language Standards ask for them at the same "
                  "time (send without --lang to send every language together)")
    elif len(plan.languages) > 1:
        both = next((edition for edition in plan.languages if "+" in edition), None)
        out.print(f"[bold]Languages:[/]  {', '.join(plan.languages)} (each subscriber in "
                  "their own" + (f"; {both}: those with none recorded)" if both else ")"))
    done = counts.get("sent", 0) + counts.get("failed", 0)
    if done or counts.get("pending"):
        out.print(f"[bold]So far:[/]     {counts.get('sent', 0)} sent, "
                  f"{counts.get('failed', 0)} failed, {counts.get('pending', 0)} waiting, "
                  f"{counts.get('skipped', 0)} skipped (this run resumes)")
    out.print(f"[bold]To send:[/]    {plan.to_send}")
    if plan.elsewhere:
        out.print(f"[yellow]Also:[/]       {plan.elsewhere} of the above still waiting from a "
                  "send of this issue to another list; they go too")
    if plan.uncertain:
        verb = "will be sent again" if resend_uncertain else \
            "will NOT be sent again (--resend-uncertain to send them)"
        out.print(f"[yellow]Uncertain:[/]  {len(plan.uncertain)} message(s) may or may not "
                  f"have gone when an earlier run stopped; they {verb}")
    if plan.being_sent:
        out.print(f"[yellow]Sending:[/]    being sent by another sender: {plan.being_sent} "
                  "(running on this machine; never sent again by this one)")
    if plan.tests:
        shown = ", ".join(sorted({escape(address) for address, _ in plan.tests}))
        out.print(f"[bold]Test sends:[/] {len(plan.tests)} ({shown})")
    else:
        out.print("[yellow]Test sends:[/] none yet; `bulletin send-test ISSUE --to YOU` "
                  "first is wise")


def _show_findings(outgoing: Outgoing, force: str | None) -> None:
    if outgoing.errors:
        out.print(f"[red]Errors:[/]     {len(outgoing.errors)} from `bulletin check`, sent "
                  f"anyway (--force: {escape(' '.join((force or '').split()))})")
        for notice in outgoing.errors:
            out.print(f"  {escape(str(notice))}", highlight=False)
    if outgoing.warnings:
        out.print(f"[yellow]Warnings:[/]   {len(outgoing.warnings)} from `bulletin check`")
        for notice in outgoing.warnings:
            out.print(f"  {escape(str(notice))}", highlight=False)


def _run_with_progress(send: Send) -> Finished:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("[bold]Sending[/]"), BarColumn(), MofNCompleteColumn(),
               TaskProgressColumn(), TextColumn("{task.fields[rate]:>8} msg/s"),
               TimeRemainingColumn(), TextColumn("{task.fields[problems]}"))
    with Progress(*columns, console=out, transient=False) as progress:
        task = progress.add_task("send", total=max(send.total, 1), rate="", problems="")

        def update(report: Report) -> None:
            elapsed = max(report.seconds, 1e-9) if report.seconds else None
            problems = ", ".join(f"{n} {what}" for n, what in (
                (report.failed, "failed"), (report.deferred, "deferred"),
                (report.uncertain, "uncertain")) if n)
            progress.update(task, completed=report.done,
                            problems=problems,
                            rate=f"{report.sent / elapsed:,.0f}" if elapsed else "")

        finished = send.run(update)
        report = finished.report
        if report.done and not report.stopped and not finished.counts.get("pending"):
            # Other senders took the rest of the queue: the bar is this one's part, whole.
            progress.update(task, total=report.done, completed=report.done)
        return finished


def _final(report: Report, counts: dict[str, int], being_sent: int) -> None:
    # A row `sending` that a sender still running here holds is its, not uncertain.
    others = f"{being_sent} being sent by another sender, " if being_sent else ""
    out.print(f"[bold]Done in {report.seconds:.1f} s:[/] {report.sent} sent, "
              f"{report.failed} failed, {report.uncertain} uncertain, "
              f"{report.deferred} deferred; the ledger now holds {counts.get('sent', 0)} sent, "
              f"{counts.get('failed', 0)} failed, {counts.get('pending', 0)} waiting, "
              f"{max(0, counts.get('sending', 0) - being_sent)} uncertain, {others}"
              f"{counts.get('skipped', 0)} skipped.")
    for reply, number in sorted(report.last_failures.items(), key=lambda kv: -kv[1])[:5]:
        out.print(f"  {number} x {escape(reply)}")
    if report.stopped:
        err.print(f"[yellow]Stopped:[/] {escape(report.stopped)}. Run the same command again "
                  "to resume.")


@app.command("status")
def status_command(issue: IssueArg, config: ConfigOpt = None) -> None:
    """What became of ISSUE's send: counts by state, failures by reply, the uncertain; the
    bounces, complaints and unsubscribes since, with their rates."""
    from ..send.run import status

    with reported():
        found = status(issue, config)  # its name in the ledger; no need to render
    out.print(f"[bold]{escape(found.key)}[/]: " + ", ".join(f"{n} {state}" for state, n in
                                                           found.counts.items()))
    if found.failures:
        out.print("[bold]Failed, by reply:[/]")
        for reply, number in found.failures:
            out.print(f"  {number} x {escape(reply)}")
    uncertain = found.uncertain
    if uncertain:
        out.print(f"[yellow]Uncertain ({len(uncertain)}):[/] may or may not have gone; "
                  "`bulletin send ISSUE --resend-uncertain` sends them again")
        for claim in uncertain[:50]:
            why = f": {claim.reason}" if claim.reason else ""
            out.print(f"  {escape(claim.email)} (attempt {claim.attempts}){escape(why)}")
        if len(uncertain) > 50:
            out.print(f"  ... and {len(uncertain) - 50} more")
    _show_returns(found)
    if len(found.timing) > 1:
        from .compliance import show_timing

        show_timing(found.timing)
    out.print(f"Test sends: {len(found.tests)}")
    _show_approvals(issue, config)
    for record in found.forced:
        reason, _, overridden = (record.detail or "").partition("\n")
        out.print(f"[red]Sent past {len(overridden.splitlines())} check error(s)[/] to "
                  f"{escape(record.list_name or '?')} by {escape(record.actor or '?')} at "
                  f"{record.at:%Y-%m-%d %H:%M} UTC (--force): {escape(reason)}")


def _show_approvals(issue: Path, config: Path | None) -> None:
    """The approvals standing for the issue, each against it as it is now (as the plan)."""
    from ..approval.record import listed
    from ..errors import BulletinError
    from .approve import show_approvals

    try:
        found = listed(issue, config)
    except BulletinError as exc:  # the ledger's part stands without it
        out.print(f"[bold]Approvals:[/] not shown: {escape(' '.join(str(exc).split()))}")
        return
    out.print(f"[bold]Approvals[/] ({found.needed} needed, fingerprint now "
              f"{found.fingerprint.digest[:12]}):")
    show_approvals(found, issue)


def _show_returns(found: Status) -> None:
    """Bounces, complaints and unsubscribes since the issue was sent, and any warning."""
    from ..send.run import percent, rate

    returns = found.returns
    if returns is None or not returns.sent:
        return
    parts = []
    for count, what in ((returns.hard, "hard bounce"), (returns.soft, "soft bounce"),
                        (returns.complaints, "complaint"), (returns.unsubscribed, "")):
        share = rate(count, returns.sent)
        named = f"{what}{'s' * (count != 1)}" if what else "unsubscribed"
        parts.append(f"{count:,} {named} ({percent(share) if share is not None else '-'})")
    since = f" since {returns.first_sent:%Y-%m-%d %H:%M} UTC" if returns.first_sent else ""
    out.print(f"[bold]Came back{escape(since)}[/] (of {returns.sent:,} sent): "
              + ", ".join(parts))
    for line in found.warnings:
        out.print(f"[bold yellow]Warning:[/] {escape(line)}")
