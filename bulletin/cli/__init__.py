"""The command line: parse arguments, call the library, print. Only here do errors become
messages and exit codes.

One module per group of commands, each with its own typer.Typer, loaded here by name when one
of its commands runs (lazy, from the COMMANDS table), so that registration runs one way (this
package loads its modules; none imports this package):

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
    lazy         the root group that loads a command's module only when it is asked for

Each command imports what it needs when it runs, so that starting one command does not load
every other's libraries (rendering, the store, the web service): `bulletin send` renders in a
child process and must not hold the rendering stack itself (see bulletin.send.outgoing)."""

from __future__ import annotations

import gc

import typer

from .lazy import LazyGroup

# Every top-level command, in --help's order: (its module, the first paragraph of its help).
# A module loads only when one of its commands runs (bulletin.cli.lazy);
# tests/test_cli_lazy.py holds this table equal to the commands themselves.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("authoring", "Start a workspace of your own in FOLDER: a commented bulletin.toml, "
             "a first issue that shows every feature of the issue format, and a .gitignore. "
             "Never overwrites a file."),
    "render": ("authoring", "Render ISSUE to DIR/<name>.html, .txt and .eml (as a sample "
               "subscriber gets it); one set per language, DIR/<name>.<lang>.*, when each "
               "subscriber gets their own language."),
    "check": ("authoring", "Pre-send checks of every email the issue is sent as. Errors exit "
              "1; warnings alone exit 0."),
    "preview": ("authoring", "Preview ISSUE in the browser: desktop, phone, text, headers, "
                "source and checks, re-rendered whenever the issue, bulletin.toml or the "
                "templates change."),
    "screenshot": ("authoring", "Full-page PNGs of ISSUE at each --width (default 600 and "
                   "375), taken with Chromium."),
    "send-test": ("send", "Send ISSUE now to the --to addresses, subject prefixed [TEST]; "
                  "every language the issue is sent in. Not recorded as sends to the list."),
    "send": ("send", "Send ISSUE to a mailing list, if `bulletin check` finds no errors in "
             "it. Safe to run again: it resumes, and nobody recorded as sent is sent to "
             "again."),
    "dkim-record": ("send", "Print the DNS TXT record that publishes each newsletter's DKIM "
                    "public key, split into strings of at most 255 characters as zone files "
                    "need."),
    "status": ("send", "What became of ISSUE's send: counts by state, failures by reply, the "
               "uncertain; the bounces, complaints and unsubscribes since, with their rates."),
    "approve": ("approve", "Approve ISSUE exactly as it renders now: any later change (one "
                "byte of the issue, a template, bulletin.toml, an image) needs approving "
                "again."),
    "approvals": ("approve", "Who approved ISSUE, when, with what note, and whether each "
                  "still matches the issue as it is now (if not, what changed)."),
    "worker": ("schedule", "Send the scheduled issues at their time, and nothing else "
               "(`bulletin serve` does this too, beside the web pages). Ctrl-C stops it; a "
               "send under way stops within seconds, and `bulletin send` resumes it."),
    "schedule": ("schedule", "Sends at a set time, run by `bulletin serve`."),
    "serve": ("serve", "Serve the pages behind every email's links: one-click unsubscribe, "
              "preferences, subscribe (double opt-in), view in browser and the archive. Needs "
              "BULLETIN_SECRET_KEY, the key the emails' links were signed with. With an "
              "[inbound] table in bulletin.toml, also processes the bounce mailbox every "
              "poll_minutes (password: BULLETIN_IMAP_PASSWORD)."),
    "subscribers": ("subscribers", "Subscribers and lists: import, export, add, remove, "
                    "count, show."),
    "db": ("subscribers", "The subscriber database."),
    "bounces": ("bounces", "Bounces, complaints and emailed unsubscribes."),
    "suppressions": ("suppressions", "The suppression list: addresses never sent to again."),
    "media": ("media", "Published images (BASE/media/)."),
    "compliance": ("compliance", "A short report for an auditor of the Welsh Language "
                   "Standards: the languages and their parity, the order, what a subscriber "
                   "with no recorded language gets, the last send's timing per language, "
                   "subscribers by language and by where they chose it, and the web pages in "
                   "each language. Exits 1 when the parity checks find errors."),
}


class _Root(LazyGroup):
    table = COMMANDS


def _root() -> None:
    """Nothing to do before a command: the group exists for its commands."""


app: typer.Typer = typer.Typer(help="Compose, check and send email bulletins.",
                               cls=_Root, no_args_is_help=True, callback=_root,
                               add_completion=False, pretty_exceptions_enable=False)


def main() -> None:
    """The `bulletin` command, whose process ends when the command does. At the end the
    cyclic garbage collector is told to leave what exists alone (`gc.freeze`): Python's
    shutdown would otherwise walk every object the command's imports made, more than once,
    to free memory the process is about to give back anyway (a sixth of a `bulletin render`).
    Exit handlers still run, and files are still flushed and closed."""
    try:
        app()
    finally:
        gc.freeze()
