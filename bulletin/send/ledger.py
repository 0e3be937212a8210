"""The send ledger as the dispatcher needs it, and no more: claim pending messages, record
what became of them, put back the ones never started, count what is left, settle the rows
of senders that died here, and open the run's journal. The store's SendLedger (store.ledger)
is one; so may a test's be. Depending on this rather than on the whole store keeps the
dispatcher to its one job, and shows at a glance what it can do to the database.

The contract, as bulletin/store/claims.py and outcomes.py state it: `claim` moves up to
`limit` pending rows with ids above `after` to `sending` for run `run`; `record` settles
run `run`'s claimed rows (sent, failed, pending again, or left uncertain); `release` puts
its claims never handed over back to pending."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..store.journal import Journal
    from ..store.ledger import Audience, Claim
    from ..store.outcomes import Outcome
    from ..store.sendledger import Recovered


class Ledger(Protocol):
    """What the dispatcher calls, each call one short transaction (from a worker thread, one
    at a time; the claims, when `claims_apart`, from another)."""

    @property
    def claims_apart(self) -> bool:
        """Whether a claim may run beside the other calls, from a thread of its own (a server
        database, where it locks only the rows it takes)."""
        ...

    def journal(self) -> Journal | None:
        """A new journal for this run (None: nothing outlives the database anyway)."""
        ...

    def claim(self, issue: str, limit: int, after: int = 0,
              audience: Audience | None = None, run: str | None = None) -> list[Claim]:
        ...

    def record(self, done: Sequence[Outcome], run: str | None = None) -> int:
        ...

    def release(self, ids: Sequence[int], run: str) -> int:
        ...

    def counts(self, issue: str, audience: Audience | None = None) -> dict[str, int]:
        ...

    def recover(self) -> Recovered:
        """Settle the rows of senders on this machine that died (by their journals): how
        many were settled, and of them how many had failed for now."""
        ...
