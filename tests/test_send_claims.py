"""Claims sized apart from the window: a run with a journal claims several windows of messages
at once (fewer, larger claims: each costs about the same whatever its size), still hands at
most `window` to its workers, and puts back what it claimed and never handed over when it
stops. (After a crash the journal does the same: tests/test_send_journal.py.)

Real store (a SQLite file, so the run has a journal), the real dispatcher, the in-memory
transport; the claims are counted as the store answers them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bulletin.send import campaign
from bulletin.send.config import DispatchSettings
from bulletin.send.dispatch import CLAIM_AHEAD, Dispatcher
from bulletin.send.files import MemoryTransport
from bulletin.send.outgoing import render_here
from bulletin.send.transport import Handover, Result
from bulletin.store import journal
from bulletin.store.journal import read
from bulletin.store.ledger import Claim
from bulletin.store.outcomes import Outcome
from bulletin.store.store import Store
from tests.conftest import EXAMPLE
from tests.smtp_server import SECRET_KEY
from tests.test_journal import logs
from tests.waiting import SAFETY, wait_for

pytest_plugins = ["tests.store_fixtures"]

ISSUE = "cohes3ion/cohes3ion-04"
WINDOW = 16


class CountedLedger:
    """The store's ledger, its claims and records counted; what is claimed and not recorded
    is followed."""

    def __init__(self, store: Store) -> None:
        self.ledger = store.ledger
        self.claims: list[int] = []
        self.open: set[int] = set()
        self.most_open = 0

    def claim(self, *args: Any, **kwargs: Any) -> list[Claim]:
        claims = self.ledger.claim(*args, **kwargs)
        self.claims.append(len(claims))
        self.open |= {claim.id for claim in claims}
        self.most_open = max(self.most_open, len(self.open))
        return claims

    def record(self, done: Sequence[Outcome], run: str | None = None) -> int:
        self.open -= {outcome.id for outcome in done}
        return self.ledger.record(done, run)

    def release(self, ids: Sequence[int], run: str) -> int:
        self.open -= set(ids)
        return self.ledger.release(ids, run)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ledger, name)


class WindowTransport(MemoryTransport):
    """Takes every message; notes how many were with the workers and not yet answered at
    each send (what the window bounds, with a journal to keep the answers)."""

    def __init__(self) -> None:
        super().__init__()
        self.dispatcher: Dispatcher | None = None
        self.most_out = 0

    async def send(self, sender: str, recipient: str, data: bytes, *,
                   stuffed: bool = False, handover: Handover | None = None) -> Result:
        assert self.dispatcher is not None
        running = self.dispatcher
        self.most_out = max(self.most_out, running._outstanding - running._answered)
        await asyncio.sleep(0)  # let the others in, as a socket would
        return await super().send(sender, recipient, data, stuffed=stuffed, handover=handover)


def queued(workspace: Path, count: int, url: str | None = None) -> str:
    url = url or f"sqlite:///{workspace / 'bulletin.db'}"
    people = workspace / "people.csv"
    people.write_text("email\n" + "".join(f"reader{n:05d}@example.org\n" for n in range(count)))
    with Store.open(url) as store:
        store.create_list("cohes3ion", newsletter="cohes3ion")
        store.import_csv(people, "cohes3ion")
        assert store.ledger.create(ISSUE, "cohes3ion") == count
    return url


def dispatcher(ledger: CountedLedger, workspace: Path, transport: MemoryTransport,
               settings: DispatchSettings | None = None) -> Dispatcher:
    (workspace / "issues" / EXAMPLE.name).write_text(EXAMPLE.read_text())
    outgoing = render_here(workspace / "issues" / EXAMPLE.name)
    return Dispatcher(ledger, ISSUE, campaign.templates(outgoing, SECRET_KEY.encode()),
                      outgoing.first.language, "cohes3ion@example.gov.wales",
                      lambda: transport, settings or DispatchSettings(connections=1, window=WINDOW))


def test_a_thousand_messages_take_few_claims_and_the_window_still_holds(
        workspace: Path) -> None:
    url = queued(workspace, 1000)
    with Store.open(url) as store:
        ledger, transport = CountedLedger(store), WindowTransport()
        running = transport.dispatcher = dispatcher(ledger, workspace, transport)
        report = asyncio.run(running.run())
        counts = store.ledger.counts(ISSUE)
    assert report.sent == len(transport.messages) == 1000 and counts["sent"] == 1000
    claimed = [size for size in ledger.claims if size]
    # Before, a claim took what the window had room for: 4 to 16 rows, 60 to 250 claims.
    assert len(ledger.claims) <= 1000 // (2 * WINDOW) + 3, ledger.claims
    assert min(claimed[:-1]) >= 2 * WINDOW, ledger.claims
    assert ledger.most_open <= CLAIM_AHEAD * WINDOW
    assert transport.most_out <= WINDOW


class StoppingTransport(WindowTransport):
    """Stops the send (as Ctrl-C does) while its first message goes, once many more are
    claimed than the window holds."""

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


@pytest.mark.parametrize("people", [200])
def test_a_stop_puts_back_everything_claimed_and_not_handed_over(
        workspace: Path, people: int) -> None:
    url = queued(workspace, people)
    with Store.open(url) as store:
        ledger, transport = CountedLedger(store), StoppingTransport()
        running = transport.dispatcher = dispatcher(ledger, workspace, transport)
        report = asyncio.run(running.run())
        with store.engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT state, attempts, run, COUNT(*) FROM ledger WHERE issue = :issue "
                "GROUP BY state, attempts, run ORDER BY state"), {"issue": ISSUE}).all()
    assert report.stopped == "interrupted" and report.sent == 1
    assert ledger.claims[0] > WINDOW  # more claimed than the workers were handed
    assert [tuple(row) for row in rows] == [("pending", 0, None, people - 1),
                                           ("sent", 1, None, 1)]
    assert not ledger.open


class ThreadedLedger(CountedLedger):
    """Notes the thread each of the ledger's calls runs on (all of them, and by call), and how
    many ran at once."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.threads: set[int] = set()
        self.by_call: dict[str, set[int]] = {}
        self.inside = self.most_inside = 0
        self._lock = threading.Lock()

    def _call(self, name: str, *args: Any) -> Any:
        with self._lock:
            self.threads.add(threading.get_ident())
            self.by_call.setdefault(name, set()).add(threading.get_ident())
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        try:
            return getattr(super(), name)(*args) if name in ("claim", "record", "release") \
                else getattr(self.ledger, name)(*args)
        finally:
            with self._lock:
                self.inside -= 1

    def claim(self, *args: Any, **kwargs: Any) -> list[Claim]:
        return self._call("claim", *args)  # type: ignore[no-any-return]

    def record(self, done: Sequence[Outcome], run: str | None = None) -> int:
        return self._call("record", done, run)  # type: ignore[no-any-return]

    def release(self, ids: Sequence[int], run: str) -> int:
        return self._call("release", ids, run)  # type: ignore[no-any-return]

    def counts(self, *args: Any) -> dict[str, int]:
        return self._call("counts", *args)  # type: ignore[no-any-return]


def test_on_sqlite_the_ledger_calls_run_one_at_a_time_on_one_thread_of_their_own(
        workspace: Path) -> None:
    """Its database's caches stay in that thread's memory, not spread over a pool's."""
    url = queued(workspace, 300)
    with Store.open(url) as store:
        ledger, transport = ThreadedLedger(store), WindowTransport()
        running = transport.dispatcher = dispatcher(ledger, workspace, transport)
        report = asyncio.run(running.run())
    assert report.sent == 300
    assert len(ledger.claims) > 2  # several calls of each kind
    assert len(ledger.threads) == 1 and threading.get_ident() not in ledger.threads
    assert ledger.most_inside == 1


class GatedLedger(CountedLedger):
    """Its first `gated` records each wait for their gate (a slow database); notes what each
    record was given; the first one raises `fail`, if given, once let go."""

    def __init__(self, store: Store, gated: int, fail: Exception | None = None) -> None:
        super().__init__(store)
        self.gates = [threading.Event() for _ in range(gated)]
        self.entered: list[list[int]] = []
        self.fail = fail

    def record(self, done: Sequence[Outcome], run: str | None = None) -> int:
        number = len(self.entered)
        self.entered.append([outcome.id for outcome in done])
        if number < len(self.gates) and not self.gates[number].wait(SAFETY):
            raise TimeoutError("the test never let the record go")
        if number == 0 and self.fail is not None:
            raise self.fail
        return super().record(done, run)


def test_with_a_journal_the_ledgers_pace_holds_up_no_sending(workspace: Path) -> None:
    """The answers are in the journal: while the ledger is slow to record them, the workers
    go on with what was claimed ahead (and no further), rather than stopping once a window
    of messages waits to be recorded."""
    url = queued(workspace, 300)
    with Store.open(url) as store:
        ledger, transport = GatedLedger(store, gated=1), WindowTransport()
        running = transport.dispatcher = dispatcher(ledger, workspace, transport)
        thread = threading.Thread(target=asyncio.run, args=(running.run(),))
        thread.start()
        try:
            wait_for(lambda: ledger.entered, "the first record")
            wait_for(lambda: len(transport.messages) == CLAIM_AHEAD * WINDOW,
                     "the messages claimed ahead to be sent while the record waits")
            assert ledger.claims == [CLAIM_AHEAD * WINDOW]  # nothing more claimed meanwhile
        finally:
            ledger.gates[0].set()
            thread.join(SAFETY)
        assert not thread.is_alive()
        assert store.ledger.counts(ISSUE)["sent"] == 300
    assert transport.most_out <= WINDOW


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_on_postgresql_claims_run_beside_the_records_on_a_thread_of_their_own(
        workspace: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large claim does not hold up recording (each locks only its own rows)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(workspace / "state"))  # the journal
    url = queued(workspace, 300, database_url)
    with Store.open(url) as store:
        ledger, transport = ThreadedLedger(store), WindowTransport()
        running = transport.dispatcher = dispatcher(ledger, workspace, transport)
        report = asyncio.run(running.run())
        assert store.ledger.counts(ISSUE)["sent"] == 300
    assert report.sent == 300 and len(ledger.claims) > 2
    claims, records = ledger.by_call["claim"], ledger.by_call["record"]
    assert len(claims) == len(records) == 1 and claims != records
    assert threading.get_ident() not in claims | records


def test_a_rotated_journal_carries_every_answer_not_yet_recorded(
        workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While the ledger records one batch, the next waits to be taken (one write of outcomes
    at a time): when the journal is started afresh after the first, it carries the answers of
    the second, which a crash before that is recorded must find (else they would be sent
    again)."""
    monkeypatch.setattr(journal, "ROTATE_BYTES", 1)  # started afresh after every record
    url = queued(workspace, 300)
    with Store.open(url) as store:
        ledger, transport = GatedLedger(store, gated=2), WindowTransport()
        running = transport.dispatcher = dispatcher(ledger, workspace, transport)
        thread = threading.Thread(target=asyncio.run, args=(running.run(),))
        thread.start()
        try:
            ahead = CLAIM_AHEAD * WINDOW
            wait_for(lambda: ledger.entered, "the first record")
            # Everything claimed is sent and answered while the first record waits, and a
            # second write of outcomes is due: it waits its turn (were the writes not one at a
            # time, it would have taken the rest of the answers).
            def second_write_due() -> bool:
                waiting = running._flushing._waiters  # type: ignore[attr-defined]
                return len(transport.messages) == ahead and (bool(waiting) or not
                                                             running._outcomes)

            wait_for(second_write_due, "everything claimed answered, and a second write")
            directory = workspace / "bulletin.db.journal"
            before = logs(directory, running._run)
            ledger.gates[0].set()
            second = wait_for(lambda: ledger.entered[1] if len(ledger.entered) > 1 else None,
                              "the second record")
            wait_for(lambda: logs(directory, running._run) != before, "the journal afresh")
            carried = read(running._run, logs(directory, running._run)).answered
            assert set(second) <= set(carried), "answers not recorded are missing"
        finally:
            for gate in ledger.gates:
                gate.set()
            thread.join(SAFETY)
        assert store.ledger.counts(ISSUE)["sent"] == 300


def test_a_batch_whose_record_failed_is_recorded_by_the_last_write(workspace: Path) -> None:
    """The database fails one write of outcomes: the run stops with the error, and its
    closing write records that batch too, rather than leaving its rows uncertain (with the
    journal, which knew their answers, removed)."""
    url = queued(workspace, 100)
    with Store.open(url) as store:
        ledger = GatedLedger(store, gated=0, fail=RuntimeError("the database went away"))
        transport = WindowTransport()
        running = transport.dispatcher = dispatcher(ledger, workspace, transport)
        with pytest.raises(RuntimeError, match="went away"):
            asyncio.run(running.run())
        counts = store.ledger.counts(ISSUE)
    assert counts["sending"] == 0, counts
    assert counts["sent"] == len(transport.messages) > len(ledger.entered[0])


def test_a_dead_senders_failures_for_now_wait_for_a_later_pass(workspace: Path) -> None:
    """A sender on this machine stops (its journal left, unlocked) while this one runs: once
    this run finds nothing more to claim it settles that one's rows. A message the dead one
    was told to try later is not sent again at once: it waits for the next pass, as this
    run's own temporary failures do, and what the dead one never handed over waits with it
    (with no pass left, both are counted deferred)."""
    url = queued(workspace, 6)
    with Store.open(url) as store:
        dead = store.ledger.journal()
        assert dead is not None
        later, never = store.ledger.claim(ISSUE, 2, run=dead.run)
        dead.handed(later.id)
        dead.answered(later.id, "pending", "451 4.3.0 try again later")
        dead.flush()
        dead.close(remove=False)
        transport = MemoryTransport()
        run = dispatcher(CountedLedger(store), workspace, transport,
                         DispatchSettings(connections=1, window=WINDOW, retry_delays=()))
        report = asyncio.run(run.run())
        counts = store.ledger.counts(ISSUE)
    sent = {message.recipient for message in transport.messages}
    assert {later.email, never.email}.isdisjoint(sent) and len(sent) == 4, sent
    assert report.deferred == counts["pending"] == 2 and counts["sent"] == 4, (report, counts)
    assert "still failing for now" in (report.stopped or ""), report


def test_a_stop_ends_a_wait_for_the_rate_limit_and_that_message_stays_unsent(
        workspace: Path) -> None:
    """At one message an hour (the lowest limit), the second waits for an hour; a stop
    (Ctrl-C, SIGTERM) ends the wait at once, and that message and the rest go back to
    pending, their attempt not counted."""
    url = queued(workspace, 3)
    with Store.open(url) as store:
        transport = MemoryTransport()
        run = dispatcher(CountedLedger(store), workspace, transport,
                         DispatchSettings(connections=1, window=WINDOW, per_second=1 / 3600))

        async def stopped_after_the_first() -> None:
            sending = asyncio.create_task(run.run())
            deadline = asyncio.get_running_loop().time() + SAFETY
            while not transport.messages and not sending.done():
                assert asyncio.get_running_loop().time() < deadline, "nothing was sent"
                await asyncio.sleep(0.01)
            run.halt("interrupted")
            await asyncio.wait_for(sending, SAFETY)

        asyncio.run(stopped_after_the_first())
        with store.engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT state, attempts FROM ledger ORDER BY id")).all()
    assert len(transport.messages) == 1
    assert sorted(map(tuple, rows)) == [("pending", 0), ("pending", 0), ("sent", 1)], rows
