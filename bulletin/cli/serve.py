"""`bulletin serve`: the subscriber web service (unsubscribe, preferences, subscribe, archive)
on the workspace's store, for the links in every email, and, when bulletin.toml has an
[inbound] table, the bounce mailbox read every few minutes. Thin, like the rest of the CLI; the
work is in bulletin.web.service and bulletin.inbound.poller."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from .common import err, out, reported

if TYPE_CHECKING:
    from ..inbound.poller import Poller
    from ..settings import Workspace
    from ..store import Store

app = typer.Typer()


@app.command("serve")
def serve_command(
        host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
        port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free port)")] = 8080,
        config: Annotated[Path | None, typer.Option(
            "--config", help="bulletin.toml to use (default: BULLETIN_CONFIG, else the "
                             "nearest one above the current folder)")] = None) -> None:
    """Serve the pages behind every email's links: one-click unsubscribe, preferences,
    subscribe (double opt-in), view in browser and the archive. Needs BULLETIN_SECRET_KEY,
    the key the emails' links were signed with. With an [inbound] table in bulletin.toml,
    also processes the bounce mailbox every poll_minutes (password: BULLETIN_IMAP_PASSWORD).

    Sends the issues scheduled with `bulletin schedule` at their time."""
    from .. import links
    from ..errors import SendError
    from ..inbound import mailbox
    from ..schedule.worker import Scheduler
    from ..send import campaign
    from ..send.config import send_config
    from ..settings import find_config, load_workspace
    from ..web.server import bind, serve
    from ..web.service import create_app

    with reported():
        key = links.secret_key()
        workspace = load_workspace(config or find_config())
        mailbox.ca_file(workspace)  # one named and missing: an error, as for `bounces fetch`
        try:
            transport = send_config(workspace).transport()
        except SendError as exc:
            transport = None
            err.print(f"[yellow]Warning:[/] subscribing is unavailable (no confirmation "
                      f"emails can be sent): {escape(str(exc))}")
        store = campaign.open_store(workspace)
        try:
            sock = bind(host, port)
            poller = _poller(workspace, store)
            scheduler = Scheduler(store, workspace.config_path)  # the scheduled sends
            app = create_app(workspace, store, key, transport,  # a bad DKIM key: stops here
                             background=[scheduler, *([poller] if poller else [])])
        except BaseException:
            store.close()
            raise
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    shown = f"[{host}]" if ":" in host else host
    out.print(f"Serving subscriber pages at http://{shown}:{sock.getsockname()[1]}/ for "
              f"{escape(workspace.settings.base_url)} (Ctrl-C to stop)")
    if poller is not None:
        out.print(f"Reading the bounce mailbox {escape(poller.account.username)} at "
                  f"{escape(poller.account.where)} every {poller.every / 60:g} minutes")
    out.print(f"Sending scheduled issues at their time (`bulletin schedule list`; new "
              f"ones seen within {scheduler.cycle:g} s)")
    try:
        serve(app, sock)
    finally:
        store.close()
    out.print("Stopped.")


def _poller(workspace: Workspace, store: Store) -> Poller | None:
    """The bounce mailbox's poller, when bulletin.toml has an [inbound] table; without its
    password, a warning, and the service runs without it (a ca_file named and missing has
    stopped `serve` already)."""
    from functools import partial

    from ..errors import SettingsError
    from ..inbound import mailbox
    from ..inbound.poller import Poller
    from ..inbound.process import process, process_many

    inbound = workspace.settings.inbound
    if inbound is None:
        return None
    try:
        account = mailbox.account(workspace)
    except SettingsError as exc:
        err.print(f"[yellow]Warning:[/] the bounce mailbox is not read: {escape(str(exc))}")
        return None
    return Poller(account, inbound.folder, inbound.processed_folder,
                  partial(process, store, workspace, source="imap"), inbound.poll_minutes * 60,
                  many=partial(process_many, store, workspace, source="imap"))
