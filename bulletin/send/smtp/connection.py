"""One SMTP connection at the asyncio.Protocol level: opening it (greeting, EHLO or HELO,
STARTTLS and AUTH under the TLS policy), writing, and reading replies, each within the
settings' timeout. Replies are parsed as the bytes arrive, so a reply that is already here is
read without waiting, and a write waits only when the system's buffers are full.

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
from .stream import Lost, Stream, Unavailable
from .wire import Reply, parse_extensions

log = logging.getLogger("bulletin.send.smtp")
__all__ = ["Connection", "Lost", "SmtpStats", "Unavailable"]

_QUIT_TIMEOUT = 5.0


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


class Connection:
    """The streams of one connection at a time: `open` (again after `abort`) starts afresh."""

    def __init__(self, settings: SmtpSettings, stats: SmtpStats) -> None:
        self.settings = settings
        self.stats = stats
        self.extensions: dict[str, str] = {}
        self.encrypted = False
        self._stream: Stream | None = None
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
                _, self._stream = await asyncio.get_running_loop().create_connection(
                    Stream, settings.host, settings.port,
                    ssl=self._context() if implicit else None,
                    server_hostname=settings.host if implicit else None)
        except OSError as error:  # TimeoutError and ssl.SSLError are OSErrors too
            raise self._failure("connection", error) from error
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
        stream = self._stream
        assert stream is not None and stream.transport is not None
        if self.unread():  # plain text slipped in before the handshake
            raise SendError(f"the SMTP server {settings.where} sent more than its reply to "
                            "STARTTLS: refusing to go on (is something tampering with it?)")
        try:
            async with asyncio.timeout(settings.timeout):
                transport = await asyncio.get_running_loop().start_tls(
                    stream.transport, stream, self._context(), server_hostname=settings.host)
        except OSError as error:
            raise self._failure("TLS handshake", error) from error
        if transport is None:
            raise Lost("the connection closed during the TLS handshake")
        stream.transport = transport
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

    def _failure(self, what: str, error: OSError) -> Exception:
        """What a failed connection or TLS handshake means: SendError for TLS trouble,
        else Lost."""
        if isinstance(error, ssl.SSLError):
            return policy.tls_failure(self.settings, error)
        if isinstance(error, TimeoutError):
            return Lost(f"no {what} within {self.settings.timeout:g} s")
        return Lost(error.strerror or str(error) or type(error).__name__)

    def _context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = policy.ssl_context(self.settings)
        return self._tls

    # State ----------------------------------------------------------------------------------

    def alive(self) -> bool:
        """Whether the connection is open both ways, as far as the event loop has seen."""
        stream = self._stream
        return (stream is not None and stream.transport is not None
                and not stream.transport.is_closing() and stream.error is None
                and not (stream.eof and not self.unread()))

    def idle(self) -> bool:
        """Alive with nothing waiting in the write buffer: a write now goes straight out."""
        stream = self._stream
        return (self.alive() and stream is not None and stream.transport is not None
                and not stream.paused and not stream.transport.get_write_buffer_size())

    def unread(self) -> int:
        """How much the server sent that nobody has read yet (replies, bytes)."""
        stream = self._stream
        if stream is None:
            return 0
        return len(stream.replies) + stream.parser.pending + (stream.failure is not None)

    def abort(self) -> None:
        if self._stream is not None and self._stream.transport is not None:
            self._stream.transport.abort()
        self._stream = None

    async def quit(self) -> None:
        """Says QUIT and closes the connection, ignoring any trouble on the way."""
        stream, self._stream = self._stream, None
        if stream is None or stream.transport is None:
            return
        transport = stream.transport
        deadline = asyncio.get_running_loop().time() + min(self.settings.timeout, _QUIT_TIMEOUT)
        try:
            transport.write(b"QUIT\r\n")
            while not stream.replies and stream.broken() is None:
                await stream.wait(deadline)
            transport.close()
            while not stream.lost:
                await stream.wait(deadline)
        except BaseException as error:  # leaving politely is best effort
            transport.abort()
            if not isinstance(error, Exception):
                raise

    # Reading and writing --------------------------------------------------------------------

    async def command(self, line: bytes) -> Reply:
        self.stats.round_trips += 1
        await self.write(line)
        return await self.read()

    async def write(self, data: bytes) -> None:
        """Hands `data` to the system; waits only while the system's buffers are full."""
        stream = self._stream
        if stream is None or stream.transport is None:
            raise Lost("the connection was closed")
        if not stream.lost and not stream.transport.is_closing():
            stream.transport.write(data)
        try:
            if stream.paused:
                deadline = asyncio.get_running_loop().time() + self.settings.timeout
                while stream.paused and not stream.lost:
                    await stream.wait(deadline)
        except TimeoutError as error:
            raise Lost(f"the server took nothing for {self.settings.timeout:g} s") from error
        if stream.lost or stream.transport.is_closing():
            name = type(stream.error).__name__ if stream.error else "ConnectionResetError"
            raise Lost(f"the connection was lost ({name})")

    def write_now(self, data: bytes) -> None:
        """Hands `data` to the system at once, never waiting (a later write waits if the
        system's buffers are full); raises Lost if the connection is gone."""
        stream = self._stream
        if stream is None or stream.transport is None or stream.lost \
                or stream.transport.is_closing():
            raise Lost("the connection was lost")
        stream.transport.write(data)

    def expect(self, count: int) -> asyncio.Future[list[Reply]]:
        """The next `count` replies after those of the commands written before, as a future
        for `replies`. Ask for them in the order the commands are written."""
        stream = self._stream
        if stream is None:
            raise Lost("the connection was closed")
        return stream.expect(count, stream.loop.time() + self.settings.timeout)

    async def replies(self, expected: asyncio.Future[list[Reply]] | int) -> list[Reply]:
        """The replies `expected` (from `expect`, or that many next); raises Lost when they
        cannot come or take longer than the timeout, Unavailable for a 421 (the server is
        closing)."""
        future = self.expect(expected) if isinstance(expected, int) else expected
        try:
            got = future.result() if future.done() else await future
        except TimeoutError as error:
            raise Lost(f"no reply within {self.settings.timeout:g} s") from error
        if got[-1].code == 421:
            raise Unavailable(got[-1])
        return got

    async def read(self) -> Reply:
        """The server's next reply; raises Unavailable for 421 (the server is closing)."""
        return (await self.replies(1))[0]
