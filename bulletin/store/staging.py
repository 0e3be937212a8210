"""Phase 1 of an import: every good row, checked and de-duplicated, into a temporary table,
without the database's write lock.

The slow part of an import is reading and checking the file (address validation above all),
so it happens here, before the merge (merge.py) takes the write lock for one short
transaction. The staging table is TEMPORARY: it belongs to the import's own connection, lives
in SQLite's separate temporary database (writing to it takes no lock on the main database,
and each batch is its own short transaction that holds no write lock there either) or in
PostgreSQL's session, and vanishes with the connection, so an import that dies here leaves
nothing anywhere.

Duplicates are merged as they are staged: the first row of an address keeps its line, email
and values, and a blank name or language is filled in from a later row. A duplicate within a
batch is found in memory; one spread over batches through the table's `batch` column (every
key of the batch being staged is marked with its number; one first staged by an earlier batch
keeps that batch's number as its `chunk`), so memory stays flat however long the file is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite

from .bulk import Copy, Many
from .models import EMAIL_LENGTH
from .rows import Row

_temporary = MetaData()
staged = Table("bulletin_import_rows", _temporary,
               Column("email_key", String(EMAIL_LENGTH), primary_key=True),
               Column("email", String(EMAIL_LENGTH), nullable=False),
               Column("name", String()),
               Column("language", String()),
               Column("line", Integer, nullable=False),
               Column("batch", Integer, nullable=False, index=True),
               Column("chunk", Integer, nullable=False, index=True),
               prefixes=["TEMPORARY"], sqlite_with_rowid=False)
"""One row per address of the file: its first line, its merged values, the last batch it was
in (`batch`) and the batch it was first in (`chunk`). The merge reads it a chunk at a time."""
incoming = Table("bulletin_import_batch", _temporary,
                 *(Column(column.name, column.type) for column in staged.columns),
                 prefixes=["TEMPORARY"], postgresql_on_commit="DELETE ROWS")
"""PostgreSQL: one batch, written with COPY and then upserted into `staged` in one statement
(emptied at the end of each batch's transaction)."""


class Staging:
    """Stages batches of rows on `connection` (which must not be in a transaction: each batch
    is one of its own). `duplicate(line, message)` is told of every duplicate row, in the
    order of today's report: within a batch first, then those of earlier batches."""

    def __init__(self, connection: Connection,
                 duplicate: Callable[[int, str], None]) -> None:
        self.connection = connection
        self.duplicate = duplicate
        self.batches = 0
        """How many batches were staged: the chunks to merge are 1 to this."""
        self.staged = 0
        """How many addresses were staged (rows less duplicates)."""
        keys = ("email_key", "email", "name", "language", "line", "batch", "chunk")
        postgres = connection.dialect.name == "postgresql"
        with connection.begin():
            _temporary.create_all(connection, tables=[staged, incoming] if postgres else [staged])
        insert_ = postgresql.insert if postgres else sqlite.insert
        statement = insert_(staged)
        if postgres:
            statement = statement.from_select(keys, select(*(incoming.c[key] for key in keys)))
        upsert = statement.on_conflict_do_update(
            index_elements=[staged.c.email_key],
            set_={"name": func.coalesce(staged.c.name, statement.excluded.name),
                  "language": func.coalesce(staged.c.language, statement.excluded.language),
                  "batch": statement.excluded.batch})
        self.upsert: Callable[[list[tuple[object, ...]]], None]
        if postgres:
            copy = Copy(connection, incoming.name, keys)

            def copy_then_upsert(rows: list[tuple[object, ...]]) -> None:
                copy(rows)
                connection.execute(upsert)

            self.upsert = copy_then_upsert
        else:
            self.upsert = Many(connection, upsert, keys)

    def add(self, rows: list[Row]) -> None:
        """Stage one batch of good rows (in the order of the file)."""
        number = self.batches + 1
        firsts: dict[str, Row] = {}
        for row in rows:
            key = row.address.key
            first = firsts.get(key)
            if first is None:
                firsts[key] = row
                continue
            self.duplicate(row.line, f"{row.address.email} is a duplicate of line "
                                     f"{first.line}; merged")
            firsts[key] = _merge(first, row)
        with self.connection.begin():
            self.upsert([(key, row.address.email, row.name, row.language, row.line, number,
                          number) for key, row in firsts.items()])
            earlier: dict[str, int] = dict(self.connection.execute(
                select(staged.c.email_key, staged.c.line)
                .where(staged.c.batch == number, staged.c.chunk < number)).all())
        if earlier:
            for key, row in firsts.items():
                line = earlier.get(key)
                if line is not None:
                    self.duplicate(row.line, f"{row.address.email} is a duplicate of line "
                                             f"{line}; merged")
        self.staged += len(firsts) - len(earlier)
        self.batches = number

    def analyse(self) -> None:
        """PostgreSQL: statistics for the planner (nothing analyses a temporary table)."""
        if self.connection.dialect.name == "postgresql":
            with self.connection.begin():
                self.connection.exec_driver_sql(f"ANALYZE {staged.name}")


def _merge(first: Row, later: Row) -> Row:
    """The first row's values, with blanks filled in from a later duplicate."""
    if (first.name is None and later.name is not None) or \
            (first.language is None and later.language is not None):
        return replace(first, name=first.name if first.name is not None else later.name,
                       language=first.language if first.language is not None
                       else later.language)
    return first
