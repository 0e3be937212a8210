"""The SMTP transport: one connection, one envelope recipient a message, MAIL, RCPT and DATA
sent as one group when the server offers PIPELINING (RFC 2920).

`SmtpTransport(SmtpSettings(...))` implements `bulletin.send.transport.Transport`. Concurrent
`send` calls on one transport take turns writing; with PIPELINING, the next message's MAIL,
RCPT and DATA follow the previous message's end of data without waiting for its reply (RFC
2920 3.1), so each message costs one round trip, not two, and (its data going out with its
end, unless it is large) one write. Replies are read in the order the
commands went out: each message reads only after the one before it has read all of its own.
Open several transports for several connections. What each kind of trouble makes of a
message (temporary before its end of data, uncertain after it) is decided here.
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType
from typing import Self

from ...errors import SendError
from ..transport import Handover, Result, Status
from .connection import Connection, Lost, SmtpStats, Unavailable
from .settings import SmtpSettings
from .wire import END_OF_DATA, Reply, dot_stuff, envelope_path, mail_command, rcpt_command

_DEFER_DATA = 1 << 16
"""Data up to this size waits to go out with its end; larger data is written at once (the
system's buffers take it in parts, and a drop meanwhile leaves the message not taken)."""
_NO_SMTPUTF8 = ("the address has a non-ASCII local part, which needs SMTPUTF8 (RFC 6531), and "
                "the SMTP server {where} does not offer it")


def _result(reply: Reply) -> Result:
    status = Status.TEMPORARY if reply.code < 500 else Status.PERMANENT
    return Result(status, reply.code, reply.text)


class _Pending:
    """A message whose data the server has asked for (354), until its last reply."""

    __slots__ = ("data", "handed", "handover", "refused", "reply")

    def __init__(self, data: bytes, handover: Handover | None) -> None:
        self.data = data
        """Its data, if it waits to go out with its end (else written already)."""
        self.handover = handover
        self.handed = False
        """Its end has gone (or is going) to the server: it may be taken."""
        self.reply: asyncio.Future[list[Reply]] | None = None
        """Its last reply, asked for as soon as it is the next to come."""
        self.refused: BaseException | None = None
        """What its handover raised when its end was to be written (by the next message,
        say): its error (its end never went out), raised by its `_finish`."""


class SmtpTransport:
    """One SMTP connection. `async with SmtpTransport(settings) as smtp:` connects (raising
    SendError if it cannot, or if the settings are wrong); `send` reconnects by itself after
    a dropped connection or a 421."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self.stats = SmtpStats()
        self._connection = Connection(settings, self.stats)
        self._turn = False
        """Someone has the turn to write: a message while it writes (and, without
        PIPELINING, until its last reply), or opening and closing the connection."""
        self._waiting: deque[asyncio.Future[None]] = deque()
        """Those waiting for the turn, in order: each is handed it in `_end_turn`."""
        self._in_flight = 0
        """Messages that have begun to write and not yet read their last reply."""
        self._settlers: list[asyncio.Future[None]] = []
        """Waiting until no message is in flight (`_settled`)."""
        self._sender: tuple[str, bytes | None] = ("", None)
        """The last envelope sender and its path."""
        self._pending: _Pending | None = None
        """The message whose end of data (".\r\n", and with PIPELINING its data too when
        it is small enough to go out at once) is not written yet: it goes out with the next
        message's commands, one write a message, so that the server answers them together."""
    @property
    def extensions(self) -> dict[str, str]:
        """What the server offered in its EHLO reply on the current connection."""
        return self._connection.extensions

    @property
    def encrypted(self) -> bool:
        return self._connection.encrypted

    @property
    def pipelining(self) -> bool:
        return self._connection.pipelining

    @property
    def depth(self) -> int:
        """How many `send` calls at once keep this connection busy: two with PIPELINING
        (one waiting for its last reply while the next writes), else one."""
        return 2 if self.pipelining else 1

    async def __aenter__(self) -> Self:
        await self._take_turn()
        try:
            await self._connection.open()
        except Lost as error:
            raise SendError(f"cannot connect to the SMTP server {self.settings.where}: "
                            f"{error}") from error
        except Unavailable as error:
            raise SendError(f"the SMTP server {self.settings.where} is not taking mail: "
                            f"{error}") from error
        finally:
            self._end_turn()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def send(self, sender: str, recipient: str, data: bytes, *,
                   stuffed: bool = False, handover: Handover | None = None) -> Result:
        if sender == self._sender[0]:  # a send's messages share one (unless VERP)
            mail_from = self._sender[1]
        else:
            mail_from = envelope_path(sender)
            self._sender = (sender, mail_from)
        if mail_from is None:
            raise SendError(f"the sender address {sender!r} cannot go in an SMTP envelope")
        rcpt_to = envelope_path(recipient)
        if rcpt_to is None or not rcpt_to:
            return Result(Status.PERMANENT, 0,
                          f"the address {recipient!r} cannot go in an SMTP envelope")
        international = not (mail_from.isascii() and rcpt_to.isascii())
        payload = data if stuffed else dot_stuff(data)
        connection = self._connection
        await self._take_turn()
        try:
            if not self._usable():
                self._flush_end()
                await self._settled()
                connection.abort()
                try:
                    await connection.open()
                except Lost as error:
                    return Result(Status.TEMPORARY, 0,
                                  f"cannot connect to {self.settings.where}: {error}",
                                  unreachable=True)
                except Unavailable as error:
                    return Result(Status.TEMPORARY, error.reply.code, error.reply.text,
                                  unreachable=True)
            extensions = connection.extensions
            # RFC 6531: only a server that offers SMTPUTF8 takes a non-ASCII address
            if international and "SMTPUTF8" not in extensions:
                return Result(Status.PERMANENT, 0, _NO_SMTPUTF8.format(
                    where=self.settings.where))
            mail = mail_command(mail_from, size=len(payload) if "SIZE" in extensions else None,
                                smtputf8=international, eight_bit="8BITMIME" in extensions)
            rcpt = rcpt_command(rcpt_to)
            self._in_flight += 1
            try:
                started = await self._start(mail, rcpt, payload, handover)
            except BaseException:
                self._done()
                raise
            if isinstance(started, Result):
                self._done()
                return started
            if not self.pipelining:  # one message at a time, start to finish
                return await self._finish(started, write_end=True)
        finally:
            self._end_turn()
        # The data is written, or waits to go out with its end: the next message takes the
        # turn and the end along with its commands, or the end went as the turn was left.
        return await self._finish(started, write_end=False)

    async def close(self) -> None:
        """Says QUIT and closes the connection, ignoring any trouble on the way."""
        await self._take_turn()
        try:
            self._flush_end()
            await self._settled()
            await self._connection.quit()
        finally:
            self._end_turn()

    def _usable(self) -> bool:
        """Alive, and the server has said nothing unasked (a 421 before closing, say); with
        messages in flight, what is unread is their replies."""
        connection = self._connection
        return connection.alive() and (self._in_flight > 0 or not connection.unread())

    # Taking turns -----------------------------------------------------------------------------

    async def _take_turn(self) -> None:
        """Wait for the turn to write (in order of asking)."""
        if not self._turn and not self._waiting:
            self._turn = True
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():  # handed the turn, and cancelled
                self._end_turn()
            elif waiter in self._waiting:
                self._waiting.remove(waiter)
            raise

    def _end_turn(self) -> None:
        """Hands the turn to the next waiting for it, who writes the pending end (if any)
        with what it writes; with nobody waiting, the pending end is written now."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._turn = False
        self._flush_end()

    def _done(self) -> None:
        """A message has read its last reply (or never will)."""
        self._in_flight -= 1
        if not self._in_flight and self._settlers:
            settlers, self._settlers = self._settlers, []
            for settler in settlers:
                if not settler.done():
                    settler.set_result(None)

    async def _settled(self) -> None:
        """Wait until every message in flight has read its last reply."""
        while self._in_flight:
            settler = asyncio.get_running_loop().create_future()
            self._settlers.append(settler)
            await settler

    # One message ----------------------------------------------------------------------------

    async def _start(self, mail: bytes, rcpt: bytes, payload: bytes,
                     handover: Handover | None = None) -> _Pending | Result:
        """MAIL, RCPT and DATA (with PIPELINING in one write, after the previous message's
        data and end; else one at a time), then the data. What waits for its end (`_finish`
        writes it, or the next message's commands take it along) once the data is written
        or waits to go out with its end, else the result."""
        connection = self._connection
        self.stats.transactions += 1
        try:
            if self.pipelining:
                self.stats.pipelined += 1
                self.stats.round_trips += 1
                self.stats.joined += self._pending is not None
                # The replies are asked for in the order the commands go out: the previous
                # message's last reply (asked for when its data was taken) comes first.
                await connection.write(self._pending_end(mail, rcpt, b"DATA\r\n"))
                mail_reply, rcpt_reply, data_reply = await connection.replies(3)
            else:
                mail_reply = await connection.command(mail)
                if mail_reply.code // 100 != 2:
                    return _result(self._expect(mail_reply, 2))
                rcpt_reply = await connection.command(rcpt)
                if rcpt_reply.code // 100 != 2:
                    await self._reset()
                    return _result(self._expect(rcpt_reply, 2))
                data_reply = await connection.command(b"DATA\r\n")
            for reply in (mail_reply, rcpt_reply):
                if self._expect(reply, 2).code // 100 != 2:
                    if data_reply.code == 354:  # RFC 2920 3.1: end the DATA it took anyway
                        await connection.write(END_OF_DATA)
                        await connection.read()
                    await self._reset()
                    return _result(reply)
            if self._expect(data_reply, 3).code != 354:
                await self._reset()
                return _result(data_reply)
            self.stats.round_trips += 1
            if self.pipelining and len(payload) <= _DEFER_DATA and connection.idle():
                pending = _Pending(payload, handover)  # it goes out whole, with its end
            else:
                await connection.write(payload)
                if not connection.alive():
                    raise Lost("the server closed the connection during the data")
                pending = _Pending(b"", handover)
            # Whatever is written next starts with this end: its reply is the next one.
            pending.reply = connection.expect(1)
            self._pending = pending
            return pending
        except Unavailable as error:
            connection.abort()
            return Result(Status.TEMPORARY, error.reply.code, error.reply.text)
        except Lost as error:
            connection.abort()
            return Result(Status.TEMPORARY, 0, f"{error} (before the end of data: the message "
                          "was not taken)")
        except BaseException:  # cancelled mid-conversation: the state is unknown
            connection.abort()
            raise

    async def _finish(self, pending: _Pending, *, write_end: bool) -> Result:
        """Writes the end of data if `write_end` (still holding the turn: without
        PIPELINING), else the next to take the turn writes it (see `_end_turn`); reads its
        reply; this message's turn ends with it."""
        connection = self._connection
        try:
            if write_end and self._pending is pending:
                connection.write_now(self._pending_end())
            assert pending.reply is not None
            reply = self._expect((await connection.replies(pending.reply))[0], 2)
            return Result(Status.SENT, reply.code, reply.text) if reply.code // 100 == 2 \
                else _result(reply)
        except Unavailable as error:
            connection.abort()
            return Result(Status.TEMPORARY, error.reply.code, error.reply.text)
        except Lost as error:
            connection.abort()
            if pending.refused is not None:  # its end was never written: the server
                raise pending.refused from None  # dropped it
            if not pending.handed:  # the connection broke before its end could go
                if self._pending is pending:
                    self._pending = None
                return Result(Status.TEMPORARY, 0, f"{error} (before the end of data: the "
                              "message was not taken)")
            return Result(Status.UNCERTAIN, 0, f"{error} (after the end of data was sent: "
                          "the server may have taken the message)")
        except BaseException:
            connection.abort()
            raise
        finally:
            self._done()

    def _flush_end(self) -> None:
        """Writes the pending end of data, if there is one; on a connection that is gone,
        drops it unwritten (that message was not handed over). Never raises: a broken
        connection or a refused handover is its message's to find out, in `_finish`."""
        if self._pending is None:
            return
        if not self._connection.alive():
            self._pending = None
            return
        try:
            self._connection.write_now(self._pending_end())
        except Exception:  # Lost, or the handover refused (_handed): _finish finds out
            self._connection.abort()

    def _pending_end(self, *then: bytes) -> bytes:
        """What is still to be written of the pending message (its data, if not yet
        written, and its end), once it has been reported handed over, followed by `then`
        (joined once: the data is most of a message's bytes)."""
        pending, self._pending = self._pending, None
        if pending is None:
            return b"".join(then)
        self._handed(pending)
        return b"".join((pending.data, END_OF_DATA, *then))

    def _handed(self, pending: _Pending) -> None:
        """The end of the pending message's data is about to be written: from now on the
        server may take it. Tell whoever sent it (the dispatcher's journal)."""
        handover, pending.handover = pending.handover, None
        if handover is not None:
            try:
                handover()
            except BaseException as error:  # not handed over: never its end; the error is its
                pending.refused = error
                self._connection.abort()
                raise
        pending.handed = True

    @staticmethod
    def _expect(reply: Reply, kind: int) -> Reply:
        """`reply` if it is a success of the `kind` expected (2xx or 3xx) or a failure (4xx,
        5xx); anything else means the conversation is out of step."""
        if reply.code // 100 in (kind, 4, 5):
            return reply
        raise Lost(f"unexpected reply {reply.code} {reply.text!r}")

    async def _reset(self) -> None:
        """RSET after a refusal; if even that fails, start afresh next time."""
        try:
            await self._connection.command(b"RSET\r\n")
        except (Lost, Unavailable):
            self._connection.abort()
