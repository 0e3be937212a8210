"""One connection as the event loop reports it (an asyncio.BufferedProtocol): the server's
replies parsed as the bytes arrive and handed to the commands that wait for them, in the order
the commands were written; the end of the stream; whether writing must wait; and the time
limits of what waits. `connection.py` opens and speaks through it.

Trouble comes out as `Lost` (the connection broke, timed out or stopped speaking SMTP) or
`Unavailable` (the server is not taking mail now: 4xx while connecting, or 421 at any time).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import cast

from .wire import Reply, ReplyParser

_READ_LIMIT = 1 << 16
_READ_SIZE = 1 << 16


class Lost(Exception):
    """The connection broke, timed out or stopped speaking SMTP; the message says how."""


class Unavailable(Exception):
    """The server is not taking mail now: a 4xx reply while connecting, or 421 at any time."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(f"{reply.code} {reply.text}")
        self.reply = reply


class _Expected:
    """Replies a command (or a pipelined group) waits for: the next `count` replies after
    those of every command written before it, or fewer if one of them is 421."""

    __slots__ = ("count", "deadline", "future", "got")

    def __init__(self, count: int, deadline: float, future: asyncio.Future[list[Reply]]) -> None:
        self.count = count
        self.deadline = deadline
        self.future = future
        self.got: list[Reply] = []


class Stream(asyncio.BufferedProtocol):
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
        self.loop = asyncio.get_running_loop()
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
        # A stream's transport: asyncio's own, or another event loop's (uvloop, which uvicorn
        # runs the web service on when it is installed) that is not its subclass.
        self.transport = cast(asyncio.Transport, transport)

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
        future: asyncio.Future[list[Reply]] = self.loop.create_future()
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
        waiter = self.loop.create_future()
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
            self._timer = self.loop.call_at(deadline, self._patrol)

    def _patrol(self) -> None:
        """The timer: what is overdue fails with TimeoutError; the timer is set again for
        the earliest deadline of the rest."""
        self._timer = None
        now = self.loop.time()
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
