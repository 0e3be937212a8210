"""What a send needs from bulletin.toml and the environment, projected once from the
workspace (`send_config`): the SMTP relay's settings, with the password from
BULLETIN_SMTP_PASSWORD, and the dispatcher's (DispatchSettings), [smtp]'s values with the
command's overrides.

Each setting has one default, bulletin.settings.Smtp's (what bulletin.toml documents);
DispatchSettings takes its defaults from there. Each check is made once, where the value is
used: the SMTP client's settings (SmtpSettings) check the host, the port and that a username
has its password; so the relay's settings are built for a send (its dry run too, which
refuses as the send would) and not for .eml files written to a folder, which need neither an
[smtp] table nor the password."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..environment import SMTP_PASSWORD
from ..errors import SendError
from ..settings import Smtp, Workspace
from .files import FileTransport
from .smtp import SmtpSettings, SmtpTransport
from .transport import Transport

_SMTP = Smtp.defaults()


CLAIM_AHEAD = 4
"""With a journal, a run claims up to this many windows of messages ahead, once its backlog
runs low (without one: a window, once a quarter of it is free): few claims, of many rows."""


@dataclass(frozen=True)
class DispatchSettings:
    """How the dispatcher goes about a send: [smtp]'s settings of the same names, with their
    defaults."""

    connections: int = _SMTP.connections
    window: int = 0
    """Messages with the workers and not yet answered, at most (without a journal: not yet
    recorded; 0: 16 per connection)."""
    per_second: float | None = _SMTP.rate_per_second
    per_hour: int | None = _SMTP.rate_per_hour
    max_attempts: int = _SMTP.max_attempts
    retry_delays: tuple[float, ...] = _SMTP.retry_delays
    """Seconds to wait before each new pass over messages that failed for now."""
    max_consecutive_failures: int = _SMTP.max_consecutive_failures
    max_outage: float = _SMTP.max_outage
    """Seconds the relay may stay unreachable (no connection can be made, or it will not
    greet us) before the send stops; meanwhile each connection tries again, waiting
    `reconnect_delay` seconds, doubled each time up to `reconnect_delay_max`. Those tries
    are not failures: the messages waiting for them are tried once the relay is back."""
    reconnect_delay: float = 0.25
    reconnect_delay_max: float = 30.0
    flush_every: float = 0.25
    """Seconds between writes of outcomes to the ledger (also written every `window` / 2)."""

    @property
    def in_flight(self) -> int:
        return self.window or 16 * self.connections


@dataclass(frozen=True)
class SendConfig:
    """A workspace's settings as a send uses them."""

    config_path: Path
    """bulletin.toml, for messages."""
    smtp: Smtp | None
    """The [smtp] table, if there is one."""
    password: str | None = field(repr=False)
    dispatch: DispatchSettings

    def smtp_settings(self) -> SmtpSettings:
        """The SMTP client's settings; SendError when there is no [smtp] table or the
        settings are wrong (a username without BULLETIN_SMTP_PASSWORD, say)."""
        smtp = self.smtp
        if smtp is None:
            raise SendError(f"{self.config_path}: no [smtp] table; add one with at least "
                            "host = \"...\" (see README)")
        extra = {"helo_name": smtp.helo_name} if smtp.helo_name else {}
        return SmtpSettings(host=smtp.host, port=smtp.port, security=smtp.security,
                            username=smtp.username, password=self.password,
                            timeout=smtp.timeout,
                            require_tls=False if smtp.allow_plaintext else None,
                            ca_file=smtp.ca_file, **extra)

    def transport(self, out_dir: Path | None = None) -> Callable[[], Transport]:
        """New connections to the relay, or .eml files written to `out_dir`."""
        if out_dir is not None:
            return lambda: FileTransport(out_dir)
        settings = self.smtp_settings()
        return lambda: SmtpTransport(settings)


def send_config(workspace: Workspace, connections: int | None = None,
                per_second: float | None = None, per_hour: int | None = None) -> SendConfig:
    """The workspace's send settings; `connections`, `per_second` and `per_hour` (a
    command's options), where given, over [smtp]'s."""
    smtp = workspace.settings.smtp
    table = smtp or Smtp.defaults()
    dispatch = DispatchSettings(
        connections=connections or table.connections, window=table.window or 0,
        per_second=per_second or table.rate_per_second,
        per_hour=per_hour or table.rate_per_hour, max_attempts=table.max_attempts,
        retry_delays=table.retry_delays, max_consecutive_failures=table.max_consecutive_failures,
        max_outage=table.max_outage)
    return SendConfig(workspace.config_path, smtp, os.environ.get(SMTP_PASSWORD) or None,
                      dispatch)
