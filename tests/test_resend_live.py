"""Senders sharing an issue: what one sender (or the operator) may do to another's claims.

- `--resend-uncertain` sends again only the messages of senders that have stopped: a sender
  running on this machine (its journal lock held) keeps its claims, shown apart in the plan;
  a sender that died without a journal leaves uncertain messages, sent again when asked.
- A sender records and releases only the rows it still holds, never another sender's.
- A message never handed to the server (released at a stop, the relay unreachable) goes back
  to waiting with its attempt not counted.

A sender is held "running" by its journal (the lock it holds while it lives), not by time;
real stores (SQLite and PostgreSQL) and a real SMTP server (or the in-memory transport)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text, update

from bulletin.send import campaign
from bulletin.send.config import DispatchSettings
from bulletin.send.dispatch import Dispatcher
from bulletin.send.files import MemoryTransport
from bulletin.send.outgoing import render_here
from bulletin.send.transport import SENT, Handover, Result, Status
from bulletin.store import engine as engines
from bulletin.store.models import LedgerEntry, table
from bulletin.store.outcomes import Outcome
from bulletin.store.store import Store
from tests.conftest import EXAMPLE
from tests.smtp_server import SECRET_KEY, SmtpServer, ready_to_send
from tests.test_send import bulletin, delivered

pytest_plugins = ["tests.store_fixtures"]
pytestmark = pytest.mark.slow  # whole sends

ISSUE = "cohes3ion/cohes3ion-04"
PEOPLE = [f"reader{n}@example.org" for n in range(8)]
ledger_rows = table(LedgerEntry)


@pytest.fixture
def url(workspace: Path, server: SmtpServer, monkeypatch: pytest.MonkeyPatch,
        database_url: str, tmp_path: Path) -> str:
    """The workspace sending to the test server, its store at `database_url`, the issue
    queued for PEOPLE."""
    ready_to_send(workspace, server.port, monkeypatch, connections=1)
    monkeypatch.setenv("BULLETIN_DATABASE_URL", database_url)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # the senders' journals
    with Store.open(database_url) as store:
        store.create_list("cohes3ion", newsletter="cohes3ion")
        for address in PEOPLE:
            store.subscribe(address, "cohes3ion", source="test")
        assert store.ledger.create(ISSUE, "cohes3ion") == len(PEOPLE)
    return database_url


def rows(store: Store) -> dict[int, tuple[str, str | None, int]]:
    """(state, run, attempts) of each of the issue's rows."""
    with store.engine.connect() as connection:
        return {row.id: (row.state, row.run, row.attempts) for row in connection.execute(
            text("SELECT id, state, run, attempts FROM ledger WHERE issue = :issue"),
            {"issue": ISSUE})}


def test_resend_uncertain_leaves_a_running_senders_messages_alone(
        url: str, workspace: Path, server: SmtpServer) -> None:
    with Store.open(url) as store:
        running = store.ledger.journal()  # a sender running here: it holds its journal lock
        assert running is not None
        try:
            theirs = store.ledger.claim(ISSUE, 2, run=running.run)
            dead = store.ledger.claim(ISSUE, 2)  # a sender that died without a journal
            elsewhere = store.ledger.claim(ISSUE, 1, run="stopped-or-on-another-machine")
            assert {c.email for c in store.ledger.uncertain(ISSUE)} == \
                {c.email for c in dead + elsewhere}
            assert store.ledger.being_sent(ISSUE) == 2
            code, output = bulletin("send", str(workspace / "issues" / EXAMPLE.name),
                                    "--resend-uncertain", "--yes")
            after = rows(store)
        finally:
            running.close()
    said = " ".join(output.split())
    assert code == 0, output
    assert "being sent by another sender: 2" in said, output
    assert "Uncertain: 3 message(s) may or may not have gone" in said, output
    assert "they will be sent again" in said, output
    held = {claim.email for claim in theirs}
    assert delivered(server) == Counter(p for p in PEOPLE if p not in held)  # nobody twice
    assert all(after[claim.id][:2] == ("sending", running.run) for claim in theirs)


def test_the_plan_shows_a_running_senders_messages_apart(
        url: str, workspace: Path, server: SmtpServer) -> None:
    with Store.open(url) as store:
        running = store.ledger.journal()
        assert running is not None
        try:
            store.ledger.claim(ISSUE, 3, run=running.run)
            code, output = bulletin("send", str(workspace / "issues" / EXAMPLE.name),
                                    "--dry-run")
            status = bulletin("status", str(workspace / "issues" / EXAMPLE.name))[1]
        finally:
            running.close()
        # stopped now (its lock free, its journal gone without a word): uncertain
        uncertain = store.ledger.uncertain(ISSUE)
    said = " ".join(output.split())
    assert code == 0, output
    assert "being sent by another sender: 3" in said and "Uncertain:" not in said, output
    assert "Uncertain (" not in status, status
    assert len(uncertain) == 3


def test_a_sender_records_and_releases_only_its_own_claims(url: str) -> None:
    with Store.open(url) as store:
        mine = store.ledger.claim(ISSUE, 2, run="mine")
        ids = [claim.id for claim in mine]
        assert store.ledger.release(ids, "another") == 0
        assert store.ledger.record([Outcome(i, "sent", "250 ok") for i in ids],
                                   run="another") == 0
        assert all(rows(store)[i] == ("sending", "mine", 1) for i in ids)
        assert store.ledger.release(ids, "mine") == 2
        assert all(rows(store)[i] == ("pending", None, 0) for i in ids)


def dispatcher(store: Store, workspace: Path, transport: MemoryTransport,
               settings: DispatchSettings | None = None) -> Dispatcher:
    outgoing = render_here(workspace / "issues" / EXAMPLE.name)
    return Dispatcher(store.ledger, ISSUE, campaign.templates(outgoing, SECRET_KEY.encode()),
                      outgoing.first.language, "cohes3ion@example.gov.wales",
                      lambda: transport, settings or DispatchSettings(connections=1))


def test_a_senders_outcome_never_overwrites_a_row_another_sender_has_claimed(
        url: str, workspace: Path) -> None:
    """While the sender sends PEOPLE[0]'s message, another sender takes that row (as one on
    another machine may, once the operator has sent it again): the first one's outcome must
    leave the other's claim as it is."""
    with Store.open(url) as store:
        writer = engines.writer(store.engine)
        with store.engine.connect() as connection:
            taken_id = connection.scalar(text(
                "SELECT ledger.id FROM ledger JOIN subscribers "
                "ON subscribers.id = ledger.subscriber_id WHERE email = :email"),
                {"email": PEOPLE[0]})

        def outcome(_sender: str, recipient: str, _data: bytes) -> Result:
            if recipient == PEOPLE[0]:
                with writer.begin() as connection:
                    connection.execute(update(ledger_rows).where(ledger_rows.c.id == taken_id)
                                       .values(run="another"))
            return SENT

        report = asyncio.run(dispatcher(store, workspace, MemoryTransport(outcome)).run())
        counts = store.ledger.counts(ISSUE)
        taken = [v for v in rows(store).values() if v[1] == "another"]
    assert report.sent == len(PEOPLE)
    assert counts["sent"] == len(PEOPLE) - 1 and counts["sending"] == 1, counts
    assert taken == [("sending", "another", 1)]


def test_messages_never_handed_over_do_not_count_as_attempts(
        url: str, workspace: Path) -> None:
    """The relay unreachable (the send stops at once): nobody's message was tried, neither
    the one that could not be handed over nor those claimed behind it."""
    down = Result(Status.TEMPORARY, 0, "connection refused", unreachable=True)
    with Store.open(url) as store:
        report = asyncio.run(dispatcher(store, workspace, MemoryTransport(lambda *_: down),
                                        DispatchSettings(connections=1, max_outage=0)).run())
        after = rows(store)
    assert report.stopped is not None and report.unreachable >= 1
    assert set(after.values()) == {("pending", None, 0)}, after


class StoppingTransport(MemoryTransport):
    """Takes its first message only once it has stopped the send (as Ctrl-C does) and the
    dispatcher has put back what no worker had started: waits for that progress."""

    def __init__(self) -> None:
        super().__init__()
        self.dispatcher: Dispatcher | None = None

    async def send(self, sender: str, recipient: str, data: bytes, *,
                   stuffed: bool = False, handover: Handover | None = None) -> Result:
        running = self.dispatcher
        assert running is not None
        if not running.stop.is_set():
            running.halt("interrupted")
            while running._outstanding > 1:  # the others released: only this one is out
                await asyncio.sleep(0)
        return await super().send(sender, recipient, data, stuffed=stuffed,
                                  handover=handover)


def test_messages_released_at_a_stop_do_not_count_as_attempts(
        url: str, workspace: Path) -> None:
    """Stopped (as by Ctrl-C) while its first message goes: the claims behind it go back to
    waiting, not tried."""
    with Store.open(url) as store:
        transport = StoppingTransport()
        running = transport.dispatcher = dispatcher(store, workspace, transport)
        report = asyncio.run(running.run())
        after = rows(store)
    assert report.stopped == "interrupted" and report.sent == 1
    assert sorted(after.values()) == sorted(
        [("sent", None, 1)] + [("pending", None, 0)] * (len(PEOPLE) - 1)), after


def test_the_summary_counts_a_running_senders_messages_apart_not_uncertain(
        url: str, workspace: Path, server: SmtpServer) -> None:
    """The end-of-run summary: the rows a sender still running here holds are its own, not
    uncertain; only those of a stopped sender are."""
    with Store.open(url) as store:
        running = store.ledger.journal()
        assert running is not None
        try:
            store.ledger.claim(ISSUE, 2, run=running.run)
            store.ledger.claim(ISSUE, 1, run="stopped-or-on-another-machine")
            code, output = bulletin("send", str(workspace / "issues" / EXAMPLE.name), "--yes")
        finally:
            running.close()
    said = " ".join(output.split())
    assert code == 0, output
    assert f"the ledger now holds {len(PEOPLE) - 3} sent, 0 failed, 0 waiting, 1 uncertain, " \
        "2 being sent by another sender" in said, output
