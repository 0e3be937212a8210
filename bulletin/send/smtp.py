"""An SMTP client on asyncio streams: one connection, one envelope recipient a message, MAIL,
RCPT and DATA sent as one group when the server offers PIPELINING (RFC 2920).

`SmtpTransport(SmtpSettings(...))` implements `bulletin.send.transport.Transport`. Concurrent
`send` calls on one transport take turns writing; with PIPELINING, the next message's MAIL,
RCPT and DATA follow the previous message's end of data without waiting for its reply (RFC
2920 3.1), so each message costs one round trip, not two. Replies are read in the order the
commands went out: each message reads only after the one before it has read all of its own.
Open several transports for several connections.
The password is sent only inside AUTH, never logged, and never put in an error message.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import logging
import re
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

from ..errors import SendError
from ..message import AddressError, header_address
from .transport import Handover, Result, Status

log = logging.getLogger(__name__)

Security = Literal["starttls", "tls", "none"]
SECURITIES: tuple[Security, ...] = ("starttls", "tls", "none")
_END_OF_DATA = b".\r\n"  # follows the CRLF that ends the last line of data
_LINE_END = re.compile(rb"\r\n|\r|\n")
_BAD_PATH = re.compile(r"[\x00-\x20\x7f<>]")
_QUIT_TIMEOUT = 5.0
_NO_SMTPUTF8 = ("the address has a non-ASCII local part, which needs SMTPUTF8 (RFC 6531), and "
                "the SMTP server {where} does not offer it")
_READ_LIMIT = 1 << 16


# Pure helpers -------------------------------------------------------------------------------

def dot_stuff(data: bytes) -> bytes:
    """`data` made ready to follow DATA (RFC 5321 4.5.2): every line end CRLF (a lone CR or LF
    becomes one), a CRLF after the last line, and a second dot before any dot that starts a
    line. Appending b".\\r\\n" then ends the data, and nowhere before that end does the data
    contain CRLF "." CRLF."""
    crlf = data.count(b"\r\n")
    if data.count(b"\r") != crlf or data.count(b"\n") != crlf:
        data = _LINE_END.sub(b"\r\n", data)
    if data and not data.endswith(b"\r\n"):
        data += b"\r\n"
    stuffed = data.replace(b"\r\n.", b"\r\n..")
    return b"." + stuffed if stuffed.startswith(b".") else stuffed


def dot_unstuff(stuffed: bytes) -> bytes:
    """What a server makes of dot-stuffed data: the first dot of each line that starts with
    one removed. `dot_unstuff(dot_stuff(m)) == m` for a message with CRLF line ends."""
    if stuffed.startswith(b"."):
        stuffed = stuffed[1:]
    return stuffed.replace(b"\r\n..", b"\r\n.")


@dataclass(frozen=True, slots=True)
class Reply:
    code: int
    text: str
    """The text of every line, without the codes, joined by newlines."""

    @property
    def lines(self) -> list[str]:
        return self.text.split("\n")


def parse_reply_line(line: bytes) -> tuple[int, bool, str]:
    """One line of a server's reply: its code, whether it is the reply's last line, and its
    text. Raises ValueError for anything that is not a reply line."""
    if line.endswith(b"\r\n"):
        line = line[:-2]
    elif line.endswith(b"\n"):
        line = line[:-1]
    code, separator = line[:3], line[3:4]
    if len(code) != 3 or not code.isdigit() or code[0] not in b"2345" or separator not in (
            b"", b" ", b"-"):
        raise ValueError(f"not an SMTP reply line: {line[:80]!r}")
    return int(code), separator != b"-", line[4:].decode("utf-8", "replace")


def parse_reply(lines: Iterable[bytes]) -> Reply:
    """A whole reply from its lines (each with or without its line end)."""
    code, texts, last = 0, [], False
    for line in lines:
        if last:
            raise ValueError("an SMTP reply goes on after its last line")
        line_code, last, text = parse_reply_line(line)
        if code and line_code != code:
            raise ValueError(f"an SMTP reply changes its code from {code} to {line_code}")
        code = line_code
        texts.append(text)
    if not last:
        raise ValueError("an SMTP reply without its last line")
    return Reply(code, "\n".join(texts))


def parse_extensions(reply: Reply) -> dict[str, str]:
    """The service extensions an EHLO reply announces: keyword (upper case) to parameters."""
    extensions = {}
    for line in reply.lines[1:]:
        keyword, _, parameters = line.strip().partition(" ")
        if keyword:
            extensions[keyword.upper()] = parameters.strip()
    return extensions


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine: localhost, 127.0.0.0/8 or ::1. Other names are
    not resolved: a name that happens to point here does not count."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


# Settings -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    security: Security = "starttls"
    """"starttls" (upgrade after connecting, port 587), "tls" (TLS from the start, port 465)
    or "none" (plain text: refused to any host but this machine unless require_tls=False)."""
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 60.0
    """Seconds to wait for each reply, each write and the connection itself."""
    require_tls: bool | None = None
    """None: TLS is required except to a loopback host. False: plain text is allowed (the
    server is on a trusted network). True: TLS is required even to a loopback host."""
    helo_name: str = field(default_factory=socket.getfqdn)
    ca_file: Path | None = None
    """Trust the CA certificates in this file instead of the system's (a private relay)."""

    def __post_init__(self) -> None:
        if not self.host or _BAD_PATH.search(self.host):
            raise SendError(f"smtp.host {self.host!r} is not a host name or address")
        if self.security not in SECURITIES:
            raise SendError(f"smtp.security is {self.security!r}; expected one of: "
                            + ", ".join(SECURITIES))
        if not 0 < self.port < 65536:
            raise SendError(f"smtp.port is {self.port}; expected a TCP port, 1 to 65535")
        if not self.timeout > 0:
            raise SendError(f"smtp.timeout is {self.timeout}; expected a number of seconds > 0")
        if not self.helo_name.isascii() or _BAD_PATH.search(self.helo_name) or not self.helo_name:
            raise SendError(f"smtp.helo_name {self.helo_name!r} is not a host name")
        if self.username is not None and not self.password:
            raise SendError(f"smtp.username is {self.username!r} but there is no password: "
                            "set BULLETIN_SMTP_PASSWORD")

    @property
    def tls_required(self) -> bool:
        return self.require_tls if self.require_tls is not None else not is_loopback(self.host)

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def check_tls_policy(settings: SmtpSettings) -> None:
    """Raises SendError, before any traffic, when the settings would send mail, or the
    password, in plain text to a host that needs TLS."""
    if settings.security == "none" and settings.username is not None \
            and not is_loopback(settings.host):
        raise SendError(f"refusing to send the SMTP password to {settings.where} unencrypted: "
                        "set smtp.security = \"starttls\" or \"tls\"")
    if settings.security == "none" and settings.tls_required:
        if settings.require_tls:
            raise SendError(f"smtp.security is \"none\" but smtp.require_tls is true for "
                            f"{settings.where}: set smtp.security = \"starttls\" or \"tls\"")
        raise SendError(
            f"refusing to send mail to {settings.where} without TLS: set smtp.security = "
            "\"starttls\" (port 587) or \"tls\" (port 465), or, if that server is on a trusted "
            "network, set smtp.allow_plaintext = true in bulletin.toml")


# The connection -----------------------------------------------------------------------------

class _Lost(Exception):
    """The connection broke, timed out or stopped speaking SMTP; the message says how."""


class _Unavailable(Exception):
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


def _result(reply: Reply) -> Result:
    status = Status.TEMPORARY if reply.code < 500 else Status.PERMANENT
    return Result(status, reply.code, reply.text)


def _path(address: str) -> bytes | None:
    """`address` for MAIL FROM or RCPT TO: its domain as punycode, UTF-8 bytes (ASCII unless
    the local part is not); None if it cannot go in an envelope."""
    try:
        address = header_address(address)
    except AddressError:
        return None
    if _BAD_PATH.search(address):
        return None
    return address.encode("utf-8")


def _buffered(reader: asyncio.StreamReader) -> bytes | bytearray:
    """What the server sent that nobody has read yet (StreamReader has no public way)."""
    buffer: bytes | bytearray = getattr(reader, "_buffer", b"")
    return buffer


def _unread(reader: asyncio.StreamReader) -> int:
    return len(_buffered(reader))


class SmtpTransport:
    """One SMTP connection. `async with SmtpTransport(settings) as smtp:` connects (raising
    SendError if it cannot, or if the settings are wrong); `send` reconnects by itself after
    a dropped connection or a 421."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self.stats = SmtpStats()
        self.extensions: dict[str, str] = {}
        self.encrypted = False
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()
        """Held while a message writes (and, without PIPELINING, until its last reply)."""
        self._tail: asyncio.Future[None] | None = None
        """Done when every message that has written so far has read its replies."""
        self._in_flight = 0
        self._end_pending = False
        """A message's data is written but not yet its end (".\r\n"): the next message's
        commands go out with it, in one segment, so that the server answers them together."""
        self._tls: ssl.SSLContext | None = None
        self._handover: Handover | None = None
        """Called when the pending end of data is written (see `Transport.send`)."""

    @property
    def pipelining(self) -> bool:
        return "PIPELINING" in self.extensions

    @property
    def depth(self) -> int:
        """How many `send` calls at once keep this connection busy: two with PIPELINING
        (one waiting for its last reply while the next writes), else one."""
        return 2 if self.pipelining else 1

    async def __aenter__(self) -> Self:
        async with self._lock:
            try:
                await self._connect()
            except _Lost as error:
                raise SendError(f"cannot connect to the SMTP server {self.settings.where}: "
                                f"{error}") from error
            except _Unavailable as error:
                raise SendError(f"the SMTP server {self.settings.where} is not taking mail: "
                                f"{error}") from error
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def send(self, sender: str, recipient: str, data: bytes, *,
                   stuffed: bool = False, handover: Handover | None = None) -> Result:
        mail_from = _path(sender)
        if mail_from is None:
            raise SendError(f"the sender address {sender!r} cannot go in an SMTP envelope")
        rcpt_to = _path(recipient)
        if rcpt_to is None or not rcpt_to:
            return Result(Status.PERMANENT, 0,
                          f"the address {recipient!r} cannot go in an SMTP envelope")
        international = not (mail_from.isascii() and rcpt_to.isascii())
        payload = data if stuffed else dot_stuff(data)
        async with self._lock:
            if not self._usable():
                await self._settled()
                self._abort()
                try:
                    await self._connect()
                except _Lost as error:
                    return Result(Status.TEMPORARY, 0,
                                  f"cannot connect to {self.settings.where}: {error}",
                                  unreachable=True)
                except _Unavailable as error:
                    return Result(Status.TEMPORARY, error.reply.code, error.reply.text,
                                  unreachable=True)
            options = b" SIZE=%d" % len(payload) if "SIZE" in self.extensions else b""
            if international:  # RFC 6531: only a server that offers SMTPUTF8 takes it
                if "SMTPUTF8" not in self.extensions:
                    return Result(Status.PERMANENT, 0, _NO_SMTPUTF8.format(
                        where=self.settings.where))
                options += b" SMTPUTF8"
                if "8BITMIME" in self.extensions:
                    options += b" BODY=8BITMIME"
            mail = b"MAIL FROM:<%s>%s\r\n" % (mail_from, options)
            rcpt = b"RCPT TO:<%s>\r\n" % rcpt_to
            previous, mine = self._turn()
            try:
                result = await self._start(mail, rcpt, payload, previous, handover)
            except BaseException:
                self._done(mine)
                raise
            if result is not None:
                self._done(mine)
                return result
            if not self.pipelining:  # one message at a time, start to finish
                return await self._finish(mine)
        # The end of data is written: the next message may write its commands now.
        return await self._finish(mine)

    async def close(self) -> None:
        """Says QUIT and closes the connection, ignoring any trouble on the way."""
        async with self._lock:
            await self._settled()
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

    # Taking turns -----------------------------------------------------------------------------

    def _turn(self) -> tuple[asyncio.Future[None] | None, asyncio.Future[None]]:
        """(the previous message's "all read" future, this message's), in write order."""
        previous, mine = self._tail, asyncio.get_running_loop().create_future()
        self._tail = mine
        self._in_flight += 1
        return previous, mine

    def _done(self, mine: asyncio.Future[None]) -> None:
        if not mine.done():
            mine.set_result(None)
            self._in_flight -= 1

    @staticmethod
    async def _after(previous: asyncio.Future[None] | None) -> None:
        if previous is not None and not previous.done():
            await asyncio.shield(previous)

    async def _settled(self) -> None:
        """Wait until every message in flight has read its last reply."""
        await self._after(self._tail)

    # One message ----------------------------------------------------------------------------

    async def _start(self, mail: bytes, rcpt: bytes, payload: bytes,
                     previous: asyncio.Future[None] | None,
                     handover: Handover | None = None) -> Result | None:
        """MAIL, RCPT and DATA (with PIPELINING in one write, after the previous message's
        end of data, and read once the messages before have read their replies; else one at
        a time), then the data. None when the data is written (its end and the reply are for
        `_finish`), else the result."""
        self.stats.transactions += 1
        try:
            if self.pipelining:
                self.stats.pipelined += 1
                self.stats.round_trips += 1
                end, self._end_pending = (_END_OF_DATA if self._end_pending else b""), False
                self.stats.joined += bool(end)
                if end:
                    self._handed()
                try:
                    await self._write(end + mail + rcpt + b"DATA\r\n")
                finally:
                    await self._after(previous)
                mail_reply, rcpt_reply, data_reply = [await self._read() for _ in range(3)]
            else:
                await self._after(previous)
                mail_reply = await self._command(mail)
                if mail_reply.code // 100 != 2:
                    return _result(self._expect(mail_reply, 2))
                rcpt_reply = await self._command(rcpt)
                if rcpt_reply.code // 100 != 2:
                    await self._reset()
                    return _result(self._expect(rcpt_reply, 2))
                data_reply = await self._command(b"DATA\r\n")
            for reply in (mail_reply, rcpt_reply):
                if self._expect(reply, 2).code // 100 != 2:
                    if data_reply.code == 354:  # RFC 2920 3.1: end the DATA it took anyway
                        await self._write(_END_OF_DATA)
                        await self._read()
                    await self._reset()
                    return _result(reply)
            if self._expect(data_reply, 3).code != 354:
                await self._reset()
                return _result(data_reply)
            await self._write(payload)
            if not self._alive():
                raise _Lost("the server closed the connection during the data")
            self.stats.round_trips += 1
            self._end_pending = True  # written by the next message, or by _finish
            self._handover = handover
            return None
        except _Unavailable as error:
            self._abort()
            return Result(Status.TEMPORARY, error.reply.code, error.reply.text)
        except _Lost as error:
            self._abort()
            return Result(Status.TEMPORARY, 0, f"{error} (before the end of data: the message "
                          "was not taken)")
        except BaseException:  # cancelled mid-conversation: the state is unknown
            self._abort()
            raise

    async def _finish(self, mine: asyncio.Future[None]) -> Result:
        """Writes the end of data unless the next message did; reads its reply; this
        message's turn ends with it."""
        try:
            if self._end_pending:
                await asyncio.sleep(0)  # a message waiting for the lock writes it, and more
                if self._end_pending:
                    self._end_pending = False
                    self._handed()
                    await self._write(_END_OF_DATA)
            reply = self._expect(await self._read(), 2)
            return Result(Status.SENT, reply.code, reply.text) if reply.code // 100 == 2 \
                else _result(reply)
        except _Unavailable as error:
            self._abort()
            return Result(Status.TEMPORARY, error.reply.code, error.reply.text)
        except _Lost as error:
            self._abort()
            return Result(Status.UNCERTAIN, 0, f"{error} (after the end of data was sent: "
                          "the server may have taken the message)")
        except BaseException:
            self._abort()
            raise
        finally:
            self._done(mine)

    def _handed(self) -> None:
        """The end of the pending message's data is about to be written: from now on the
        server may take it. Tell whoever sent it (the dispatcher's journal)."""
        handover, self._handover = self._handover, None
        if handover is not None:
            handover()

    def _expect(self, reply: Reply, kind: int) -> Reply:
        """`reply` if it is a success of the `kind` expected (2xx or 3xx) or a failure (4xx,
        5xx); anything else means the conversation is out of step."""
        if reply.code // 100 in (kind, 4, 5):
            return reply
        raise _Lost(f"unexpected reply {reply.code} {reply.text!r}")

    async def _reset(self) -> None:
        """RSET after a refusal; if even that fails, start afresh next time."""
        try:
            await self._command(b"RSET\r\n")
        except (_Lost, _Unavailable):
            self._abort()

    # Connecting -----------------------------------------------------------------------------

    async def _connect(self) -> None:
        settings = self.settings
        check_tls_policy(settings)
        implicit = settings.security == "tls"
        try:
            async with asyncio.timeout(settings.timeout):
                self._reader, self._writer = await asyncio.open_connection(
                    settings.host, settings.port, limit=_READ_LIMIT,
                    ssl=self._context() if implicit else None,
                    server_hostname=settings.host if implicit else None)
        except ssl.SSLError as error:
            raise self._tls_failure(error) from error
        except TimeoutError as error:
            raise _Lost(f"no connection within {settings.timeout:g} s") from error
        except OSError as error:
            raise _Lost(error.strerror or str(error) or type(error).__name__) from error
        self.stats.connections += 1
        self.encrypted = implicit
        self.extensions = {}
        try:
            greeting = await self._read()
            if greeting.code != 220:
                raise self._refusal("the connection", greeting)
            await self._hello()
            if settings.security == "starttls":
                await self._starttls()
            if settings.username is not None:
                await self._login(settings.username, settings.password or "")
        except BaseException:
            self._abort()
            raise
        log.info("connected to %s (%s%s)", settings.where,
                 "TLS" if self.encrypted else "plain text",
                 ", pipelining" if self.pipelining else "")

    async def _hello(self) -> None:
        name = self.settings.helo_name.encode("ascii")
        reply = await self._command(b"EHLO %s\r\n" % name)
        if reply.code == 250:
            self.extensions = parse_extensions(reply)
            return
        if reply.code // 100 == 4:
            raise _Unavailable(reply)
        reply = await self._command(b"HELO %s\r\n" % name)
        if reply.code != 250:
            raise self._refusal("HELO", reply)
        self.extensions = {}

    async def _starttls(self) -> None:
        settings = self.settings
        if "STARTTLS" not in self.extensions:
            if settings.tls_required:
                raise SendError(f"the SMTP server {settings.where} does not offer STARTTLS: "
                                "if it takes TLS from the start, set smtp.security = \"tls\"")
            log.warning("%s does not offer STARTTLS; sending in plain text", settings.where)
            return
        reply = await self._command(b"STARTTLS\r\n")
        if reply.code != 220:
            raise self._refusal("STARTTLS", reply)
        assert self._reader is not None and self._writer is not None
        if _unread(self._reader):  # plain text slipped in before the handshake
            raise SendError(f"the SMTP server {settings.where} sent more than its reply to "
                            "STARTTLS: refusing to go on (is something tampering with it?)")
        try:
            async with asyncio.timeout(settings.timeout):
                await self._writer.start_tls(self._context(), server_hostname=settings.host)
        except ssl.SSLError as error:
            raise self._tls_failure(error) from error
        except TimeoutError as error:
            raise _Lost(f"no TLS handshake within {settings.timeout:g} s") from error
        except OSError as error:
            raise _Lost(error.strerror or str(error) or type(error).__name__) from error
        self.encrypted = True
        await self._hello()

    async def _login(self, username: str, password: str) -> None:
        where = self.settings.where
        if not self.encrypted and not is_loopback(self.settings.host):
            raise SendError(f"refusing to send the SMTP password to {where} unencrypted: set "
                            "smtp.security = \"starttls\" or \"tls\"")
        if "AUTH" not in self.extensions:
            raise SendError(f"the SMTP server {where} does not offer AUTH: remove "
                            "smtp.username, or check smtp.port and smtp.security")
        mechanisms = self.extensions["AUTH"].upper().split()
        user, secret = username.encode("utf-8"), password.encode("utf-8")
        if "PLAIN" in mechanisms:
            token = base64.b64encode(b"\0" + user + b"\0" + secret)
            reply = await self._command(b"AUTH PLAIN " + token + b"\r\n")
        elif "LOGIN" in mechanisms:
            reply = await self._command(b"AUTH LOGIN\r\n")
            for value in (user, secret):
                if reply.code != 334:
                    break
                reply = await self._command(base64.b64encode(value) + b"\r\n")
        else:
            raise SendError(f"the SMTP server {where} offers AUTH {' '.join(mechanisms)}; "
                            "bulletin can log in with PLAIN or LOGIN")
        if reply.code != 235:
            raise self._refusal(f"the login for {username!r}", reply)

    def _refusal(self, what: str, reply: Reply) -> Exception:
        if reply.code // 100 == 4:
            return _Unavailable(reply)
        return SendError(f"the SMTP server {self.settings.where} refused {what}: "
                         f"{reply.code} {reply.text}")

    def _tls_failure(self, error: ssl.SSLError) -> SendError:
        where = self.settings.where
        if isinstance(error, ssl.SSLCertVerificationError):
            return SendError(f"the TLS certificate of {where} is not trusted: "
                             f"{error.verify_message}; if it is a private CA, set smtp.ca_file")
        hint = ("does the server take TLS from the start? (port 465: security \"tls\"; "
                "port 587: \"starttls\")")
        return SendError(f"the TLS handshake with {where} failed ({error.reason}): {hint}")

    def _context(self) -> ssl.SSLContext:
        if self._tls is None:
            ca_file = self.settings.ca_file
            try:
                self._tls = ssl.create_default_context(cafile=ca_file)
            except (OSError, ssl.SSLError) as error:
                raise SendError(f"cannot read smtp.ca_file {ca_file}: {error}") from error
        return self._tls

    # Reading and writing --------------------------------------------------------------------

    def _alive(self) -> bool:
        """Whether the connection is open both ways, as far as the event loop has seen."""
        reader, writer = self._reader, self._writer
        return (reader is not None and writer is not None and not writer.is_closing()
                and not reader.at_eof() and reader.exception() is None)

    def _usable(self) -> bool:
        """Alive, and the server has said nothing unasked (a 421 before closing, say); with
        messages in flight, what is unread is their replies."""
        return self._alive() and self._reader is not None and (
            self._in_flight > 0 or not _unread(self._reader))

    def _abort(self) -> None:
        if self._writer is not None:
            self._writer.transport.abort()
        self._reader = self._writer = None

    async def _command(self, line: bytes) -> Reply:
        self.stats.round_trips += 1
        await self._write(line)
        return await self._read()

    async def _write(self, data: bytes) -> None:
        writer = self._writer
        if writer is None:
            raise _Lost("the connection was closed")
        writer.write(data)
        try:
            if writer.transport.get_write_buffer_size():
                async with asyncio.timeout(self.settings.timeout):
                    await writer.drain()
            else:
                await writer.drain()  # all handed to the system: returns (or raises) at once
        except TimeoutError as error:
            raise _Lost(f"the server took nothing for {self.settings.timeout:g} s") from error
        except OSError as error:
            raise _Lost(f"the connection was lost ({type(error).__name__})") from error

    async def _read(self) -> Reply:
        """The server's next reply; raises _Unavailable for 421 (the server is closing)."""
        reader = self._reader
        if reader is None:
            raise _Lost("the connection was closed")
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
            raise _Lost(f"no reply within {self.settings.timeout:g} s") from error
        except asyncio.IncompleteReadError as error:
            raise _Lost("the server closed the connection") from error
        except asyncio.LimitOverrunError as error:
            raise _Lost("the server sent an over-long line") from error
        except ValueError as error:
            raise _Lost(str(error)) from error
        except OSError as error:
            raise _Lost(f"the connection was lost ({type(error).__name__})") from error
        if reply.code == 421:
            raise _Unavailable(reply)
        return reply
