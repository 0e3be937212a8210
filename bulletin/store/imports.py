"""A list's people in bulk: importing checked rows or a subscriber CSV file into it, and
exporting its active members as a CSV file that imports back.

    report = store.imports.import_csv(Path("people.csv"), "cohes3ion", actor="ann")
    store.imports.export_csv("cohes3ion", sys.stdout)

An import takes all of its rows or, if anything interrupts it, none, and a database failure
or a concurrent writer of the same addresses is a StoreError saying to run it again (it is
idempotent). How rows are staged, merged and written is importer.py's; the rules each row
follows are rules.py's, as for a single subscription.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, TextIO

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from .aggregate import Aggregate
from .errors import StoreError, first_line
from .importer import BATCH, ImportReport, Note, batches, run_import
from .lists import MailingLists
from .rows import BadRow, Batch, Row


class Imports(Aggregate):
    """Imports into a list and exports from it."""

    def __init__(self, engine: Engine, lists: MailingLists) -> None:
        super().__init__(engine)
        self.lists = lists

    def import_rows(self, rows: Iterable[Row | BadRow], list_name: str, *, source: str,
                    actor: str | None = None, resubscribe: bool = False,
                    on_note: Callable[[Note], None] | None = None,
                    on_progress: Callable[[int], None] | None = None,
                    batch_size: int | None = None) -> ImportReport:
        """Import checked rows: all of them or, if anything interrupts the import, none.
        The import holds the write lock only while it merges (see importer.py)."""
        return self._run(batches(rows, batch_size or BATCH), list_name, source=source,
                         actor=actor, resubscribe=resubscribe, on_note=on_note,
                         on_progress=on_progress)

    def _run(self, rows: Iterable[Batch], list_name: str, *, source: str, actor: str | None,
             resubscribe: bool, on_note: Callable[[Note], None] | None,
             on_progress: Callable[[int], None] | None) -> ImportReport:
        try:
            return run_import(self.engine, rows, list_name, source=source, actor=actor,
                              resubscribe=resubscribe, on_note=on_note,
                              on_progress=on_progress)
        except IntegrityError:
            # PostgreSQL: someone else added one of the file's new addresses while it ran.
            raise StoreError(f"{source}: another process added some of these addresses while "
                             f"the import ran; nothing was imported. Run it again") from None
        except OperationalError as exc:
            raise StoreError(f"{source}: the database failed during the import "
                             f"({first_line(exc)}); nothing was imported. Run it again"
                             ) from None

    def import_csv(self, path: Path, list_name: str, *, actor: str | None = None,
                   resubscribe: bool = False, on_note: Callable[[Note], None] | None = None,
                   on_progress: Callable[[int], None] | None = None,
                   stream: IO[bytes] | None = None,
                   batch_size: int | None = None) -> ImportReport:
        """Import a subscriber CSV file (see bulletin.csvimport for its format)."""
        from ..csvimport import SubscriberFile  # here: csvimport itself imports this package

        source = SubscriberFile(path, stream)
        report = self._run(source.batches(batch_size or BATCH), list_name, source=path.name,
                           actor=actor, resubscribe=resubscribe, on_note=on_note,
                           on_progress=on_progress)
        report.ignored_columns = source.ignored
        return report

    def export_csv(self, list_name: str, out: TextIO) -> int:
        """Write the list's active members as CSV (email,name,language), in the format
        import_csv reads; return how many."""
        import csv
        import itertools

        from ..csvimport import formula_safe  # here: csvimport itself imports this package

        members = self.lists.active_members(list_name)
        first = next(members, None)  # an unknown list is an error before anything is written
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(("email", "name", "language"))
        written = 0
        for member in itertools.chain((first,) if first else (), members):
            # No cell (a name such as =HYPERLINK(...), an address such as =1+1@example.org) is
            # a formula in a spreadsheet; each is read back as it was.
            writer.writerow(map(formula_safe, (member.email, member.name or "",
                                               member.language or "")))
            written += 1
        return written
