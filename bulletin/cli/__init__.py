"""The command line: parse arguments, call the library, print. Only here do errors become
messages and exit codes.

One module per group of commands, each with its own typer.Typer, added here, so that
registration runs one way (this package imports its modules; none imports this package):

    authoring    init, render, check, preview, screenshot
    send         send-test, send, dkim-record, status
    approve      approve, approvals (sign-off bound to the content)
    schedule     schedule ISSUE, schedule list, schedule cancel
    serve        serve
    subscribers  subscribers ..., db ...
    bounces      bounces parse, receive, fetch (what comes back)
    suppressions suppressions list, add, remove, export
    media        media export (published images)
    compliance   compliance ISSUE (the Welsh Language Standards, for an auditor)
    common       the consoles, the shared options, `reported` (errors become messages)
    helptext     --help in click's conventions, for the whole tree

Each command imports what it needs when it runs, so that starting one command does not load
every other's libraries (rendering, the store, the web service): `bulletin send` renders in a
child process and must not hold the rendering stack itself (see bulletin.send.outgoing)."""

from __future__ import annotations

import typer

from . import (
    approve,
    authoring,
    bounces,
    compliance,
    media,
    schedule,
    send,
    serve,
    subscribers,
    suppressions,
)
from .helptext import ConventionalGroup

app: typer.Typer = typer.Typer(help="Compose, check and send email bulletins.",
                               cls=ConventionalGroup, no_args_is_help=True,
                               add_completion=False, pretty_exceptions_enable=False)
# Added without a name, a module's commands (and groups) join the top level, in this order.
for part in (authoring.app, send.app, approve.app, schedule.app, serve.app, subscribers.app,
             bounces.app, suppressions.app, media.app, compliance.app):
    app.add_typer(part)


def main() -> None:
    app()
