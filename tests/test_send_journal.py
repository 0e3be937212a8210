"""After `bulletin send` is killed (SIGKILL), only the messages that were on the wire (handed
to the server, not yet answered) are uncertain: the sender's journal (store/journal.py) says
which were handed over and what came back, and the next opening of the store settles the
rest. A narrower bound than the claim window's, which tests/test_send_crash.py holds.

The kill points are chosen by progress: the server holds a message's reply for as long as the
test wants ("hangdata"), and the sender is killed once it has been handed that message."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from bulletin.store import journal
from bulletin.store.models import LedgerEntry, Subscriber, table
from bulletin.store.outcomes import NEVER_HANDED, UNANSWERED
from bulletin.store.store import Store
from tests.conftest import EXAMPLE
from tests.smtp_server import SmtpServer, ready_to_send
from tests.waiting import SAFETY, wait_for

pytestmark = pytest.mark.slow  # bulletin send as real processes, killed
ISSUE = "cohes3ion/cohes3ion-04"
ledger_rows, subscribers = table(LedgerEntry), table(Subscriber)


def subscribe(workspace: Path, addresses: list[str]) -> str:
    url = f"sqlite:///{workspace / 'bulletin.db'}"
    with Store.open(url) as store:
        store.create_list("cohes3ion", newsletter="cohes3ion")
        for address in addresses:
            store.subscribe(address, "cohes3ion", source="test")
    return url


def start_send(workspace: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.pop("BULLETIN_DATABASE_URL", None)
    return subprocess.Popen([sys.executable, "-m", "bulletin", "send",
                             str(workspace / "issues" / EXAMPLE.name), "--yes", *extra],
                            cwd=workspace, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "one-at-a-time"])
def test_only_the_message_on_the_wire_is_uncertain_after_sigkill(
        workspace: Path, monkeypatch: pytest.MonkeyPatch, pipelining: bool) -> None:
    people = [f"reader{n:02d}@example.org" for n in range(40)]
    people[10] = "hangdata10@example.org"  # the server takes its data and never answers
    with SmtpServer(pipelining=pipelining) as server:
        setup = ready_to_send(workspace, server.port, monkeypatch, connections=1,
                              timeout=SAFETY)
        url = subscribe(setup, people)
        process = start_send(setup)
        try:
            wait_for(lambda: server.handler.hanging or process.poll() is not None,
                     "the server to be handed the message it will not answer")
            assert process.poll() is None, "the send ended"
            with Store.open(url) as store:  # the sender alive: its claims are its own
                claimed = store.ledger.counts(ISSUE)["sending"]
        finally:
            kill(process)
        assert claimed > 1  # a window of them claimed, as before
        received = Counter(r for message in server.received for r in message.rcpt_tos)
        with Store.open(url) as store:  # opening it settles the dead sender's claims
            counts = store.ledger.counts(ISSUE)
            uncertain = store.ledger.uncertain(ISSUE)
        assert [claim.email for claim in uncertain] == ["hangdata10@example.org"]
        assert uncertain[0].reason == UNANSWERED
        assert counts["sent"] == len(received) == 10  # answered: sent, journal or ledger
        assert counts["pending"] == 29 and counts["failed"] == 0
        assert not list(journal.directory_for(url).glob("*"))  # type: ignore[union-attr]
        status = subprocess.run([sys.executable, "-m", "bulletin", "status",
                                 str(setup / "issues" / EXAMPLE.name)], cwd=setup,
                                capture_output=True, text=True, timeout=SAFETY)
        assert "Uncertain (1)" in status.stdout, status.stdout + status.stderr
        assert f"hangdata10@example.org (attempt 1): {UNANSWERED}" in " ".join(
            status.stdout.split())

        process = start_send(setup)  # the rest, and nobody twice
        assert process.wait(SAFETY) == 0
        received = Counter(r for message in server.received for r in message.rcpt_tos)
    assert received == Counter(p for p in people if p != "hangdata10@example.org")
    with Store.open(url) as store:
        counts = store.ledger.counts(ISSUE)
    assert counts["sent"] == 39 and counts["sending"] == 1


def test_a_journal_the_store_cannot_trust_leaves_the_claims_uncertain(
        workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A journal from another boot of the machine (the page cache it was in is gone): none
    of its sender's claims can be taken for never sent."""
    people = [f"reader{n:02d}@example.org" for n in range(20)]
    people[3] = "hangdata03@example.org"
    with SmtpServer(pipelining=True) as server:
        setup = ready_to_send(workspace, server.port, monkeypatch, connections=1,
                              timeout=SAFETY)
        url = subscribe(setup, people)
        process = start_send(setup)
        try:
            wait_for(lambda: server.handler.hanging or process.poll() is not None,
                     "the server to be handed the message it will not answer")
        finally:
            kill(process)
        directory = journal.directory_for(url)
        assert directory is not None
        (log,) = directory.glob("*.log")
        log.write_bytes(log.read_bytes().replace(journal.boot_id().encode(), b"another-boot",
                                                 1))
        with Store.open(url) as store:
            counts = store.ledger.counts(ISSUE)
            uncertain = store.ledger.uncertain(ISSUE)
    assert counts["sending"] == len(uncertain) > 1 and counts["pending"] + counts["sent"] \
        + counts["sending"] == 20
    assert all(claim.reason and "uncertain" in claim.reason for claim in uncertain)
    assert NEVER_HANDED not in {claim.reason for claim in uncertain}


RECIPIENTS = 1500
CONNECTIONS = 3
ON_THE_WIRE = 2 * CONNECTIONS
"""Messages handed over and not answered, at most, at any moment: with PIPELINING, two on each
connection (one waiting for its reply while the next writes), and in fact fewer."""


def test_sigkill_at_many_points_leaves_only_the_wire_uncertain(
        workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed again and again, by progress: after each kill, at most ON_THE_WIRE more are
    uncertain (the claim window is 48); no message that went back to waiting had reached the
    server; and in the end everyone has exactly one message, but the uncertain at most one."""
    people = [f"reader{n:04d}@example.org" for n in range(RECIPIENTS)]
    chance = random.Random(20261129)
    with SmtpServer(pipelining=True) as server:
        setup = ready_to_send(workspace, server.port, monkeypatch, connections=CONNECTIONS)
        url = subscribe(setup, people)
        uncertain_after: list[int] = []
        for point in ("first", "part", "part", "late"):
            wait_for(lambda: server.open_connections == 0, "the last run's connections to end")
            taken = len(server.received)
            with Store.open(url) as store:
                left = store.ledger.counts(ISSUE)["pending"] + \
                    store.ledger.unqueued(ISSUE, "cohes3ion")
            target = {"first": 1, "part": int(left * chance.uniform(0.2, 0.6)),
                      "late": left - 3}[point]
            process = start_send(setup)
            try:
                goal = taken + max(1, target)
                wait_for(lambda p=process, g=goal: len(server.received) >= g
                         or p.poll() is not None, f"{target} messages taken")
                assert process.poll() is None, "the send ended before its kill point"
            finally:
                kill(process)
            wait_for(lambda: server.open_connections == 0, "the killed run's connections to end")
            received = Counter(r for message in server.received for r in message.rcpt_tos)
            with Store.open(url) as store:  # settles the dead sender's claims
                counts = store.ledger.counts(ISSUE)
                rows = store.ledger.uncertain(ISSUE)
                assert counts["sending"] == len(rows)
                with store.engine.connect() as connection:
                    waiting = set(connection.scalars(select(subscribers.c.email).join_from(
                        ledger_rows, subscribers, subscribers.c.id == ledger_rows.c.subscriber_id)
                        .where(ledger_rows.c.state == "pending")))
            assert not waiting & set(received), "a message sent back to waiting had gone"
            assert all(claim.reason == UNANSWERED for claim in rows[-ON_THE_WIRE:])
            growth = counts["sending"] - (uncertain_after[-1] if uncertain_after else 0)
            assert 0 <= growth <= ON_THE_WIRE, (point, counts)
            uncertain_after.append(counts["sending"])

        process = start_send(setup)
        assert process.wait(SAFETY) == 0
        wait_for(lambda: server.open_connections == 0, "the last run's connections to end")
        received = Counter(r for message in server.received for r in message.rcpt_tos)
    with Store.open(url) as store:
        counts = store.ledger.counts(ISSUE)
        uncertain = {claim.email for claim in store.ledger.uncertain(ISSUE)}
    assert max(received.values()) == 1
    assert counts["sent"] + counts["sending"] == RECIPIENTS and counts["pending"] == 0
    assert len(uncertain) == uncertain_after[-1] <= 4 * ON_THE_WIRE
    assert all(received[p] == 1 for p in people if p not in uncertain)
