"""An SMTP sink that answers like a relay across a network: every reply leaves `--delay`
seconds after the command it answers arrived. Used by benchmarks/send.py; run it in a process
of its own so that it never shares an event loop (or a GIL) with the sender it measures.

    python benchmarks/delay_sink.py --port PORT [--delay 0.05] [--max-seconds 900]

It listens on 127.0.0.1 only, announces PIPELINING and answers commands in order: commands
that arrive together (a pipelined MAIL, RCPT, DATA) are answered together, one delay later,
as a server one round trip away would answer them. Everything is accepted (250; 354 to
DATA) and the message is thrown away as it streams in. It prints `ready PORT` once
listening, stops by itself after --max-seconds, and on SIGTERM or SIGINT prints one JSON line
with the sessions and messages it took.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import signal
import sys

_END = b"\r\n.\r\n"
EHLO = (b"250-delay-sink\r\n250-PIPELINING\r\n250-SIZE 104857600\r\n250-8BITMIME\r\n"
        b"250 ENHANCEDSTATUSCODES\r\n")
GREETING = b"220 delay-sink ESMTP\r\n"


class Counters:
    def __init__(self) -> None:
        self.sessions = 0
        self.messages = 0
        self.bytes = 0


class Session(asyncio.Protocol):
    """One connection. Replies wait in order in `_out`, each with the loop time it is due."""

    def __init__(self, delay: float, counters: Counters) -> None:
        self._delay = delay
        self._counters = counters
        self._loop = asyncio.get_running_loop()
        self._out: collections.deque[tuple[float, bytes]] = collections.deque()
        self._buffer = bytearray()
        self._in_data = False
        self._data_start = True
        self._closing = False
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._counters.sessions += 1
        self._reply(GREETING)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._out.clear()

    def _reply(self, data: bytes) -> None:
        due = self._loop.time() + self._delay
        self._out.append((due, data))
        self._loop.call_at(due, self._flush)

    def _flush(self) -> None:
        now = self._loop.time()
        ready = []
        while self._out and self._out[0][0] <= now:
            ready.append(self._out.popleft()[1])
        if ready and self._transport is not None:
            self._transport.write(b"".join(ready))
            if self._closing and not self._out:
                self._transport.close()

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while buffer:
            if self._in_data:
                if self._data_start and buffer.startswith(b".\r\n"):  # an empty message
                    end, skip = 0, 3
                else:
                    end, skip = buffer.find(_END), len(_END)
                if end < 0:
                    self._counters.bytes += max(0, len(buffer) - 4)
                    del buffer[:-4]  # keep what could be the start of the end marker
                    self._data_start = False
                    return
                self._counters.bytes += end
                del buffer[:end + skip]
                self._in_data = False
                self._counters.messages += 1
                self._reply(b"250 2.0.0 Ok: queued\r\n")
                continue
            newline = buffer.find(b"\n")
            if newline < 0:
                if len(buffer) > 4096:
                    self._reply(b"500 5.5.0 Line too long\r\n")
                    buffer.clear()
                return
            line = bytes(buffer[:newline + 1])
            del buffer[:newline + 1]
            self._command(line[:4].upper())

    def _command(self, verb: bytes) -> None:
        if verb == b"EHLO":
            self._reply(EHLO)
        elif verb == b"DATA":
            self._in_data, self._data_start = True, True
            self._reply(b"354 End data with <CR><LF>.<CR><LF>\r\n")
        elif verb == b"QUIT":
            self._closing = True
            self._reply(b"221 2.0.0 Bye\r\n")
        elif verb in (b"HELO", b"MAIL", b"RCPT", b"RSET", b"NOOP"):
            self._reply(b"250 2.0.0 Ok\r\n")
        else:
            self._reply(b"502 5.5.2 Command not recognised\r\n")


async def serve(port: int, delay: float, max_seconds: float) -> Counters:
    counters = Counters()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)
    server = await loop.create_server(lambda: Session(delay, counters), "127.0.0.1", port,
                                      backlog=1024, reuse_address=True)
    print(f"ready {port}", flush=True)
    try:
        async with asyncio.timeout(max_seconds):
            await stop.wait()
    except TimeoutError:
        print(f"delay-sink: stopping after {max_seconds:g} s", file=sys.stderr)
    server.close()
    return counters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--max-seconds", type=float, default=900.0)
    args = parser.parse_args()
    counters = asyncio.run(serve(args.port, args.delay, args.max_seconds))
    print(json.dumps({"sessions": counters.sessions, "messages": counters.messages,
                      "bytes": counters.bytes}), flush=True)


if __name__ == "__main__":
    main()
