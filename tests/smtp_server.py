"""Real SMTP servers for the transport tests, on loopback ports.

`SmtpServer`: aiosmtpd in a background thread. Its handler records every message it takes and
misbehaves on demand, chosen by words in the recipient's address:

    tempfail  451 to RCPT            mailboxfull  452 to RCPT      reject   550 to RCPT
    closercpt 421 to RCPT, then closes the connection
    nodata    554 to DATA (after a RCPT that was taken)
    laxdata   550 to RCPT, and yet 354 to the DATA after it, as some servers do (RFC 2920 3.1)
    dropdata  354 to DATA, reads a little of the data, then resets the connection
    vanish    reads all the data, then closes without replying
    hangdata  reads all the data, then never replies
    hang      never replies to RCPT
    closedata 421 after the data, then closes

and, for every connection, `close_after=N`: 421 to the MAIL of its (N+1)th message, then
closes. `pipelining=True` makes it announce PIPELINING (aiosmtpd reads commands as a stream, so
it copes) and note, at each MAIL, whether the RCPT and DATA had already arrived with it.
`stop()`, `start()` and `restart()` drop every connection as a crash would and bring the server
back on the same port.

`SmtpSink`: Postfix's smtp-sink, a fast C server that announces PIPELINING, as a subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.waiting import SAFETY, wait_for

HANG = 3600.0  # "never": the connection's end cancels the wait


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


class FaultHandler:
    def __init__(self, *, pipelining: bool = False, close_after: int | None = None) -> None:
        self.pipelining = pipelining
        self.close_after = close_after
        self.received: list[Received] = []
        self.grouped: list[bool] = []
        """At each MAIL: whether its RCPT and DATA were already waiting in the same read."""
        self.quits = 0
        self.hanging: list[str] = []
        """The recipients whose RCPT or DATA it has stopped answering ("hang", "hangdata")."""

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope,
                          hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, options: list[str]) -> str:
        waiting = bytes(getattr(server._reader, "_buffer", b""))
        self.grouped.append(b"RCPT TO:" in waiting and b"DATA\r\n" in waiting)
        taken = getattr(session, "taken", 0)
        if self.close_after is not None and taken >= self.close_after:
            await _close(server, "421 4.7.0 Too many messages on one connection, closing")
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, options: list[str]) -> str:
        if "tempfail" in address:
            return f"451 4.3.0 <{address}>: temporarily unavailable, try later"
        if "mailboxfull" in address:
            return f"452 4.2.2 <{address}>: mailbox full"
        if "laxdata" in address:
            server.lax_data = True  # type: ignore[attr-defined]
            return f"550 5.1.1 <{address}>: no such user here"
        if "reject" in address:
            return f"550 5.1.1 <{address}>: no such user here"
        if "closercpt" in address:
            await _close(server, "421 4.3.2 Shutting down")
        if "hang" in address and "hangdata" not in address:
            self.hanging.append(address)
            await asyncio.sleep(HANG)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.quits += 1
        return "221 2.0.0 Bye"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        recipients = " ".join(envelope.rcpt_tos)
        if "vanish" in recipients:
            assert server.transport is not None
            server.transport.close()
            await asyncio.sleep(HANG)
        if "hangdata" in recipients:
            self.hanging.append(recipients)
            await asyncio.sleep(HANG)
        if "closedata" in recipients:
            await _close(server, "421 4.3.2 Shutting down, message not taken")
        content = envelope.original_content or b""
        self.received.append(Received(envelope.mail_from or "", list(envelope.rcpt_tos), content))
        session.taken = getattr(session, "taken", 0) + 1
        return f"250 2.0.0 OK queued as {len(self.received)}"


async def _close(server: SMTP, reply: str) -> None:
    """Reply, close the connection, and wait for the end (which cancels this)."""
    await server.push(reply)
    assert server.transport is not None
    server.transport.close()
    await asyncio.sleep(HANG)


class FaultSMTP(SMTP):
    async def smtp_DATA(self, arg: str) -> None:
        recipients = " ".join(self.envelope.rcpt_tos if self.envelope is not None else [])
        if getattr(self, "lax_data", False):
            self.lax_data = False
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            while await self._reader.readuntil(b"\r\n") != b".\r\n":
                pass
            await self.push("554 5.5.1 Error: no valid recipients")
            return
        if "nodata" in recipients:
            await self.push("554 5.7.1 No data for you")
            return
        if "dropdata" in recipients:
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            await self._reader.read(4096)
            assert self.transport is not None
            self.transport.abort()
            return
        await super().smtp_DATA(arg)


class _Controller(Controller):
    def __init__(self, handler: FaultHandler, servers: list[FaultSMTP], **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.servers = servers

    def factory(self) -> FaultSMTP:
        server = FaultSMTP(self.handler, **self.SMTP_kwargs)
        self.servers.append(server)
        return server


class SmtpServer:
    """aiosmtpd on 127.0.0.1:`port`; keyword arguments beyond the handler's go to aiosmtpd's
    SMTP (tls_context, require_starttls, authenticator, auth_require_tls...) or, for
    `ssl_context`, make it take TLS from the start."""

    def __init__(self, *, pipelining: bool = False, close_after: int | None = None,
                 **smtp: Any) -> None:
        self.port = free_port()
        self.handler = FaultHandler(pipelining=pipelining, close_after=close_after)
        self._smtp = smtp
        self._controller: _Controller | None = None
        self._servers: list[FaultSMTP] = []
        self._starts = 0

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    @property
    def connections(self) -> int:
        """Connections so far, not counting those the controller makes to check it is up."""
        return len(self._servers) - self._starts

    @property
    def open_connections(self) -> int:
        """Connections not yet closed. Once a client has gone and this is 0, `received` is
        final: a connection's messages are recorded before the connection ends."""
        return sum(1 for server in self._servers if server.transport is not None)

    def start(self) -> None:
        self._controller = _Controller(self.handler, self._servers, hostname="127.0.0.1",
                                       port=self.port, server_hostname="aiosmtpd.test",
                                       **self._smtp)
        self._controller.start()
        self._starts += 1

    def stop(self) -> None:
        """Drops every connection without a word, as a crashed server would, and stops."""
        controller = self._controller
        if controller is None:
            return
        self._controller = None
        loop = controller.loop

        async def drop() -> None:
            # Stop listening first: a client reconnecting at once must find the port closed,
            # not a connection accepted after the others were dropped and then left open,
            # answering nothing, by a server that has stopped.
            if controller.server is not None:
                controller.server.close()
            give_up = loop.time() + SAFETY
            while any(server.transport is not None for server in controller.servers):
                assert loop.time() < give_up, "the connections did not close"
                for server in controller.servers:
                    if server.transport is not None and not server.transport.is_closing():
                        server.transport.abort()
                await asyncio.sleep(0.001)  # until each has seen its end (connection_lost)

        asyncio.run_coroutine_threadsafe(drop(), loop).result(timeout=SAFETY)
        controller.stop()

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def smtp_sink_path() -> str | None:
    return shutil.which("smtp-sink") or next(
        (p for p in ("/usr/sbin/smtp-sink", "/usr/bin/smtp-sink") if os.access(p, os.X_OK)), None)


class SmtpSink:
    """Postfix's smtp-sink on 127.0.0.1:`port`, taking any mail and announcing PIPELINING.
    `dump=True` keeps one file per message (see `messages`); `options` are more smtp-sink
    flags (-q . to drop the connection after the data without a reply, -Q RCPT to answer
    421...)."""

    def __init__(self, *options: str, dump: bool = False) -> None:
        path = smtp_sink_path()
        if path is None:
            raise RuntimeError("smtp-sink is missing: run .ci/install (Debian package postfix)")
        self.port = free_port()
        self.dump: Path | None = None
        command = [path, *options]
        if os.geteuid() == 0:
            command += ["-u", "nobody"]  # it insists; and nobody must be able to write the dump
        if dump:
            self.dump = Path(tempfile.mkdtemp(prefix="smtp-sink-"))
            self.dump.chmod(0o777)
            command += ["-d", f"{self.dump}/m."]
        command += [f"127.0.0.1:{self.port}", "256"]
        self._command = command
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SmtpSink:
        self._process = subprocess.Popen(self._command, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
        process = self._process

        def listening() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"smtp-sink stopped: {process.stderr.read()!r}")
            with contextlib.suppress(OSError), \
                    socket.create_connection(("127.0.0.1", self.port), timeout=SAFETY):
                return True
            return False

        wait_for(listening, "smtp-sink to listen", interval=0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=SAFETY)
            if self._process.stderr is not None:
                self._process.stderr.close()
        if self.dump is not None:
            shutil.rmtree(self.dump, ignore_errors=True)

    def messages(self) -> Iterator[tuple[dict[str, str], bytes]]:
        """Each dumped message: smtp-sink's own fields (X-Mail-Args...) and the message as it
        arrived (after removing the stuffed dots), with CRLF line ends."""
        assert self.dump is not None
        for path in sorted(self.dump.glob("m.*")):
            head, _, rest = path.read_bytes().partition(b"\nReceived: ")
            fields = dict(line.split(": ", 1) for line in head.decode().splitlines())
            message = rest.split(b"\n", 3)[3]  # after the three lines of Received:
            assert message.endswith(b"\n")  # smtp-sink adds an empty line
            yield fields, message[:-1].replace(b"\n", b"\r\n")


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1 and its key, made by openssl."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def authenticator(username: str, password: str) -> Any:
    """An aiosmtpd authenticator that takes `username` with `password` and nothing else, and
    remembers what it was offered in `.tried`."""
    tried: list[tuple[str, bytes, bytes]] = []

    def check(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
              data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            tried.append((mechanism, data.login, data.password))
            ok = data.login == username.encode() and data.password == password.encode()
            return AuthResult(success=ok, handled=False)  # handled=True: "I have replied"
        return AuthResult(success=False, handled=False)

    check.tried = tried  # type: ignore[attr-defined]
    return check


SECRET_KEY = "a-test-secret-key-of-some-length"


def ready_to_send(workspace: Path, port: int, monkeypatch: pytest.MonkeyPatch,
                  **settings: object) -> Path:
    """The workspace sending to the test server at `port` (`settings` as for use_server),
    with the example issue, BULLETIN_SECRET_KEY set and its store beside bulletin.toml."""
    from tests.conftest import EXAMPLE

    use_server(workspace, port, **settings)
    monkeypatch.setenv("BULLETIN_SECRET_KEY", SECRET_KEY)
    monkeypatch.delenv("BULLETIN_DATABASE_URL", raising=False)
    (workspace / "issues" / EXAMPLE.name).write_text(EXAMPLE.read_text())
    return workspace


def use_server(workspace: Path, port: int, **settings: object) -> None:
    """Point the workspace's bulletin.toml at a test server on this machine: an [smtp] table
    with plain text to 127.0.0.1 and `settings` (TOML values written with repr: numbers,
    lists of numbers)."""
    lines = ["[smtp]", 'host = "127.0.0.1"', f"port = {port}", 'security = "none"',
             *(f"{name} = {value!r}" for name, value in settings.items())]
    config = workspace / "bulletin.toml"
    config.write_text(config.read_text() + "\n" + "\n".join(lines) + "\n")
