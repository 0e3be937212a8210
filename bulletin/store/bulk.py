"""Multi-row statements for the bulk import (staging.py and merge.py): one statement compiled
once and run for many rows, constants rendered into the SQL instead of bound every row, and
PostgreSQL's COPY for rows that are only inserted.

The import writes hundreds of thousands of rows; SQLAlchemy's per-row parameter handling
would cost more than the database's own work, so these helpers take it out of the loop. On
PostgreSQL even a prepared statement per row (psycopg's executemany, pipelined) costs 20 times
what COPY does, so `Copy` streams the rows in COPY's format instead.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Insert,
    Integer,
    Select,
    String,
    Update,
    literal,
    literal_column,
    null,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeEngine


class Many:
    """One statement, compiled once, run for many rows of values given as tuples in the order
    of `keys`. On a driver with positional parameters (SQLite) the tuples go straight to the
    driver's executemany, skipping SQLAlchemy's per-row parameter handling, which otherwise
    costs more than SQLite's insert (every value here is a string, an integer or None, which
    need no conversion; constants are rendered into the SQL). Elsewhere (psycopg) SQLAlchemy's
    own executemany is used, which batches rows into multi-row statements."""

    def __init__(self, connection: Connection, statement: Insert | Update,
                 keys: tuple[str, ...]) -> None:
        self.connection = connection
        self.statement = statement
        self.keys = keys
        if isinstance(statement, Insert):
            statement = statement.inline()  # no RETURNING of SQL-valued keys: nothing to fetch
        compiled = statement.compile(dialect=connection.dialect, column_keys=list(keys))
        self.sql = compiled.string if compiled.positional else None
        order = [keys.index(compiled.binds[name].key) for name in compiled.positiontup or ()]
        self.order = None if order == list(range(len(keys))) else order

    def __call__(self, rows: list[tuple[Any, ...]]) -> int:
        """Run the statement for `rows`; return how many rows it changed (SQLite; -1 where
        the driver does not say)."""
        if not rows:
            return 0
        if self.sql is None:
            result = self.connection.execute(self.statement,
                                             [dict(zip(self.keys, row, strict=True))
                                              for row in rows])
        elif self.order is None:
            result = self.connection.exec_driver_sql(self.sql, rows)
        else:
            order = self.order
            result = self.connection.exec_driver_sql(self.sql, [tuple(row[i] for i in order)
                                                                for row in rows])
        return int(result.rowcount)


def constant(connection: Connection, value: object,
             type_: TypeEngine[Any] | None = None) -> ColumnElement[Any]:
    """A constant of the import rendered into the SQL once, not bound every row."""
    if value is None:
        return null()
    if type_ is None:
        type_ = String() if isinstance(value, str) else Integer()
    text = str(literal(value, type_).compile(dialect=connection.dialect,
                                             compile_kwargs={"literal_binds": True}))
    if connection.dialect.paramstyle in ("format", "pyformat"):
        # Compiled on its own, the literal has its % doubled for the driver; the statement it
        # goes into doubles them again, so undo the first.
        text = text.replace("%%", "%")
    return literal_column(text, type_)


class Query:
    """A SELECT compiled once, its rows fetched as plain tuples straight from the driver's
    cursor (SQLAlchemy's Row objects cost more than the query when there are many rows). Its
    parameters are bind parameters named in `run`."""

    def __init__(self, connection: Connection, statement: Select[Any]) -> None:
        self.connection = connection
        compiled = statement.compile(dialect=connection.dialect)
        self.sql = compiled.string
        self.names = list(compiled.positiontup or ()) if compiled.positional else None
        self.literal = compiled.binds

    def run(self, **values: Any) -> list[tuple[Any, ...]]:
        parameters: Any = values if self.names is None else \
            tuple(values[self.literal[name].key] for name in self.names)
        cursor = self.connection.connection.cursor()
        try:
            cursor.execute(self.sql, parameters)
            return list(cursor.fetchall())
        finally:
            cursor.close()


class Copy:
    """PostgreSQL: rows inserted into `table`'s `columns` with one COPY ... FROM STDIN, each
    row given as a tuple in the order of `columns` and followed by the same `constants` (the
    import's timestamp, source, ...). Runs in the connection's transaction. A database error
    comes out as SQLAlchemy's (IntegrityError, OperationalError), as from a statement."""

    def __init__(self, connection: Connection, table: str, columns: tuple[str, ...],
                 constants: tuple[tuple[str, Any], ...] = ()) -> None:
        self.connection = connection
        names = [*columns, *(name for name, _ in constants)]
        self.sql = f"COPY {table} ({', '.join(names)}) FROM STDIN"
        self.extra = tuple(value for _, value in constants)

    def __call__(self, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        raw: Any = self.connection.connection.dbapi_connection
        extra = self.extra
        try:
            with raw.cursor() as cursor, cursor.copy(self.sql) as copy:
                write = copy.write_row
                if extra:
                    for row in rows:
                        write(row + extra)
                else:
                    for row in rows:
                        write(row)
        except raw.Error as exc:
            dbapi = self.connection.dialect.loaded_dbapi
            raise DBAPIError.instance(self.sql, None, exc, dbapi.Error) from exc
