"""Internationalised addresses through `bulletin send` and `send-test`, against a real SMTP
server: a domain goes out as punycode; a non-ASCII local part with SMTPUTF8 when the server
offers it, else that one recipient fails for good with the reason. And whatever goes wrong
while one recipient's message is made, that recipient fails with the reason, and the run goes
on to its end (with PIPELINING or without): nobody is uncertain who was never handed over."""

from __future__ import annotations

import email
import os
import subprocess
import sys
from collections.abc import Iterator
from email import policy
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bulletin.store.models import LedgerEntry, Subscriber, table
from bulletin.store.store import Store
from tests.conftest import EXAMPLE
from tests.smtp_server import SmtpServer, ready_to_send
from tests.waiting import SAFETY

pytestmark = pytest.mark.slow  # bulletin send as real processes, a real SMTP server

ISSUE = "cohes3ion/cohes3ion-04"


@pytest.fixture(params=[True, False], ids=["pipelining", "one-at-a-time"])
def pipelining(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def server(pipelining: bool) -> Iterator[SmtpServer]:
    """A server without SMTPUTF8 (aiosmtpd's controller offers it unless told not to)."""
    with SmtpServer(pipelining=pipelining, enable_SMTPUTF8=False) as running:
        yield running


@pytest.fixture
def utf8_server() -> Iterator[SmtpServer]:
    with SmtpServer(pipelining=True) as running:
        yield running


def database(workspace: Path) -> str:
    return f"sqlite:///{workspace / 'bulletin.db'}"


def subscribe(workspace: Path, addresses: list[str]) -> None:
    with Store.open(database(workspace)) as store:
        store.create_list("cohes3ion", newsletter="cohes3ion")
        for address in addresses:
            store.subscribe(address, "cohes3ion", source="test")


def bulletin(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command in its own process: a send that hangs fails the test (after SAFETY)
    instead of hanging it."""
    env = dict(os.environ)
    env.pop("BULLETIN_DATABASE_URL", None)
    try:
        done = subprocess.run([sys.executable, "-m", "bulletin", *args], cwd=workspace,
                              env=env, capture_output=True, text=True, timeout=SAFETY)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"bulletin {' '.join(args)} did not finish: {exc.stdout!r}") \
            from None
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return done


def send(workspace: Path) -> subprocess.CompletedProcess[str]:
    return bulletin(workspace, "send", str(workspace / "issues" / EXAMPLE.name), "--yes")


def ledger(workspace: Path) -> dict[str, tuple[str, str | None]]:
    """Each recipient's ledger state and last reply."""
    ledger_rows, subscribers = table(LedgerEntry), table(Subscriber)
    with Store.open(database(workspace)) as store, store.engine.connect() as connection:
        return {address: (state, reply) for address, state, reply in connection.execute(
            select(subscribers.c.email, ledger_rows.c.state, ledger_rows.c.last_reply)
            .join_from(ledger_rows, subscribers,
                       subscribers.c.id == ledger_rows.c.subscriber_id))}


def test_a_non_ascii_local_part_fails_alone_without_smtputf8(
        workspace: Path, server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    setup = ready_to_send(workspace, server.port, monkeypatch, connections=2)
    subscribe(setup, ["siân@example.org", "ann@bücher.de", "bob@example.org"])
    done = send(setup)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 uncertain" in done.stdout
    rows = ledger(setup)
    assert rows["ann@bücher.de"][0] == rows["bob@example.org"][0] == "sent"
    state, reply = rows["siân@example.org"]
    assert state == "failed" and "SMTPUTF8" in (reply or ""), reply
    assert sorted(r for m in server.received for r in m.rcpt_tos) == [
        "ann@xn--bcher-kva.de", "bob@example.org"]
    for message in server.received:
        assert message.content.split(b"\r\n\r\n")[0].isascii()
    again = send(setup)  # the next run: nothing left, nothing uncertain
    assert again.returncode == 0 and "Nothing to send." in again.stdout


def test_a_non_ascii_local_part_goes_with_smtputf8(workspace: Path, utf8_server: SmtpServer,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    setup = ready_to_send(workspace, utf8_server.port, monkeypatch, connections=1)
    subscribe(setup, ["siân@bücher.de", "bob@example.org"])
    done = send(setup)
    assert done.returncode == 0 and "2 sent, 0 failed" in done.stdout, done.stdout
    by_recipient = {m.rcpt_tos[0]: m for m in utf8_server.received}
    assert set(by_recipient) == {"siân@xn--bcher-kva.de", "bob@example.org"}
    received = by_recipient["siân@xn--bcher-kva.de"]
    message = email.message_from_string(received.content.decode("utf-8"),
                                        policy=policy.default)
    assert message["To"].addresses[0].addr_spec == "siân@xn--bcher-kva.de"


def test_send_test_to_an_internationalised_domain(workspace: Path, server: SmtpServer,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    setup = ready_to_send(workspace, server.port, monkeypatch)
    done = bulletin(setup, "send-test", str(setup / "issues" / EXAMPLE.name),
                    "--to", "rhys@bücher.example")
    assert done.returncode == 0, done.stdout + done.stderr
    assert [m.rcpt_tos for m in server.received] == [["rhys@xn--bcher-kva.example"]]


def test_a_message_that_cannot_be_made_fails_that_recipient_alone(
        workspace: Path, server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    setup = ready_to_send(workspace, server.port, monkeypatch, connections=2)
    people = [f"reader{n}@example.org" for n in range(6)]
    subscribe(setup, people)
    with Store.open(database(setup)) as store, store.engine.begin() as connection:
        # An address no import lets in (its domain has no IDNA form), put there by hand.
        subscribers = table(Subscriber)
        connection.execute(update(subscribers).where(subscribers.c.email == people[2])
                           .values(email="broken@-bad-.ü"))
    done = send(setup)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 sent, 1 failed, 0 uncertain" in done.stdout, done.stdout
    rows = ledger(setup)
    state, reply = rows["broken@-bad-.ü"]
    assert state == "failed" and "IDNA" in (reply or ""), reply
    assert len(server.received) == 5


def test_send_test_to_a_non_ascii_local_part_without_smtputf8(
        workspace: Path, server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """That copy fails, saying why in one line (no reply code: the server never answered)."""
    setup = ready_to_send(workspace, server.port, monkeypatch)
    done = bulletin(setup, "send-test", str(setup / "issues" / EXAMPLE.name),
                    "--to", "siân@example.org", "--to", "bob@example.org")
    assert done.returncode == 1, done.stdout + done.stderr
    lines = " ".join(done.stdout.split()).split(" [TEST] ")
    [refused] = [line for line in lines if "siân@example.org" in line]
    assert refused.startswith("(en) to siân@example.org: the address has a non-ASCII local "
                              "part, which needs SMTPUTF8"), done.stdout
    assert [m.rcpt_tos for m in server.received] == [["bob@example.org"]]
