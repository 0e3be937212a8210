"""One SMTP connection on asyncio streams: opening it (greeting, EHLO or HELO, STARTTLS and
AUTH under the TLS policy), writing, and reading replies, each within the settings' timeout.

Trouble comes out in three kinds: `Lost` (the connection broke, timed out or stopped speaking
SMTP), `Unavailable` (the server is not taking mail now: 4xx while connecting, or 421 at any
time), and SendError for what only a person can fix (settings, TLS, a refused login). Which
of them a message's result becomes is the client's business (`client.py`).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
from dataclasses import dataclass

from ...errors import SendError
from . import policy
from .settings import SmtpSettings
from .wire import Reply, parse_extensions, parse_reply, parse_reply_line

log = logging.getLogger("bulletin.send.smtp")

_QUIT_TIMEOUT = 5.0
_READ_LIMIT = 1 << 16


class Lost(Exception):
    """The connection broke, timed out or stopped speaking SMTP; the message says how."""


class Unavailable(Exception):
    """The server is not taking mail now: a 4xx reply while connecting, or 421 at any time."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(f"{reply.code} {reply.text}")
        self.reply = reply


@dataclass
class SmtpStats:
    connections: int = 0
    transactions: int = 0
    pipelined: int = 0
    """Transactions whose MAIL, RCPT and DATA went to the server in one write."""
    round_trips: int = 0
    """Times the client wrote and then waited for the server's replies."""
    joined: int = 0
    """Ends of data that went out with the next message's MAIL, RCPT and DATA."""


def _buffered(reader: asyncio.StreamReader) -> bytes | bytearray:
    """What the server sent that nobody has read yet (StreamReader has no public way)."""
    buffer: bytes | bytearray = getattr(reader, "_buffer", b"")
    return buffer


class Connection:
    """The streams of one connection at a time: `open` (again after `abort`) starts afresh."""

    def __init__(self, settings: SmtpSettings, stats: SmtpStats) -> None:
        self.settings = settings
        self.stats = stats
        self.extensions: dict[str, str] = {}
        self.encrypted = False
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._tls: ssl.SSLContext | None = None

    @property
    def pipelining(self) -> bool:
        return "PIPELINING" in self.extensions

    # Opening --------------------------------------------------------------------------------

    async def open(self) -> None:
        settings = self.settings
        policy.check_tls_policy(settings)
        implicit = settings.security == "tls"
        try:
            async with asyncio.timeout(settings.timeout):
                self._reader, self._writer = await asyncio.open_connection(
                    settings.host, settings.port, limit=_READ_LIMIT,
                    ssl=self._context() if implicit else None,
                    server_hostname=settings.host if implicit else None)
        except ssl.SSLError as error:
            raise policy.tls_failure(settings, error) from error
        except TimeoutError as error:
            raise Lost(f"no connection within {settings.timeout:g} s") from error
        except OSError as error:
            raise Lost(error.strerror or str(error) or type(error).__name__) from error
        self.stats.connections += 1
        self.encrypted = implicit
        self.extensions = {}
        try:
            greeting = await self.read()
            if greeting.code != 220:
                raise self._refusal("the connection", greeting)
            await self._hello()
            if settings.security == "starttls":
                await self._starttls()
            if settings.username is not None:
                await self._login(settings.username, settings.password or "")
        except BaseException:
            self.abort()
            raise
        log.info("connected to %s (%s%s)", settings.where,
                 "TLS" if self.encrypted else "plain text",
                 ", pipelining" if self.pipelining else "")

    async def _hello(self) -> None:
        name = self.settings.helo_name.encode("ascii")
        reply = await self.command(b"EHLO %s\r\n" % name)
        if reply.code == 250:
            self.extensions = parse_extensions(reply)
            return
        if reply.code // 100 == 4:
            raise Unavailable(reply)
        reply = await self.command(b"HELO %s\r\n" % name)
        if reply.code != 250:
            raise self._refusal("HELO", reply)
        self.extensions = {}

    async def _starttls(self) -> None:
        settings = self.settings
        if "STARTTLS" not in self.extensions:
            policy.check_no_starttls(settings)
            log.warning("%s does not offer STARTTLS; sending in plain text", settings.where)
            return
        reply = await self.command(b"STARTTLS\r\n")
        if reply.code != 220:
            raise self._refusal("STARTTLS", reply)
        assert self._reader is not None and self._writer is not None
        if self.unread():  # plain text slipped in before the handshake
            raise SendError(f"the SMTP server {settings.where} sent more than its reply to "
                            "STARTTLS: refusing to go on (is something tampering with it?)")
        try:
            async with asyncio.timeout(settings.timeout):
                await self._writer.start_tls(self._context(), server_hostname=settings.host)
        except ssl.SSLError as error:
            raise policy.tls_failure(settings, error) from error
        except TimeoutError as error:
            raise Lost(f"no TLS handshake within {settings.timeout:g} s") from error
        except OSError as error:
            raise Lost(error.strerror or str(error) or type(error).__name__) from error
        self.encrypted = True
        await self._hello()

    async def _login(self, username: str, password: str) -> None:
        where = self.settings.where
        policy.check_login(self.settings, self.encrypted)
        if "AUTH" not in self.extensions:
            raise SendError(f"the SMTP server {where} does not offer AUTH: remove "
                            "smtp.username, or check smtp.port and smtp.security")
        mechanisms = self.extensions["AUTH"].upper().split()
        user, secret = username.encode("utf-8"), password.encode("utf-8")
        if "PLAIN" in mechanisms:
            token = base64.b64encode(b"\0" + user + b"\0" + secret)
            reply = await self.command(b"AUTH PLAIN " + token + b"\r\n")
        elif "LOGIN" in mechanisms:
            reply = await self.command(b"AUTH LOGIN\r\n")
            for value in (user, secret):
                if reply.code != 334:
                    break
                reply = await self.command(base64.b64encode(value) + b"\r\n")
        else:
            raise SendError(f"the SMTP server {where} offers AUTH {' '.join(mechanisms)}; "
                            "bulletin can log in with PLAIN or LOGIN")
        if reply.code != 235:
            raise self._refusal(f"the login for {username!r}", reply)

    def _refusal(self, what: str, reply: Reply) -> Exception:
        if reply.code // 100 == 4:
            return Unavailable(reply)
        return SendError(f"the SMTP server {self.settings.where} refused {what}: "
                         f"{reply.code} {reply.text}")

    def _context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = policy.ssl_context(self.settings)
        return self._tls

    # State ----------------------------------------------------------------------------------

    def alive(self) -> bool:
        """Whether the connection is open both ways, as far as the event loop has seen."""
        reader, writer = self._reader, self._writer
        return (reader is not None and writer is not None and not writer.is_closing()
                and not reader.at_eof() and reader.exception() is None)

    def unread(self) -> int:
        """Bytes the server sent that nobody has read yet."""
        return len(_buffered(self._reader)) if self._reader is not None else 0

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.transport.abort()
        self._reader = self._writer = None

    async def quit(self) -> None:
        """Says QUIT and closes the connection, ignoring any trouble on the way."""
        reader, writer = self._reader, self._writer
        self._reader = self._writer = None
        if writer is None or reader is None:
            return
        try:
            async with asyncio.timeout(min(self.settings.timeout, _QUIT_TIMEOUT)):
                writer.write(b"QUIT\r\n")
                await writer.drain()
                await reader.readuntil(b"\n")
                writer.close()
                await writer.wait_closed()
        except BaseException as error:  # leaving politely is best effort
            writer.transport.abort()
            if not isinstance(error, Exception):
                raise

    # Reading and writing --------------------------------------------------------------------

    async def command(self, line: bytes) -> Reply:
        self.stats.round_trips += 1
        await self.write(line)
        return await self.read()

    async def write(self, data: bytes) -> None:
        writer = self._writer
        if writer is None:
            raise Lost("the connection was closed")
        writer.write(data)
        try:
            if writer.transport.get_write_buffer_size():
                async with asyncio.timeout(self.settings.timeout):
                    await writer.drain()
            else:
                await writer.drain()  # all handed to the system: returns (or raises) at once
        except TimeoutError as error:
            raise Lost(f"the server took nothing for {self.settings.timeout:g} s") from error
        except OSError as error:
            raise Lost(f"the connection was lost ({type(error).__name__})") from error

    async def read(self) -> Reply:
        """The server's next reply; raises Unavailable for 421 (the server is closing)."""
        reader = self._reader
        if reader is None:
            raise Lost("the connection was closed")
        lines = []
        try:
            while True:
                if b"\n" in _buffered(reader):  # a pipelined reply already here: no timer
                    line = await reader.readuntil(b"\n")
                else:
                    async with asyncio.timeout(self.settings.timeout):
                        line = await reader.readuntil(b"\n")
                lines.append(line)
                if parse_reply_line(line)[1]:
                    break
            reply = parse_reply(lines)
        except TimeoutError as error:
            raise Lost(f"no reply within {self.settings.timeout:g} s") from error
        except asyncio.IncompleteReadError as error:
            raise Lost("the server closed the connection") from error
        except asyncio.LimitOverrunError as error:
            raise Lost("the server sent an over-long line") from error
        except ValueError as error:
            raise Lost(str(error)) from error
        except OSError as error:
            raise Lost(f"the connection was lost ({type(error).__name__})") from error
        if reply.code == 421:
            raise Unavailable(reply)
        return reply
