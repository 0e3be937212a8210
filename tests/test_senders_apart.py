"""Several senders of one issue when one of them stops or runs elsewhere.

- One killed (SIGKILL) mid-send while another runs on the same host: while it lives, neither
  the other sender nor `bulletin status` takes its claims for uncertain; once it is dead, the
  sender still running settles them by its journal before it ends (the one on the wire
  uncertain, those never handed over waiting again) and sends those, nobody twice.
- Senders on two hosts sharing PostgreSQL (journals apart): a host cannot tell whether the
  other's sender is alive, so until it has finished, its messages in hand show as uncertain
  on this host (in a sender's closing line and in `bulletin status`), with the reason; once
  it has finished, `bulletin status` on either host shows the whole, nothing uncertain.

Progress, not time: the killed sender's server takes one message's data and never answers
("hangdata"); the other's server holds every message until the test lets it go."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import create_engine, text

from bulletin.store.outcomes import STOPPED, UNANSWERED
from bulletin.store.store import Store
from tests.smtp_server import SECRET_KEY, FaultHandler, SmtpServer
from tests.test_two_senders import (
    DONE,
    ISSUE,
    bulletin_status,
    delivered,
    ended,
    sender_folder,
    start,
)
from tests.waiting import SAFETY, wait_for

pytest_plugins = ["tests.store_fixtures"]
pytestmark = pytest.mark.slow  # real senders, one killed

RECIPIENTS = 200
HANGING = "hangdata005@example.org"
LEDGER = re.compile(r"the ledger now holds \d+ sent, \d+ failed, (\d+) waiting, (\d+) uncertain")


class HeldHandler(FaultHandler):
    """Takes each message's data and answers only once `go` is set; `held` counts those
    waiting."""

    def __init__(self) -> None:
        super().__init__(pipelining=True)
        self.go = threading.Event()
        self.held = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.held += 1
        await asyncio.to_thread(self.go.wait)
        return await super().handle_DATA(server, session, envelope)


@dataclass
class Senders:
    people: list[str]
    url: str
    folders: list[Path]
    envs: list[dict[str, str]]
    hanging: SmtpServer
    """The first sender's: it never answers HANGING's message."""
    held: SmtpServer
    """The second sender's: it holds every message until `go`."""
    tmp: Path

    @property
    def servers(self) -> list[SmtpServer]:
        return [self.hanging, self.held]

    def go(self) -> None:
        assert isinstance(self.held.handler, HeldHandler)
        self.held.handler.go.set()


@pytest.fixture
def senders(workspace: Path, tmp_path: Path, database_url: str,
            request: pytest.FixtureRequest) -> Iterator[Senders]:
    """Two workspaces sending one issue from `database_url` to a server each, as one host
    (their journals together) or, with the test's parameter `hosts` 2, two (and nobody
    whose message hangs)."""
    hosts = request.node.callspec.params.get("hosts", 1)
    people = [f"reader{n:03d}@example.org" for n in range(RECIPIENTS)]
    if hosts == 1:
        people[5] = HANGING
    with Store.open(database_url) as store:
        store.create_list("cohes3ion", newsletter="cohes3ion")
        for address in people:
            store.subscribe(address, "cohes3ion", source="test")
    base = {k: v for k, v in os.environ.items() if not k.startswith("BULLETIN_")}
    base |= {"BULLETIN_DATABASE_URL": database_url, "BULLETIN_SECRET_KEY": SECRET_KEY,
             "PYTHONUNBUFFERED": "1"}  # what they say, read while they run
    held = SmtpServer(pipelining=True)
    held.handler = HeldHandler()
    with SmtpServer(pipelining=True) as hanging, held:
        try:
            yield Senders(
                people, database_url,
                [sender_folder(workspace, tmp_path / f"sender-{n}", server.port, connections=1)
                 for n, server in enumerate((hanging, held))],
                [base | {"XDG_STATE_HOME": str(tmp_path / f"state-{n % hosts}")}
                 for n in range(2)], hanging, held, tmp_path)
        finally:
            assert isinstance(held.handler, HeldHandler)
            held.handler.go.set()


def first_held_while_second_sends(
        senders: Senders) -> tuple[list[subprocess.Popen[bytes]], set[int]]:
    """Start the first sender and wait until it hangs on HANGING's message; then the second,
    until it has handed its first message over. Both processes, and the ids of the rows the
    first had claimed then."""
    first = start(senders.folders[0], senders.envs[0], senders.tmp / "first.txt", "--yes")
    processes = [first]
    wait_for(lambda: senders.hanging.handler.hanging or first.poll() is not None,
             "the first sender to be handed the message its server will not answer")
    assert first.poll() is None, (senders.tmp / "first.txt").read_text()
    second = start(senders.folders[1], senders.envs[1], senders.tmp / "second.txt", "--yes")
    processes.append(second)
    handler = senders.held.handler
    assert isinstance(handler, HeldHandler)
    wait_for(lambda: handler.held or second.poll() is not None,
             "the second sender to hand over its first message")
    assert second.poll() is None, (senders.tmp / "second.txt").read_text()
    engine = create_engine(senders.url)  # not Store.open: that would settle a dead run
    try:
        with engine.connect() as connection:
            claimed = set(connection.scalars(text(
                "SELECT id FROM ledger WHERE state = 'sending' AND run = (SELECT run FROM "
                "ledger JOIN subscribers ON subscribers.id = ledger.subscriber_id "
                "WHERE email = :email)"), {"email": HANGING}))
    finally:
        engine.dispose()
    return processes, claimed


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_sender_killed_while_another_runs_is_settled_once_dead_and_nobody_twice(
        senders: Senders) -> None:
    processes, claimed = first_held_while_second_sends(senders)
    first, second = processes
    try:
        second_said = " ".join((senders.tmp / "second.txt").read_text().split())
        assert "being sent by another sender:" in second_said, second_said
        assert "Uncertain:" not in second_said, second_said
        status = bulletin_status(senders.folders[0], senders.envs[0])  # both alive
        assert "Uncertain (" not in status, status
        assert len(claimed) > 1  # the first holds more than the message on the wire

        first.send_signal(signal.SIGKILL)
        first.wait()
        senders.go()
        assert second.wait(SAFETY) == 0, (senders.tmp / "second.txt").read_text()
    finally:
        ended(processes)
    second_said = " ".join((senders.tmp / "second.txt").read_text().split())
    part = DONE.search(second_said)
    assert part is not None, second_said
    assert int(part[1]) == len(delivered([senders.held]))

    status = bulletin_status(senders.folders[1], senders.envs[1])  # opens: settles the dead
    assert "Uncertain (1)" in status and f"{HANGING} (attempt 1): {UNANSWERED}" in status, \
        status
    with Store.open(senders.url) as store:
        counts = store.ledger.counts(ISSUE)
    # the second settled the dead one's claims itself and sent those never handed over
    assert "0 waiting, 1 uncertain" in second_said, second_said
    assert counts["sending"] == 1 and counts["pending"] == 0, counts
    assert counts["sent"] + counts["pending"] + 1 == RECIPIENTS, counts

    again = start(senders.folders[1], senders.envs[1], senders.tmp / "again.txt", "--yes")
    try:
        assert again.wait(SAFETY) == 0, (senders.tmp / "again.txt").read_text()
    finally:
        ended([again])
    assert delivered(senders.servers) == Counter(p for p in senders.people if p != HANGING)
    with Store.open(senders.url) as store:
        counts = store.ledger.counts(ISSUE)
    assert counts["sent"] == RECIPIENTS - 1 and counts["sending"] == 1, counts


@pytest.mark.parametrize(("database_url", "hosts"), [("postgresql", 2)],
                         indirect=["database_url"])
def test_on_another_host_a_running_senders_messages_show_as_uncertain_until_it_ends(
        senders: Senders, hosts: int) -> None:
    held = senders.held.handler
    assert isinstance(held, HeldHandler)
    first = start(senders.folders[1], senders.envs[1], senders.tmp / "first.txt", "--yes")
    try:
        wait_for(lambda: held.held or first.poll() is not None,
                 "the first host's sender to hand over its first message")
        assert first.poll() is None, (senders.tmp / "first.txt").read_text()
        here = bulletin_status(senders.folders[1], senders.envs[1])
        assert "Uncertain (" not in here, here  # on its own host: being sent
        there = bulletin_status(senders.folders[0], senders.envs[0])
        assert "Uncertain (" in there and STOPPED in there, there
        # the second host's sender sends the rest; its closing line counts the first's
        # messages in hand as uncertain
        second = start(senders.folders[0], senders.envs[0], senders.tmp / "second.txt",
                       "--yes")
        try:
            assert second.wait(SAFETY) == 0, (senders.tmp / "second.txt").read_text()
        finally:
            ended([second])
        said = " ".join((senders.tmp / "second.txt").read_text().split())
        assert "they will NOT be sent again" in said, said  # not by this one
        ledger = LEDGER.search(said)
        assert ledger is not None and ledger[1] == "0" and int(ledger[2]) > 0, said
        senders.go()
        assert first.wait(SAFETY) == 0, (senders.tmp / "first.txt").read_text()
    finally:
        ended([first])
    for folder, env in zip(senders.folders, senders.envs, strict=True):
        status = bulletin_status(folder, env)
        assert f"0 pending, 0 sending, {RECIPIENTS} sent, 0 failed" in status, status
        assert "Uncertain (" not in status, status
