"""What the SMTP client is told: `SmtpSettings`, checked when made (the one place the SMTP
settings and the password's presence are checked), with the password kept out of its repr.

The workspace's [smtp] table (`bulletin.settings.Smtp`) is projected into it; that model owns
the defaults (port, security, timeout), so they are not restated here: the caller passes them.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ...errors import SendError
from .wire import has_unsafe

Security = Literal["starttls", "tls", "none"]
SECURITIES: tuple[Security, ...] = ("starttls", "tls", "none")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: Security
    """"starttls" (upgrade after connecting, port 587), "tls" (TLS from the start, port 465)
    or "none" (plain text: refused to any host but this machine unless require_tls=False)."""
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = field(kw_only=True)
    """Seconds to wait for each reply, each write and the connection itself."""
    require_tls: bool | None = None
    """None: TLS is required except to a loopback host. False: plain text is allowed (the
    server is on a trusted network). True: TLS is required even to a loopback host."""
    helo_name: str = field(default_factory=socket.getfqdn)
    ca_file: Path | None = None
    """Trust the CA certificates in this file instead of the system's (a private relay)."""

    def __post_init__(self) -> None:
        if not self.host or has_unsafe(self.host):
            raise SendError(f"smtp.host {self.host!r} is not a host name or address")
        if self.security not in SECURITIES:
            raise SendError(f"smtp.security is {self.security!r}; expected one of: "
                            + ", ".join(SECURITIES))
        if not 0 < self.port < 65536:
            raise SendError(f"smtp.port is {self.port}; expected a TCP port, 1 to 65535")
        if not self.timeout > 0:
            raise SendError(f"smtp.timeout is {self.timeout}; expected a number of seconds > 0")
        if not self.helo_name.isascii() or has_unsafe(self.helo_name) or not self.helo_name:
            raise SendError(f"smtp.helo_name {self.helo_name!r} is not a host name")
        if self.username is not None and not self.password:
            raise SendError(f"smtp.username is {self.username!r} but there is no password: "
                            "set BULLETIN_SMTP_PASSWORD")

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"
