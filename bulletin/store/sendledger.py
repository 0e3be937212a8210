"""The send ledger as the send use-case and the dispatcher see it: each operation one short
transaction on the store's engine (ledger.py, claims.py and outcomes.py hold the SQL;
journal.py the sender's journal).

    store.ledger.create(issue, list_name)      # queue the list's active members
    store.ledger.claim(issue, 32, run=...)     # pending -> sending, for this sender
    store.ledger.record(outcomes, run=...)     # its sending -> sent | failed | pending
    store.ledger.uncertain(issue)              # sending, and no sender alive here has them
    store.ledger.of_subscriber(41)             # one person's rows, for `subscribers show`

Writes go through the store's writer engine (on SQLite, one writer at a time); reads through
the plain engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from . import claims, journal, ledger, outcomes
from . import engine as engines
from .ledger import Claim
from .models import LedgerEntry, TestSend, now


@dataclass(frozen=True, slots=True)
class Recovered:
    """What settling the stopped senders' rows did."""

    settled: int
    later: int
    """Of those, messages that had failed for now: pending again, for a later pass."""


@dataclass(frozen=True, slots=True)
class Delivered:
    """One issue's message to one subscriber, as the ledger holds it."""

    id: int
    issue: str
    state: str
    last_reply: str | None
    at: datetime
    """When it was sent, else when its row last changed."""


class SendLedger:
    """One issue's messages to a list, and its test sends, for the sender."""

    def __init__(self, engine: Engine, url: str,
                 list_id: Callable[[Session, str], int]) -> None:
        self.engine = engine
        self.url = url
        self._writer = engine.execution_options(**{engines.WRITE: True})
        self._list_id = list_id

    def create(self, issue: str, list_name: str,
                      audience: ledger.Audience | None = None) -> int:
        """Queue `issue` for every active member of the list, or of its `audience` (idempotent:
        members already queued are left alone). Returns how many rows were added."""
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            list_id = self._list_id(session, list_name)
            return ledger.create(session.connection(), issue, list_id, now(), audience)

    def unqueued(self, issue: str, list_name: str,
                        audience: ledger.Audience | None = None) -> int:
        """Active members of the list (of `audience`) not yet queued for `issue`."""
        with Session(self.engine) as session:
            return ledger.unqueued(session.connection(), issue,
                                   self._list_id(session, list_name), audience)

    def claim(self, issue: str, limit: int, after: int = 0,
                     audience: ledger.Audience | None = None,
                     run: str | None = None) -> list[Claim]:
        """Up to `limit` pending messages (ids above `after`; for `audience` only, if given),
        now marked sending, for this process to send (as `run`, its journal's)."""
        with self._writer.connect() as connection, connection.begin():
            return claims.claim(connection, issue, limit, now(), after, audience, run)

    @property
    def claims_apart(self) -> bool:
        """Whether the dispatcher may claim from a thread of its own while it records from
        another: on PostgreSQL (row locks: a claim and a record touch different rows); not on
        SQLite, whose writers take turns on one lock, waiting by sleeps."""
        return self.engine.dialect.name != "sqlite"

    def journal(self) -> journal.Journal | None:
        """A new journal for a sender of this store's messages (None for a database in
        memory, which nothing outlives anyway)."""
        directory = journal.directory_for(self.url)
        return journal.Journal(directory) if directory is not None else None

    def recover(self) -> Recovered:
        """Settle the rows left `sending` by senders on this machine that have stopped, by
        their journals (store/journal.py): how many rows were settled, and of them how many
        had failed for now."""
        settled = later = 0
        with journal.dead_runs(journal.directory_for(self.url)) as runs:
            for record, paths in runs:
                with self._writer.connect() as connection, connection.begin():
                    counts = outcomes.settle(connection, record.run, record.handed,
                                           record.answered, now(), trusted=record.trusted)
                settled += counts["answered"] + counts["uncertain"] + counts["pending"]
                later += counts["later"]
                for path in paths:
                    path.unlink(missing_ok=True)
        return Recovered(settled, later)

    def record(self, done: Sequence[outcomes.Outcome], run: str | None = None) -> int:
        """Record the outcomes of many claimed messages in one transaction; only those still
        claimed by `run`, if given (a sender's own)."""
        with self._writer.connect() as connection, connection.begin():
            return outcomes.record(connection, done, now(), run)

    def release(self, ids: Sequence[int], run: str) -> int:
        """`run`'s claims it never handed over back to pending, their attempt not counted."""
        with self._writer.connect() as connection, connection.begin():
            return outcomes.release(connection, ids, run, now())

    def failures(self, issue: str) -> list[tuple[str, int]]:
        """(last reply, how many) of the issue's failed messages, most common first."""
        with self.engine.connect() as connection:
            return ledger.failures(connection, issue)

    def record_test_send(self, issue: str, address: str, message_id: str,
                         reply: str | None) -> None:
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            session.add(TestSend(issue=issue, address=address, message_id=message_id,
                                 reply=reply, sent_at=now()))

    def test_sends(self, issue: str) -> list[tuple[str, datetime]]:
        """(address, when) of the test emails sent of `issue`, oldest first."""
        with Session(self.engine) as session:
            rows = session.execute(select(TestSend.address, TestSend.sent_at)
                                   .where(TestSend.issue == issue).order_by(TestSend.id))
            return [(address, at) for address, at in rows]

    def mark_sent(self, delivery_id: int, reply: str) -> None:
        with self._writer.connect() as connection, connection.begin():
            outcomes.mark_sent(connection, delivery_id, reply, now())

    def mark_failed(self, delivery_id: int, reply: str, *, permanent: bool) -> None:
        with self._writer.connect() as connection, connection.begin():
            outcomes.mark_failed(connection, delivery_id, reply, now(), permanent=permanent)

    def counts(self, issue: str, audience: ledger.Audience | None = None,
                      list_name: str | None = None) -> dict[str, int]:
        """Messages of `issue` (to `audience`, and queued from `list_name`, if given) by
        state."""
        with Session(self.engine) as session:
            list_id = None if list_name is None else self._list_id(session, list_name)
            return ledger.counts(session.connection(), issue, audience, list_id)

    def live_runs(self) -> set[str]:
        """The runs of the senders of this store's messages alive on this machine."""
        return journal.live_runs(journal.directory_for(self.url))

    def uncertain(self, issue: str, audience: ledger.Audience | None = None) -> list[Claim]:
        """Messages left `sending` by a sender that is not running here (it stopped
        mid-send, or runs on another machine; to `audience`, if given): they may have gone.
        The rule: store/outcomes.py."""
        live = self.live_runs()
        with self.engine.connect() as connection:
            return outcomes.uncertain(connection, issue, audience, live)

    def being_sent(self, issue: str, audience: ledger.Audience | None = None) -> int:
        """Messages claimed by a sender running on this machine, not yet recorded."""
        live = self.live_runs()
        with self.engine.connect() as connection:
            return outcomes.being_sent(connection, issue, audience, live)

    def requeue(self, issue: str, ids: Sequence[int] | None = None) -> int:
        """The operator's: the issue's uncertain messages (all, or just `ids`) back to
        pending, to be sent again; never those of a sender running here."""
        live = self.live_runs()
        with self._writer.connect() as connection, connection.begin():
            return outcomes.requeue(connection, issue, ids, now(), live)

    def of_subscriber(self, subscriber_id: int) -> list[Delivered]:
        """The ledger rows of one subscriber (every issue queued for them), oldest first."""
        with Session(self.engine) as session:
            rows = session.execute(
                select(LedgerEntry.id, LedgerEntry.issue, LedgerEntry.state,
                       LedgerEntry.last_reply, LedgerEntry.sent_at, LedgerEntry.updated_at)
                .where(LedgerEntry.subscriber_id == subscriber_id)
                .order_by(LedgerEntry.id)).all()
            return [Delivered(row.id, row.issue, row.state, row.last_reply,
                              row.sent_at or row.updated_at) for row in rows]
