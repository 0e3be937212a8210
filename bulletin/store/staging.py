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
batch is found in memory; one spread over batches by looking the batch's addresses up in the
table (its unique index) before they are written, so memory stays flat however long the file
is.

The table is written in the order rows arrive: each address new to it is appended (`seq`
counts up), so what a batch staged first is a range of `seq` (a chunk, which the merge reads
at a time), and the only index written at random is the one of addresses. (Keyed by the
address itself, the whole row went to a random place of the table: at 1,000,000 rows the
table outgrew the page cache and each batch cost ten times what it did at the start.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from .bulk import Copy, Many, Query
from .models import EMAIL_LENGTH
from .rows import Row

_temporary = MetaData()
staged = Table("bulletin_import_rows", _temporary,
               Column("seq", Integer, primary_key=True, autoincrement=True),
               Column("email_key", String(EMAIL_LENGTH), nullable=False, unique=True),
               Column("email", String(EMAIL_LENGTH), nullable=False),
               Column("name", String()),
               Column("language", String()),
               Column("line", Integer, nullable=False),
               prefixes=["TEMPORARY"])
"""One row per address of the file: its first line and its merged values, in the order the
addresses were first seen (`seq`; on SQLite the table's rowid)."""
KEYS = ("email_key", "email", "name", "language", "line")
incoming = Table("bulletin_import_batch", _temporary,
                 *(Column(column.name, column.type) for column in staged.columns
                   if column.name in KEYS),
                 prefixes=["TEMPORARY"], postgresql_on_commit="DELETE ROWS")
"""PostgreSQL: one batch, written with COPY and then merged into `staged` with two statements
(emptied at the end of each batch's transaction)."""


class Staging:
    """Stages batches of rows on `connection` (which must not be in a transaction: each batch
    is one of its own). `duplicate(line, message)` is told of every duplicate row, in the
    order of today's report: within a batch first, then those of earlier batches."""

    def __init__(self, connection: Connection,
                 duplicate: Callable[[int, str], None]) -> None:
        self.connection = connection
        self.duplicate = duplicate
        self.ends: list[int] = [0]
        """The last `seq` after each batch: chunk n is the rows with ends[n-1] < seq <=
        ends[n]."""
        self.staged = 0
        """How many addresses were staged (rows less duplicates)."""
        self.postgres = postgres = connection.dialect.name == "postgresql"
        with connection.begin():
            _temporary.create_all(connection, tables=[staged, incoming] if postgres else [staged])
        self.last = select(func.coalesce(func.max(staged.c.seq), 0))
        # The addresses new to the table are appended; one already in is left as it is (the
        # unique index says so, not a join the planner might make a scan of the whole
        # table), and only when some were is it looked up, for its line, and filled in.
        if postgres:
            self.copy = Copy(connection, incoming.name, KEYS)
            self.append_sql = postgresql.insert(staged).from_select(
                KEYS, select(*(incoming.c[key] for key in KEYS)).order_by(incoming.c.line)
            ).on_conflict_do_nothing(index_elements=[staged.c.email_key])
            # A look-up a row of the batch at a time, through the index, whatever the
            # planner thinks of the temporary table's size.
            line = (select(staged.c.line)
                    .where(staged.c.email_key == incoming.c.email_key,
                           staged.c.seq <= bindparam("before"))
                    .scalar_subquery())
            lines = select(incoming.c.email_key, line.label("line")).subquery()
            self.known = Query(connection, select(lines.c.email_key, lines.c.line)
                               .where(lines.c.line.is_not(None)))
        else:
            self.append = Many(connection, sqlite.insert(staged).on_conflict_do_nothing(
                index_elements=[staged.c.email_key]), KEYS)
            self.known = Query(connection, select(staged.c.email_key, staged.c.line)
                               .where(staged.c.seq <= bindparam("before"),
                                      staged.c.email_key.in_(
                                          select(func.json_each(bindparam("keys"))
                                                 .table_valued("value").c.value)
                                          .scalar_subquery())))
        self.fill = Many(connection, update(staged)
                         .where(staged.c.email_key == bindparam("_key"))
                         .values(name=func.coalesce(staged.c.name, bindparam("name")),
                                 language=func.coalesce(staged.c.language,
                                                        bindparam("language"))),
                         ("_key", "name", "language"))

    @property
    def batches(self) -> int:
        """How many batches were staged: the chunks to merge are 1 to this."""
        return len(self.ends) - 1

    def chunk(self, number: int) -> tuple[int, int]:
        """The `seq` range (after, up to) of the rows batch `number` staged first."""
        return self.ends[number - 1], self.ends[number]

    def add(self, rows: list[Row]) -> None:
        """Stage one batch of good rows (in the order of the file)."""
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
        connection = self.connection
        before = self.ends[-1]
        values = [(key, row.address.email, row.name, row.language, row.line)
                  for key, row in firsts.items()]
        earlier: dict[str, int] = {}
        with connection.begin():
            if self.postgres:
                self.copy(values)
                appended = connection.execute(self.append_sql).rowcount
                if appended < len(firsts):
                    earlier = dict(self.known.run(before=before))
            else:
                appended = self.append(values)
                if appended < len(firsts):
                    earlier = dict(self.known.run(before=before,
                                                  keys=json.dumps(list(firsts))))
            if earlier:
                self.fill([(key, row.name, row.language) for key, row in firsts.items()
                           if key in earlier and (row.name is not None
                                                  or row.language is not None)])
            self.ends.append(connection.scalar(self.last) or 0)
        if earlier:
            for key, row in firsts.items():
                line = earlier.get(key)
                if line is not None:
                    self.duplicate(row.line, f"{row.address.email} is a duplicate of line "
                                             f"{line}; merged")
        self.staged += len(firsts) - len(earlier)

    def analyse(self) -> None:
        """PostgreSQL: statistics for the planner (nothing analyses a temporary table)."""
        if self.postgres:
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
