"""With PIPELINING, one write a message: a message's data goes out with its end of data and
the next message's MAIL, RCPT and DATA (each write is a system call, and on a busy connection
the largest cost of a message after the bytes themselves). Data too large to go out at once
is written as it comes, as before. The writes are counted on the real connection to a real
server (aiosmtpd), and every message must arrive whole, in its own transaction."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bulletin.send.smtp import SmtpTransport
from bulletin.send.smtp.connection import Connection
from bulletin.send.transport import Status

from .smtp_server import SmtpServer
from .test_smtp import SENDER, plain, run


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of each write the client's connections make."""
    sizes: list[int] = []
    write = Connection.write

    async def counted(self: Connection, data: bytes) -> None:
        sizes.append(len(data))
        await write(self, data)

    monkeypatch.setattr(Connection, "write", counted)
    return sizes


def message(number: int, size: int = 2_000) -> bytes:
    body = (b"line of message %d\r\n" % number) * (size // 20)
    return b"Subject: %d\r\n\r\n" % number + body


def send_all(port: int, messages: list[tuple[str, bytes]]) -> list[Any]:
    async def scenario() -> list[Any]:
        async with SmtpTransport(plain(port)) as smtp:
            assert smtp.pipelining

            async def sender(queue: asyncio.Queue[tuple[str, bytes]]) -> list[Any]:
                results = []
                while not queue.empty():
                    recipient, data = queue.get_nowait()
                    results.append((recipient, await smtp.send(SENDER, recipient, data)))
                return results

            queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
            for item in messages:
                queue.put_nowait(item)
            done = await asyncio.gather(sender(queue), sender(queue))  # as the dispatcher
            return [result for results in done for result in results]
    return run(scenario())


def test_pipelined_messages_take_one_write_each(writes: list[int]) -> None:
    messages = [(f"r{n}@x.org", message(n)) for n in range(30)]
    with SmtpServer(pipelining=True) as server:
        results = send_all(server.port, messages)
    assert all(result.status is Status.SENT for _, result in results)
    got = {m.rcpt_tos[0]: m.content for m in server.received}
    assert len(server.received) == 30
    assert all(got[recipient].rstrip(b"\r\n") == data.rstrip(b"\r\n")
               for recipient, data in messages)
    # EHLO, then per message one write (its commands, with the previous message's data and
    # end), and the last message's data and end. Before: two a message.
    assert len(writes) <= 1 + 30 + 1, len(writes)


def test_large_data_is_written_as_it_comes(writes: list[int]) -> None:
    big = message(1, 300_000)
    messages = [("a@x.org", message(0)), ("big@x.org", big), ("c@x.org", message(2))]
    with SmtpServer(pipelining=True) as server:
        results = send_all(server.port, messages)
    assert [result.status for _, result in results] == [Status.SENT] * 3
    got = {m.rcpt_tos[0]: m.content for m in server.received}
    assert got["big@x.org"].rstrip(b"\r\n") == big.rstrip(b"\r\n")
    assert len(big) in writes  # on its own, not held back to go with its end


def test_a_message_refused_at_its_turn_leaves_the_end_before_it_written() -> None:
    """The pending end of data goes with the next message's commands; a message that gets
    the turn and writes nothing (its address needs SMTPUTF8, which this server does not
    offer) must not leave the one before it waiting for an end nobody writes."""
    async def scenario(port: int) -> list[Any]:
        async with SmtpTransport(plain(port)) as smtp:
            return list(await asyncio.gather(smtp.send(SENDER, "a@x.org", message(0)),
                                             smtp.send(SENDER, "ü@x.org", message(1))))
    with SmtpServer(pipelining=True, enable_SMTPUTF8=False) as server:
        results = run(scenario(server.port))
    assert [result.status for result in results] == [Status.SENT, Status.PERMANENT]
    assert [m.rcpt_tos for m in server.received] == [["a@x.org"]]


def test_a_message_cancelled_while_waiting_for_its_turn_leaves_the_end_before_it_written(
        ) -> None:
    async def scenario(port: int) -> Any:
        async with SmtpTransport(plain(port)) as smtp:
            first = asyncio.ensure_future(smtp.send(SENDER, "a@x.org", message(0)))
            second = asyncio.ensure_future(smtp.send(SENDER, "b@x.org", message(1)))
            await asyncio.sleep(0)  # each has run to its first wait: the second, its turn
            assert not first.done() and not second.done()
            second.cancel()
            return await first
    with SmtpServer(pipelining=True) as server:
        result = run(scenario(server.port))
    assert result.status is Status.SENT
    assert [m.rcpt_tos for m in server.received] == [["a@x.org"]]


class _Foreign:
    """A transport as another event loop makes it: uvloop's (which uvicorn installs when it
    is there, for the web service and its confirmation emails) are not asyncio.Transport's
    subclasses. This one hands every call to the real transport underneath."""

    def __init__(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _ForeignLoop(asyncio.SelectorEventLoop):
    async def create_connection(self, protocol_factory: Any, *args: Any,
                                **kwargs: Any) -> Any:
        def made() -> asyncio.BaseProtocol:
            protocol = protocol_factory()
            connected = protocol.connection_made
            protocol.connection_made = lambda transport: connected(_Foreign(transport))
            return protocol  # type: ignore[no-any-return]

        return await super().create_connection(made, *args, **kwargs)


def test_a_transport_of_another_event_loop_carries_the_messages() -> None:
    async def go(port: int) -> list[Status]:
        async with SmtpTransport(plain(port)) as smtp:
            return [(await smtp.send(SENDER, f"reader{n}@example.org", message(n))).status
                    for n in range(3)]

    def foreign(port: int) -> list[Status]:  # on a thread: a browser test's loop may run here
        with asyncio.Runner(loop_factory=_ForeignLoop) as runner:
            return runner.run(go(port))

    with SmtpServer(pipelining=True) as server, ThreadPoolExecutor(1) as thread:
        statuses = thread.submit(foreign, server.port).result()
        received = [(m.rcpt_tos, m.content.count(b"line of message")) for m in server.received]
    assert statuses == [Status.SENT] * 3
    assert received == [([f"reader{n}@example.org"], 100) for n in range(3)]
