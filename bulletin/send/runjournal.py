"""The send journal (store/journal.py) as one run of the dispatcher keeps it, from the event
loop's thread: each handover written at once (a message whose line cannot be written must not
go: a crash would send it twice); each answer waiting to go out with the others read at the
same time, in one write once they are handled; and, once the file is full, a fresh one with
what is still open. Apart from the dispatcher so that what may fail, and what that means for
a message, is said in one place."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from ..errors import SendError
from ..store.journal import Journal
from ..store.outcomes import Outcome

log = logging.getLogger(__name__)


class RunJournal:
    """One run's journal, open until `close`."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def handed(self, delivery_id: int) -> None:
        """Its end of data is about to go out: SendError if that cannot be written."""
        try:
            self.journal.handed(delivery_id)
        except OSError as error:
            raise SendError(f"cannot write the send journal in {self.journal.directory}: "
                            f"{error.strerror or error}") from error

    def answered(self, outcome: Outcome) -> None:
        """Written with the next handover, or once the replies read with it are handled."""
        if not self.journal.waiting:
            asyncio.get_running_loop().call_soon(self._write_answers)
        self.journal.answered(outcome.id, outcome.state, outcome.reply)

    def _write_answers(self) -> None:
        try:
            self.journal.flush()
        except OSError as error:  # the ledger will have them; a crash first: uncertain
            log.warning("cannot write the send journal: %s", error)

    def recorded(self, live: Iterable[int], unrecorded: Iterable[Outcome]) -> None:
        """Outcomes were recorded in the ledger: once the file is full, a fresh one holding
        what is still open (`live`: handed and not answered; the answers not yet recorded)."""
        if not self.journal.full:
            return
        try:  # else the old file goes on
            self.journal.rotate(live, [(o.id, o.state, o.reply) for o in unrecorded])
        except OSError as error:
            log.warning("cannot start the send journal afresh: %s", error)

    def close(self, *, remove: bool) -> None:
        self.journal.close(remove=remove)
