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
from collections import deque
from dataclasses import dataclass

from ...errors import SendError
from . import policy
from .settings import SmtpSettings
from .wire import Reply, ReplyParser, parse_extensions

log = logging.getLogger("bulletin.send.smtp")

_QUIT_TIMEOUT = 5.0
_READ_LIMIT = 1 << 16
_READ_SIZE = 1 << 16


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


class _Expected:
    """Replies a command (or a pipelined group) waits for: the next `count` replies after
    those of every command written before it, or fewer if one of them is 421."""

    __slots__ = ("count", "deadline", "future", "got")

    def __init__(self, count: int, deadline: float, future: asyncio.Future[list[Reply]]) -> None:
        self.count = count
        self.deadline = deadline
        self.future = future
        self.got: list[Reply] = []


class _Stream(asyncio.BufferedProtocol):
    """What the event loop reports about one connection: replies as they are parsed, each
    handed to the command that waits for it (in the order the commands were written), the
    end of the stream, and whether writing must wait. The bytes arrive in a buffer of its
    own, reused (a plain Protocol would take a fresh 256 KiB from the allocator each time).

    Time limits: one timer a connection, not one a wait. It is set for the earliest deadline
    of what waits when nothing earlier is set, and when it fires it fails what is overdue and
    sets itself again for the rest: a busy connection, whose deadlines keep moving on, costs
    one timer event a time limit rather than a timer a reply."""

    def __init__(self) -> None:
        self._buffer = memoryview(bytearray(_READ_SIZE))
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = ReplyParser(_READ_LIMIT)
        self.replies: deque[Reply] = deque()
        """Replies no command has been waiting for (unasked: a 421 before closing, say)."""
        self.expected: deque[_Expected] = deque()
        """What the commands written so far wait for, in the order they were written."""
        self.failure: str | None = None
        """Why the server's bytes stopped making sense, once they have."""
        self.eof = False
        self.lost = False
        self.error: BaseException | None = None
        """What ended the connection, if it did not end cleanly."""
        self.paused = False
        self.waiters: list[tuple[float, asyncio.Future[None]]] = []
        """Writes (and a QUIT) waiting for the event loop's news, each with its deadline."""
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        if self.failure is None:
            try:
                self.parser.feed(self._buffer[:nbytes].tobytes(), self.replies.append)
            except ValueError as error:
                self.failure = str(error)
        if self.expected:
            self._hand_out()
        if self.waiters:
            self._wake()

    def eof_received(self) -> bool:
        """The server will send no more; writing may go on, as asyncio's streams allow (but
        a TLS transport closes at its end)."""
        self.eof = True
        self._hand_out()
        self._wake()
        return self.transport is not None and self.transport.get_extra_info("sslcontext") is None

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost, self.error = True, exc
        self._hand_out()
        self._wake()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._wake()

    def _wake(self) -> None:
        waiters, self.waiters = self.waiters, []
        for _, waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _hand_out(self) -> None:
        """Replies to the commands waiting for them, in order; once no more can come, what
        still waits fails."""
        replies, expected = self.replies, self.expected
        while expected and replies:
            head = expected[0]
            reply = replies.popleft()
            head.got.append(reply)
            if len(head.got) == head.count or reply.code == 421:
                expected.popleft()
                if not head.future.done():
                    head.future.set_result(head.got)
        if expected and (broken := self.broken()) is not None:
            waiting, self.expected = expected, deque()
            for item in waiting:
                if not item.future.done():
                    item.future.set_exception(broken)

    def expect(self, count: int, deadline: float) -> asyncio.Future[list[Reply]]:
        """The next `count` replies after those every earlier `expect` waits for (fewer if
        one is 421): a future, failed with Lost if they cannot come, or TimeoutError at
        `deadline` (the loop's clock)."""
        future: asyncio.Future[list[Reply]] = self._loop.create_future()
        self.expected.append(_Expected(count, deadline, future))
        if self.replies or self.failure is not None or self.eof or self.lost:
            self._hand_out()
        if not future.done():
            self._arm(deadline)
        return future

    def broken(self) -> Lost | None:
        """What a read finds when no reply is here and none can come."""
        if self.failure is not None:
            return Lost(self.failure)
        if self.error is not None:
            return Lost(f"the connection was lost ({type(self.error).__name__})")
        if self.eof or self.lost:
            return Lost("the server closed the connection")
        return None

    async def wait(self, deadline: float) -> None:
        """Until the event loop has news for this connection; TimeoutError at `deadline`
        (the loop's clock)."""
        waiter = self._loop.create_future()
        entry = (deadline, waiter)
        self.waiters.append(entry)
        self._arm(deadline)
        try:
            await waiter
        finally:
            if entry in self.waiters:
                self.waiters.remove(entry)

    def _arm(self, deadline: float) -> None:
        if self._timer is None or deadline < self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = deadline
            self._timer = self._loop.call_at(deadline, self._patrol)

    def _patrol(self) -> None:
        """The timer: what is overdue fails with TimeoutError; the timer is set again for
        the earliest deadline of the rest."""
        self._timer = None
        now = self._loop.time()
        earliest: float | None = None
        for item in self.expected:
            if item.future.done():
                continue
            if item.deadline <= now:
                item.future.set_exception(TimeoutError())
            elif earliest is None or item.deadline < earliest:
                earliest = item.deadline
        for deadline, waiter in self.waiters:
            if waiter.done():
                continue
            if deadline <= now:
                waiter.set_exception(TimeoutError())
            elif earliest is None or deadline < earliest:
                earliest = deadline
        if earliest is not None:
            self._arm(earliest)


class Connection:
    """The streams of one connection at a time: `open` (again after `abort`) starts afresh."""

    def __init__(self, settings: SmtpSettings, stats: SmtpStats) -> None:
        self.settings = settings
        self.stats = stats
        self.extensions: dict[str, str] = {}
        self.encrypted = False
        self._stream: _Stream | None = None
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
                    _Stream, settings.host, settings.port,
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
        return stream.expect(count, stream._loop.time() + self.settings.timeout)

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
