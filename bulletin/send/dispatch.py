"""The dispatcher: one issue to one list, through several connections, with the ledger as
the record of what happened.

One fixed sequence, per message: claim (pending → sending) → personalise → rate limit → send →
record (sent | failed | pending again | uncertain). At most `window` messages are with the
workers and not yet answered (without a journal: not yet recorded); with a journal, claims are
taken `CLAIM_AHEAD` windows at a time, the rest waiting in a backlog, and the ledger's claims
run beside its other calls where the database allows (PostgreSQL). The journal
(store/journal.py) notes each message as it is handed to the server and each reply: after a
crash only the messages on the wire (handed over, not answered) stay uncertain once the store
is opened again, the rest go back to pending (a clean stop puts them back itself), and the
uncertain are resent only when asked. (Without a journal every claimed row of a crashed run
stays uncertain: it claims a window.) Temporary failures go back to pending for a later pass,
after a delay; a message never handed over goes back with its attempt not counted. The run
records and releases only the rows it still holds (store/outcomes.py), never another sender's;
at its end it settles those of a sender that died on this machine (by its journal) and sends
what that one never handed over."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import time
import uuid
from asyncio import CancelledError
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from ..asyncrun import until
from ..errors import SendError
from ..languages import UNKNOWN
from ..message import Recipient, verp_address
from ..personalise import MessageTemplate, date_header
from ..store.ledger import Audience, Claim
from ..store.outcomes import Outcome
from .config import CLAIM_AHEAD, DispatchSettings
from .ledger import Ledger
from .outage import Outage
from .ratelimit import RateLimit
from .report import Progress, Report, reason
from .runjournal import RunJournal
from .transport import Result, Status, Transport

log = logging.getLogger(__name__)
_P = ParamSpec("_P")
_T = TypeVar("_T")


class Dispatcher:
    """One run: claims from `ledger` (only the calls of send/ledger.py's Ledger), sends
    through connections from `transport`, records each outcome."""

    def __init__(self, ledger: Ledger, issue: str, templates: dict[str, MessageTemplate],
                 default_language: str, envelope_from: str,
                 transport: Callable[[], Transport], settings: DispatchSettings,
                 progress: Progress | None = None, audience: Audience | None = None) -> None:
        self.ledger = ledger
        self.issue = issue
        self.templates = templates
        self.fallback = templates.get(UNKNOWN) or templates[default_language]  # lang unknown
        self.envelope_from = envelope_from
        self.transport = transport
        self.settings = settings
        self.progress = progress or (lambda report: None)
        self.audience = audience
        """Only these subscribers' messages (one language's edition), if given."""
        self.report = Report()
        self.stop = asyncio.Event()
        self._limit = RateLimit(settings.per_second, settings.per_hour)
        self._queue: asyncio.Queue[Claim | None] = asyncio.Queue()
        self._backlog: collections.deque[Claim] = collections.deque()  # not yet with a worker
        self._outcomes: list[Outcome] = []
        self._outstanding = 0  # claims given to the workers and not yet recorded
        self._answered = 0  # of those, the ones answered (on their way to the ledger)
        self._room = asyncio.Event()
        self._due = asyncio.Event()
        self._finished = False
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulletin-ledger")
        """The ledger's calls (but claims apart, see `_claims`), one at a time in the order
        made, on one thread of their own (not the loop's pool: one thread's memory, and a call
        whose caller was cancelled still ends before the next begins)."""
        self._claims = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulletin-claims") \
            if ledger.claims_apart else self._db
        """The claims' thread: one of their own where they may run beside the other calls
        (a large claim then holds up no record); else the ledger's."""
        self._consecutive = 0
        self._journal: RunJournal | None = None
        self._run = uuid.uuid4().hex
        """This run, as its claims name it (its journal's, when it has one): it records
        and releases only rows it still holds."""
        self._live: set[int] = set()
        """Claims handed to the server and not yet answered."""
        self._outage = Outage(settings)
        self._flushing = asyncio.Lock()
        """One write of outcomes at a time: a rotated journal then carries every answer
        not yet recorded."""
        self._claiming: asyncio.Future[list[Claim]] | None = None
        """The claim under way: if the run is cancelled meanwhile, its rows are put back."""
        self._last_flush = self._started = time.monotonic()

    def halt(self, reason: str) -> None:
        """Stop claiming; what is in flight finishes and is recorded."""
        if not self.stop.is_set():
            self.report.stopped = reason
            self.stop.set()
            self._room.set()

    async def run(self) -> Report:
        started = self._started = time.monotonic()
        try:
            if (journal := self.ledger.journal()) is not None:
                self._journal = RunJournal(journal)
                self._run = journal.run
        except OSError as error:  # without one, a crash leaves every claimed row uncertain
            log.warning("no send journal (%s): after a crash, every message claimed and not "
                        "recorded will be uncertain", error)
        workers = [asyncio.create_task(self._worker()) for _ in range(self.settings.connections)]
        writer = asyncio.create_task(self._writer())
        recorded = False
        try:
            await self._claim_loop([*workers, writer])
        finally:
            try:
                await self._release_unstarted()
                for _ in workers:
                    self._queue.put_nowait(None)
                results = await asyncio.gather(*workers, return_exceptions=True)
                self._finished = True
                self._due.set()
                results.append((await asyncio.gather(writer, return_exceptions=True))[0])
                await self._flush(force=True)
                recorded = True
            finally:
                self._db.shutdown(wait=False)
                self._claims.shutdown(wait=False)
                if self._journal is not None:  # kept, for the next open, unless all is recorded
                    self._journal.close(remove=recorded and not self._live)
            self.report.seconds = time.monotonic() - started
            self.progress(self.report)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, CancelledError):
                raise result
        return self.report

    async def _db_call(self, function: Callable[_P, _T], *args: _P.args,
                       **kwargs: _P.kwargs) -> _T:
        """`function` (a ledger call other than a claim) on the ledger's thread, after those
        called before it (even those whose callers were cancelled meanwhile)."""
        return await asyncio.get_running_loop().run_in_executor(
            self._db, functools.partial(function, *args, **kwargs))

    async def _claim(self, limit: int, after: int) -> list[Claim]:
        """The next claim, on the claims' thread (kept, should the run be cancelled meanwhile,
        for its rows to be put back)."""
        self._claiming = asyncio.get_running_loop().run_in_executor(self._claims, functools.partial(
            self.ledger.claim, self.issue, limit, after, self.audience, self._run))
        claims = await asyncio.shield(self._claiming)
        self._claiming = None
        return claims

    async def _claim_loop(self, workers: list[asyncio.Task[None]]) -> None:
        after, passes, exhausted, window = 0, 0, False, self.settings.in_flight
        ahead = window * CLAIM_AHEAD if self._journal is not None else window
        threshold = max(1, window // 4, ahead - 2 * window)
        while not self.stop.is_set():
            if any(w.done() for w in workers):
                return  # a worker or the writer failed for good: stop
            self._hand_out()
            held = self._outstanding + len(self._backlog)  # claimed, not yet recorded
            room = ahead - held
            if not exhausted and room >= min(threshold, ahead):
                claims = await self._claim(room, after)
                if claims:
                    after = claims[-1].id
                    self._backlog.extend(claims)
                    continue
                exhausted = True  # this pass has claimed all it will find
            if held:
                await self._idle()
                continue
            await self._flush(force=True)
            counts = await self._db_call(self.ledger.counts, self.issue, self.audience)
            if not counts.get("pending"):
                recovered = await self._db_call(self.ledger.recover) \
                    if counts.get("sending") else None
                if recovered is None or not recovered.settled:
                    return
                if not recovered.later:  # what a dead sender never handed over: sent now
                    after, exhausted = 0, False
                    continue
                # its temporary failures wait for the next pass, as this run's own do
                counts = await self._db_call(self.ledger.counts, self.issue, self.audience)
                if not counts.get("pending"):  # another sender has taken them meanwhile
                    continue
            if passes >= len(self.settings.retry_delays):
                self.report.deferred = counts["pending"]
                self.halt(f"{counts['pending']} message(s) still failing for now after "
                          f"{passes + 1} passes; run `bulletin send` again later")
                return
            await until(self.stop, self.settings.retry_delays[passes])
            passes, after, exhausted = passes + 1, 0, False

    async def _idle(self) -> None:
        """Wait for room in the window; meanwhile write what has come back, so the last
        outcomes of a run (or of a quiet spell) are recorded without a new result."""
        self._room.clear()
        await until(self._room, self.settings.flush_every)
        await self._flush()

    async def _worker(self) -> None:
        """One connection: as many senders on it as it keeps busy (two with PIPELINING: one
        waits for its message's last reply while the next one writes)."""
        async with self.transport() as transport:
            depth = max(1, getattr(transport, "depth", 1))
            # Not a TaskGroup: when one sender fails, the other finishes its message and
            # records it, rather than being cancelled half-way (which would leave it uncertain).
            results = await asyncio.gather(*(self._sender(transport) for _ in range(depth)),
                                           return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _sender(self, transport: Transport) -> None:
        queue, limit = self._queue, self._limit
        while (claim := queue.get_nowait() if queue.qsize() else await queue.get()) is not None:
            if not await limit.wait(self.stop):  # stopped while it waited: not sent
                self._add(Outcome(claim.id, "unsent", "not sent: the send was stopped"))
                continue
            try:
                template = self.templates.get(claim.language or UNKNOWN) or self.fallback
                recipient = Recipient(str(claim.subscriber_id), claim.email, claim.name or "")
                # The delivery token: in the Message-ID, and (VERP) the envelope sender.
                token = template.signer.sign_delivery(claim.id)
                _, data = template.message(recipient, date_header(), stuffed=True,
                                           token=token)
                envelope = verp_address(self.envelope_from, token) if template.verp \
                    else self.envelope_from
            except Exception as exc:  # this one's message cannot be made: they fail, not the run
                self._handle(claim, Result(Status.PERMANENT, 0, "not sent: its message could "
                                           f"not be made: {reason(exc)}"))
                continue
            await self._deliver(transport, claim, data, envelope)
        self._queue.put_nowait(None)  # for the other senders on this connection

    async def _deliver(self, transport: Transport, claim: Claim, data: bytes,
                       envelope: str) -> None:
        """One claimed message through `transport`, its outcome handled; while the relay
        cannot be reached, tried again (the relay's state, not the recipient's)."""
        handed = False
        journal = self._journal

        def handover() -> None:  # just before the end of its data goes out
            nonlocal handed
            if journal is not None:
                journal.handed(claim.id)
            handed = True
            self._live.add(claim.id)

        tries = 0
        while True:
            try:
                result = await transport.send(envelope, claim.email, data,
                                              stuffed=True, handover=handover)
            except SendError as exc:  # the settings are wrong: this one was not sent
                self._add(Outcome(claim.id, "pending" if handed else "unsent",
                                  f"not sent: {exc}"))
                self.halt(str(exc))
                raise
            except Exception as exc:  # a fault of ours: this message alone, the run goes on
                result = Result(Status.UNCERTAIN, 0, f"{reason(exc)} after the message was "
                                "handed to the server") if handed else \
                    Result(Status.PERMANENT, 0, f"not sent: {reason(exc)}")
            if not result.unreachable:
                self._outage.reached()
                self._handle(claim, result)
                return
            if not await self._relay_back(result, tries):
                self._add(Outcome(claim.id, "unsent", f"not sent: the relay was "
                                  f"unreachable: {result.reply}"))
                self._due.set()
                return
            tries += 1

    async def _relay_back(self, result: Result, tries: int) -> bool:
        """After a connection to the relay failed: wait a while (longer each time), and say
        whether to try again: not once the relay has been unreachable for `max_outage`
        seconds (the send stops then), nor when the send is stopping."""
        down, delay = self._outage.failed(tries)
        self.report.unreachable += 1
        self.progress(self.report)
        if down >= self.settings.max_outage:
            self.halt(f"the SMTP relay has been unreachable for {down:.0f} s (the last "
                      f"attempt: {result.reply}); run `bulletin send` again when it is back")
        if self.stop.is_set():
            return False
        await until(self.stop, delay)
        return not self.stop.is_set()

    def _hand_out(self) -> None:
        """Claims from the backlog to the workers while the window has room. It holds those
        not yet answered; without a journal, those not yet recorded too (with one, a crash
        settles the answered from it: the ledger's pace then holds up no sending)."""
        busy = self._outstanding - self._answered if self._journal is not None \
            else self._outstanding
        backlog, window = self._backlog, self.settings.in_flight
        while backlog and busy < window and not self.stop.is_set():
            self._queue.put_nowait(backlog.popleft())
            self._outstanding += 1
            busy += 1

    def _add(self, outcome: Outcome) -> None:
        """One message's outcome, for the ledger's next write."""
        self._outcomes.append(outcome)
        self._answered += 1

    def _outcome(self, outcome: Outcome) -> None:
        self._live.discard(outcome.id)
        if self._journal is not None:
            self._journal.answered(outcome)
        self._add(outcome)

    def _handle(self, claim: Claim, result: Result) -> None:
        report = self.report
        reply = f"{result.code} {result.reply}".strip() if result.code else result.reply
        if result.status is Status.SENT:
            self._consecutive = 0
            report.sent += 1
            self._outcome(Outcome(claim.id, "sent", reply))
        else:
            self._consecutive += 1
            report.tally(reply)
            if result.status is Status.UNCERTAIN:
                report.uncertain += 1  # left `sending`: it may have gone
                self._outcome(Outcome(claim.id, "uncertain", f"uncertain: {reply}"))
            elif result.status is Status.PERMANENT or claim.attempts >= \
                    self.settings.max_attempts:
                report.failed += 1
                if result.status is not Status.PERMANENT:
                    reply = f"gave up after {claim.attempts} attempts: {reply}"
                self._outcome(Outcome(claim.id, "failed", reply))
            else:
                self._outcome(Outcome(claim.id, "pending", reply))
            if self._consecutive >= self.settings.max_consecutive_failures:
                self.halt(f"stopped after {self._consecutive} failures in a row; the last: "
                          f"{reply}")
        if len(self._outcomes) >= self.settings.in_flight // 2:
            self._due.set()
        if self._backlog:  # its place in the window to the next (see `_hand_out`)
            self._hand_out()

    async def _writer(self) -> None:
        """Writes outcomes to the ledger as they come back (every `in_flight` / 2 of them, or
        every `flush_every` seconds), so that no worker waits for the database."""
        while not self._finished:
            await until(self._due, self.settings.flush_every)
            self._due.clear()
            await self._flush()

    async def _flush(self, force: bool = False) -> None:
        async with self._flushing:
            due = (len(self._outcomes) >= self.settings.in_flight // 2
                   or time.monotonic() - self._last_flush >= self.settings.flush_every)
            if not self._outcomes or not (force or due):
                return
            outcomes, self._outcomes = self._outcomes, []
            self._last_flush = time.monotonic()
            try:
                await self._db_call(self.ledger.record, outcomes, self._run)
            except BaseException:  # still to be recorded (again is harmless: only rows `sending`)
                self._outcomes[:0] = outcomes
                raise
            self._outstanding -= len(outcomes)
            self._answered -= len(outcomes)
            if self._journal is not None:
                self._journal.recorded(self._live, self._outcomes)
            self._room.set()
            self.report.seconds = time.monotonic() - self._started
            self.progress(self.report)

    async def _release_unstarted(self) -> None:
        """Claimed messages no worker picked up go back to pending, their attempt not
        counted: they were never sent."""
        queued = [claim.id for claim in (self._queue.get_nowait()
                                         for _ in range(self._queue.qsize())) if claim is not None]
        ids, self._backlog = [c.id for c in self._backlog] + queued, collections.deque()
        claiming, self._claiming = self._claiming, None
        if claiming is not None:  # the run was cancelled during this claim: its rows too
            with contextlib.suppress(Exception):
                ids += [claim.id for claim in await claiming]
        if ids:
            await self._db_call(self.ledger.release, ids, self._run)
            self._outstanding -= len(queued)
