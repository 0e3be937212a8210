"""`bulletin serve` with an [inbound] table reads the bounce mailbox (a real Dovecot,
tests/imap_server.py) at start and every poll_minutes, in a thread beside the service: a bounce
about a subscriber ends in the processed folder and the subscriber bounced; a mailbox that
refuses the login is one logged line (no password) and the service goes on answering."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from bulletin.settings import load_workspace
from bulletin.store import Store
from tests.inbound_mail import dsn
from tests.waiting import SAFETY, wait_for
from tests.web_helpers import KEY

if TYPE_CHECKING:
    from tests.imap_server import Dovecot

pytest_plugins = ["tests.imap_server"]
pytestmark = pytest.mark.slow  # bulletin serve as a real process, a real Dovecot

CORPUS = Path(__file__).resolve().parent / "data" / "inbound"
BOUNCE = "bounceparser/doesnotexist.msg"  # a hard bounce about someone else's mail


def our_bounce(workspace: Path) -> bytes:
    """A hard bounce, as Postfix writes one, of a message the workspace's newsletter sent to
    recipient@example.net (a bounce of mail that is not ours is left alone)."""
    sender = load_workspace(workspace / "bulletin.toml").newsletter("cohes3ion").sender
    sent = (f"From: {sender}\r\nTo: recipient@example.net\r\nSubject: Cohes3ion\r\n"
            f"Message-ID: <issue-4@example.org>\r\n\r\nHello.\r\n").encode()
    return dsn(sent, parseaddr(sender)[1], "recipient@example.net", "5.1.1",
               "550 5.1.1 <recipient@example.net>: Recipient address rejected: User unknown")


class Serving:
    """`bulletin serve` in the workspace, its output collected as it comes."""

    def __init__(self, workspace: Path, password: str) -> None:
        env = {k: v for k, v in os.environ.items()
               if k not in ("BULLETIN_CONFIG", "BULLETIN_DATABASE_URL")}
        env.update(BULLETIN_SECRET_KEY=KEY, BULLETIN_IMAP_PASSWORD=password)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bulletin", "serve", "--port", "0"], cwd=workspace, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(stream, lines), daemon=True)
                         for stream, lines in ((self.process.stdout, self.out),
                                               (self.process.stderr, self.err))]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: object, lines: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            lines.append(line)

    @property
    def url(self) -> str:
        line = wait_for(lambda: next((x for x in self.out if "Serving" in x), None),
                        "bulletin serve to say where it serves")
        return str(line.split(" at ", 1)[1].split(" ", 1)[0])

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        code = self.process.wait(SAFETY)
        for reader in self._readers:
            reader.join(SAFETY)
        return code


def configure(workspace: Path, server: Dovecot) -> None:
    with (workspace / "bulletin.toml").open("a") as config:
        config.write(f'\n[inbound]\nhost = "{server.host}"\nport = {server.port}\n'
                     f'username = "{server.user}"\nca_file = "{server.ca_file}"\n'
                     f"poll_minutes = 10\n")


def test_serve_processes_the_mailbox_beside_the_service(workspace: Path,
                                                        dovecot: Dovecot) -> None:
    configure(workspace, dovecot)
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:
        store.create_list("cohes3ion", newsletter="cohes3ion")
        store.subscribe("recipient@example.net", "cohes3ion", source="test")
    dovecot.append(our_bounce(workspace))
    dovecot.append((CORPUS / "cpython-email/msg_02.txt").read_bytes())
    serving = Serving(workspace, dovecot.password)
    try:
        url = serving.url
        wait_for(lambda: "bulletin.processed" in dovecot.folders()
                 and dovecot.contents("bulletin.processed"), "the bounce to be moved")
        assert httpx.get(url + "health", timeout=SAFETY).json() == {"status": "ok"}
        wait_for(lambda: any("processed 1" in line for line in serving.err),
                 "the pass to be logged")
    finally:
        code = serving.stop()
    assert code == 0, "".join(serving.err)
    assert serving.out[1] == (f"Reading the bounce mailbox bulletin at 127.0.0.1:{dovecot.port} "
                              f"every 10 minutes\n")
    assert "Stopped.\n" in serving.out
    (line,) = [x for x in serving.err if "bulletin.inbound" in x]
    assert line == (f"INFO bulletin.inbound: bounce mailbox bulletin at 127.0.0.1:{dovecot.port}"
                    f": processed 1: hard 1, soft 0, complaints 0, auto-replies 0, "
                    f"unsubscribes 0; left alone 1\n")
    assert len(dovecot.contents("INBOX")) == 1
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:
        assert store.subscriptions.subscriber("recipient@example.net").status == "bounced"


def test_a_refused_login_is_logged_and_the_service_goes_on(workspace: Path,
                                                           dovecot: Dovecot) -> None:
    configure(workspace, dovecot)
    dovecot.append((CORPUS / BOUNCE).read_bytes())
    serving = Serving(workspace, "not-the-Password-5")
    try:
        url = serving.url
        line = wait_for(lambda: next((x for x in serving.err if "bulletin.inbound" in x), None),
                        "the refused login to be logged")
        assert httpx.get(url + "health", timeout=SAFETY).json() == {"status": "ok"}
    finally:
        code = serving.stop()
    assert code == 0
    assert line == (f"ERROR bulletin.inbound: bounce mailbox not read: the mailbox server "
                    f"127.0.0.1:{dovecot.port} refused the login of 'bulletin' "
                    f"([AUTHENTICATIONFAILED] Authentication failed.); check inbound.username "
                    f"in bulletin.toml and BULLETIN_IMAP_PASSWORD (tried again in 10 minutes)\n")
    assert not any("not-the-Password-5" in x for x in serving.out + serving.err)
    assert not any("Traceback" in x for x in serving.err)
    assert len(dovecot.contents("INBOX")) == 1


def test_without_the_password_serve_warns_and_serves(workspace: Path, dovecot: Dovecot) -> None:
    configure(workspace, dovecot)
    serving = Serving(workspace, "")
    try:
        url = serving.url
        assert httpx.get(url + "health", timeout=SAFETY).json() == {"status": "ok"}
    finally:
        code = serving.stop()
    assert code == 0
    assert any(x.startswith("Warning: the bounce mailbox is not read: ") and
               "set BULLETIN_IMAP_PASSWORD" in x for x in serving.err), serving.err
    assert not any("Reading the bounce mailbox" in x for x in serving.out)
