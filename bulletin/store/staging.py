"""Phase 1 of an import: every good row, checked and de-duplicated, into a temporary table,
without the database's write lock.

The slow part of an import is reading and checking the file, so it happens here, before the
merge (merge.py) takes the write lock for one short transaction. The staging table is
TEMPORARY: it belongs to the import's own connection, lives in SQLite's separate temporary
database (writing to it takes no lock on the main database, and each batch is its own short
transaction that holds no write lock there either) or in PostgreSQL's session, and vanishes
with the connection, so an import that dies here leaves nothing anywhere.

The table is only appended to while the file is read, in the order rows arrive (`seq` counts
up from 1), with no index: each batch costs the same however much was staged before it (an
index kept up row by row, keyed by the address, is written at random: at 1,000,000 rows it
outgrew the page cache, and its pages were written again at every batch's commit). SQLite
takes a batch as plain tuples (executemany); PostgreSQL as one COPY of text made in Python.
What a batch staged is a range of `seq` (a chunk, which the merge reads at a time).

Duplicates are merged so that the first row of an address keeps its line, email and values,
and a blank name or language is filled in from a later row: within a batch in memory, as it is
staged; across batches once the file is read (`finish`), set-based, with an index on the
address built then in one sorted pass. Memory stays flat however long the file is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Column, Connection, Integer, MetaData, String, Table
from sqlalchemy.exc import DBAPIError

from .rows import Checked

TABLE = "bulletin_import_rows"
"""One row per address of the file: its first line and its merged values, in the order the
addresses were first seen (`seq`; on SQLite the table's rowid)."""
KEYS = ("email_key", "email", "name", "language", "line")
staged = Table(TABLE, MetaData(), Column("seq", Integer), Column("email_key", String),
               Column("email", String), Column("name", String), Column("language", String),
               Column("line", Integer))
"""The staging table, for the merge's statements (made by Staging, not from this)."""
_DUPLICATES = "bulletin_import_duplicates"
_NOTES_AT_ONCE = 5000


class Staging:
    """Stages batches of rows on `connection` (which must not be in a transaction: each batch
    is one of its own). `duplicate(line, message)` is told of every duplicate row: those
    within a batch as it is staged, those of earlier batches by `finish`, in the order of the
    file."""

    def __init__(self, connection: Connection,
                 duplicate: Callable[[int, str], None]) -> None:
        self.connection = connection
        self.duplicate = duplicate
        self.ends: list[int] = [0]
        """The last `seq` after each batch: chunk n is the rows with ends[n-1] < seq <=
        ends[n]."""
        self.staged = 0
        """How many addresses are staged (rows less duplicates)."""
        self.postgres = postgres = connection.dialect.name == "postgresql"
        self.raw: Any = connection.connection.dbapi_connection
        with connection.begin():
            if postgres:
                connection.exec_driver_sql(
                    f"CREATE TEMPORARY TABLE {TABLE} (seq BIGINT NOT NULL, "
                    f"email_key VARCHAR NOT NULL, email VARCHAR NOT NULL, name VARCHAR, "
                    f"language VARCHAR, line INTEGER NOT NULL)")
            else:
                connection.exec_driver_sql(
                    f"CREATE TEMPORARY TABLE {TABLE} (seq INTEGER PRIMARY KEY, "
                    f"email_key TEXT NOT NULL, email TEXT NOT NULL, name TEXT, language TEXT, "
                    f"line INTEGER NOT NULL)")
        self._insert = f"INSERT INTO {TABLE} ({', '.join(KEYS)}) VALUES (?, ?, ?, ?, ?)"
        self._copy = f"COPY {TABLE} (seq, {', '.join(KEYS)}) FROM STDIN (NULL '')"

    @property
    def dense(self) -> bool:
        """Whether the staged rows are exactly seq 1 to `staged` (no duplicate of an earlier
        batch taken out)."""
        return self.staged == self.ends[-1]

    @property
    def batches(self) -> int:
        """How many batches were staged: the chunks to merge are 1 to this."""
        return len(self.ends) - 1

    def chunk(self, number: int) -> tuple[int, int]:
        """The `seq` range (after, up to) of the rows batch `number` staged first."""
        return self.ends[number - 1], self.ends[number]

    def add(self, rows: list[Checked]) -> None:
        """Stage one batch of good rows (in the order of the file)."""
        if len({row[0] for row in rows}) < len(rows):
            rows = self._merged(rows)
        before = self.ends[-1]
        with self.connection.begin():
            if self.postgres:
                self._run(lambda cursor: _copy(cursor, self._copy, rows, before + 1), self._copy)
            else:
                self._run(lambda cursor: cursor.executemany(self._insert, rows), self._insert)
        self.ends.append(before + len(rows))
        self.staged += len(rows)

    def _merged(self, rows: list[Checked]) -> list[Checked]:
        """`rows` with each address once: its first row, blanks filled in from later ones."""
        firsts: dict[str, Checked] = {}
        for row in rows:
            key = row[0]
            first = firsts.get(key)
            if first is None:
                firsts[key] = row
                continue
            self.duplicate(row[4], f"{row[1]} is a duplicate of line {first[4]}; merged")
            if (first[2] is None and row[2] is not None) or \
                    (first[3] is None and row[3] is not None):
                firsts[key] = (key, first[1], first[2] if first[2] is not None else row[2],
                               first[3] if first[3] is not None else row[3], first[4])
        return list(firsts.values())

    def finish(self) -> None:
        """After the last batch: the rows of an address staged by different batches merged
        into its first, each later one named as a duplicate, in the order of the file; and
        the table indexed for the merge (PostgreSQL: by `seq`, and analysed for the
        planner)."""
        connection = self.connection
        with connection.begin():
            if self.postgres:
                # PostgreSQL finds the duplicates by hashing, with no index on the address
                # (building one costs twice as much), and builds it only if there are some.
                connection.exec_driver_sql(f"CREATE INDEX {TABLE}_seq ON {TABLE} (seq)")
                connection.exec_driver_sql(f"ANALYZE {TABLE}")
            else:
                connection.exec_driver_sql(f"CREATE INDEX {TABLE}_key ON {TABLE} (email_key)")
            connection.exec_driver_sql(
                f"CREATE TEMPORARY TABLE {_DUPLICATES} AS SELECT email_key, min(seq) AS first "
                f"FROM {TABLE} GROUP BY email_key HAVING count(*) > 1")
            found = connection.exec_driver_sql(f"SELECT count(*) FROM {_DUPLICATES}").scalar()
            if found:
                if self.postgres:
                    connection.exec_driver_sql(
                        f"CREATE INDEX {TABLE}_key ON {TABLE} (email_key)")
                self._merge_duplicates()
                if self.postgres:
                    connection.exec_driver_sql(f"ANALYZE {TABLE}")

    def _merge_duplicates(self) -> None:
        """Each address that more than one batch staged: the later rows named (streamed, in
        the order of the file), their blanks filled into the first, and taken out."""
        connection = self.connection
        later = (f"SELECT d.seq, d.line, d.email, f.line FROM {_DUPLICATES} x "
                 f"JOIN {TABLE} d ON d.email_key = x.email_key AND d.seq > x.first "
                 f"JOIN {TABLE} f ON f.seq = x.first")
        cursor = self.raw.cursor()
        try:
            cursor.execute(f"{later} ORDER BY d.seq")
            while notes := cursor.fetchmany(_NOTES_AT_ONCE):
                for _, line, email, first in notes:
                    self.duplicate(line, f"{email} is a duplicate of line {first}; merged")
        finally:
            cursor.close()
        fill = (f"(SELECT {{0}} FROM {TABLE} l WHERE l.email_key = {TABLE}.email_key "
                f"AND l.{{0}} IS NOT NULL ORDER BY l.seq LIMIT 1)")
        connection.exec_driver_sql(
            f"UPDATE {TABLE} SET name = coalesce(name, {fill.format('name')}), "
            f"language = coalesce(language, {fill.format('language')}) "
            f"WHERE seq IN (SELECT first FROM {_DUPLICATES}) "
            f"AND (name IS NULL OR language IS NULL)")
        removed = connection.exec_driver_sql(
            f"DELETE FROM {TABLE} WHERE seq IN (SELECT seq FROM ({later}) AS later_rows)"
        ).rowcount
        self.staged -= removed

    def _run(self, work: Callable[[Any], object], statement: str) -> None:
        """`work` (`statement`) done with a cursor of the driver's; its errors as
        SQLAlchemy's, as from a statement (an OperationalError is "the database failed")."""
        try:
            cursor = self.raw.cursor()
            try:
                work(cursor)
            finally:
                cursor.close()
        except self.raw.Error as exc:
            dbapi = self.connection.dialect.loaded_dbapi
            raise DBAPIError.instance(statement, None, exc, dbapi.Error) from exc


def _copy(cursor: Any, sql: str, rows: list[Checked], first: int) -> None:
    """PostgreSQL: `rows` into the staging table with one COPY, numbered from `first`, as
    text made in one piece (a tab between fields, NULL as an empty field: no address, name or
    language is empty). A value that holds what COPY's text format escapes (a backslash, a tab,
    a line break) is escaped; the checks leave none of those in names, and none in the
    addresses the fast path takes, so a batch is almost always written without looking at
    each value."""
    text = "".join([f"{seq}\t{key}\t{email}\t{name or ''}\t{language or ''}\t{line}\n"
                    for seq, (key, email, name, language, line) in enumerate(rows, first)])
    if "\\" in text or "\r" in text or text.count("\t") != 5 * len(rows) \
            or text.count("\n") != len(rows):
        text = "".join(
            "\t".join([str(seq), *(_escaped(value) for value in row[:4]), str(row[4])]) + "\n"
            for seq, row in enumerate(rows, first))
    with cursor.copy(sql) as copy:
        copy.write(text)


def _escaped(value: str | None) -> str:
    if value is None:
        return ""
    return (value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))
