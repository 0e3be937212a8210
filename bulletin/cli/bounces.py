"""`bulletin bounces ...`: what comes back after sending. `parse` classifies one message
file (for a person puzzled by one); `receive` processes one message from standard input, for
the MTA (Postfix pipe(8), or an alias `|bulletin bounces receive`), with the exit statuses of
sysexits.h that an MTA understands: 0 done (or not ours: dropped), 65 (EX_DATAERR) not an
email, 75 (EX_TEMPFAIL) the store or the settings cannot be used now, so the MTA keeps the
message and tries again later. The work is in bulletin.inbound."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.markup import escape

from .common import StoreConfigOpt, err, out, reported

app = typer.Typer(name="bounces", help="Bounces, complaints and emailed unsubscribes.",
                  no_args_is_help=True)

EX_DATAERR = 65
EX_TEMPFAIL = 75


@app.command("parse")
def parse_command(
        file: Annotated[Path, typer.Argument(help="The message, as a file (.eml, mbox-less)",
                                             show_default=False)],
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Classify one message: hard or soft bounce, complaint, auto-reply, or not a bounce;
    the failed recipients, the status code and the reason. Changes nothing."""
    from ..errors import BulletinError
    from ..inbound import classify

    with reported():
        try:
            raw = file.read_bytes()
        except OSError as exc:
            raise BulletinError(f"{file}: cannot read it: {exc.strerror or exc}") from None
        try:
            c = classify(raw)
        except BulletinError as exc:
            raise BulletinError(f"{file}: {exc}") from None
    # An emailed unsubscribe request is not a bounce: "not-bounce", its reason saying so.
    kind = "not-bounce" if c.kind == "unsubscribe" else c.kind
    reason = "unsubscribe-request" if c.kind == "unsubscribe" else c.reason
    if as_json:
        print(json.dumps({"kind": kind, "recipients": list(c.recipients), "status": c.status,
                          "reason": reason or ""}))
        return
    out.print(f"{escape(str(file))}: {escape(kind)}"
              + (f" ({escape(c.kind)})" if kind != c.kind else ""))
    for label, value in (("Recipients", ", ".join(c.recipients)), ("Status", c.status),
                         ("Reason", reason), ("Server said", " ".join(
                             (c.diagnostic or "").split())[:300]), ("Format", c.family)):
        if value:
            out.print(f"  {label + ':':<12} {escape(value)}")


@app.command("receive")
def receive_command(config: StoreConfigOpt = None) -> None:
    """Process one message from standard input (for the MTA: a pipe or an alias). Exit 0
    when done or not ours, 65 when it is not an email, 75 when it cannot be processed now
    (the MTA keeps it and tries again)."""
    raw = sys.stdin.buffer.read()
    from ..errors import BulletinError
    from ..inbound import NotAnEmailError
    from ..inbound.process import process
    from ..settings import find_config, load_workspace
    from ..store import Store

    try:
        workspace = load_workspace(config or find_config())
        with Store.for_workspace(workspace) as store:
            done = process(store, workspace, raw, source="pipe")
    except NotAnEmailError as exc:
        _fail(EX_DATAERR, f"not processed: {exc}")
    except BulletinError as exc:
        _fail(EX_TEMPFAIL, f"not processed, try again later: {exc}")
    except Exception as exc:  # whatever failed, the MTA must keep the message
        # Only the kind of failure: its text may quote the message (addresses), and this
        # line goes to the MTA's log.
        _fail(EX_TEMPFAIL, f"not processed, try again later: unexpected {type(exc).__name__}")
    what = "already processed" if done.duplicate else done.action
    subscriber = f" subscriber {done.subscriber_id}" if done.subscriber_id is not None else ""
    out.print(escape(f"{done.kind}:{subscriber} {what}" + (
        "" if done.ours else f" (not ours: {done.note})" if done.note else " (not ours)")))


@app.command("fetch")
def fetch_command(config: StoreConfigOpt = None) -> None:
    """Process the bounce mailbox ([inbound] in bulletin.toml, the password in
    BULLETIN_IMAP_PASSWORD) once: bounces, complaints, auto-replies and unsubscribe requests
    are recorded and moved to the processed folder; other mail is left where it is, unread."""
    from functools import partial

    from .. import links
    from ..inbound import mailbox
    from ..inbound.process import process, process_many
    from ..settings import find_config, load_workspace
    from ..store import Store

    with reported():
        workspace = load_workspace(config or find_config())
        account = mailbox.account(workspace)
        links.secret_key()  # tokens are checked with it: say so before reading any mail
        inbound = workspace.settings.inbound
        assert inbound is not None  # account() said so
        with Store.for_workspace(workspace) as store:
            tally = mailbox.fetch(account, inbound.folder, inbound.processed_folder,
                                  partial(process, store, workspace, source="imap"),
                                  many=partial(process_many, store, workspace, source="imap"))
    out.print(escape(tally.line().capitalize()))
    if tally.unreadable:
        raise typer.Exit(1)


def _fail(code: int, message: str) -> NoReturn:
    err.print(f"[bold red]Error:[/] {escape(' '.join(message.split()))}")
    raise typer.Exit(code)
