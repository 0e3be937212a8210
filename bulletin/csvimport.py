"""Reading a subscriber CSV file: header-driven, streamed, every row checked.

- The header row names the columns, in any order and case: `email` (required; also `e-mail`,
  `email address`), `name` (also `full name`), `language` (also `lang`). Other columns are
  ignored and reported.
- UTF-8 with or without a byte-order mark; Windows or Unix line endings; quoted fields may hold
  commas, quotes ("") and line breaks.
- Each row comes out as a Row (the address checked and normalised) or a BadRow (its line and
  what is wrong); blank lines are skipped. A row's line is the physical line it starts on, so a
  quoted field that spans lines does not shift the lines after it.
- Mistakes that make the whole file unreadable (no email column, not UTF-8, a quote never
  closed) raise CsvFileError naming the file and line. The file is read a line at a time and
  never held whole in memory.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import IO, TYPE_CHECKING

from .errors import BulletinError
from .store.addresses import InvalidAddress, normalise
from .store.rows import BadRow, Row

if TYPE_CHECKING:
    import _csv  # the type of csv.reader's readers (typeshed does not re-export it from csv)

COLUMNS: dict[str, tuple[str, ...]] = {
    "email": ("email", "e mail", "email address", "e mail address"),
    "name": ("name", "full name"),
    "language": ("language", "lang"),
}
NAME_LENGTH = 200
FIELD_LIMIT = 128 * 1024
_ALIASES = {alias: column for column, aliases in COLUMNS.items() for alias in aliases}
_LANGUAGE = re.compile(r"([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class CsvFileError(BulletinError):
    """The file as a whole cannot be read; the message names the file and line."""


def clean_name(raw: str) -> str | None:
    """A name as given, its runs of white space (line breaks too) made single spaces; None if
    empty. Raises ValueError for what no name holds."""
    name = " ".join(raw.split())
    if not name:
        return None
    if _CONTROL.search(name):
        raise ValueError("the name contains a control character")
    if len(name) > NAME_LENGTH:
        raise ValueError(f"the name is {len(name)} characters long; at most {NAME_LENGTH}")
    return name


@lru_cache(maxsize=1024)
def clean_language(raw: str) -> str | None:
    """A language tag reduced to its lower-case language code (`en-GB` → `en`); None if empty.
    Raises ValueError for anything that is not a language tag."""
    tag = raw.strip()
    if not tag:
        return None
    match = _LANGUAGE.fullmatch(tag)
    if match is None:
        raise ValueError(f"language {tag!r} is not a language code; use codes such as en or cy")
    return match.group(1).lower()


def _header_key(text: str) -> str:
    return " ".join(re.split(r"[\s_-]+", text.strip().lower())).strip()


class SubscriberFile:
    """A subscriber CSV file: iterate it for Row and BadRow values, in file order."""

    def __init__(self, path: Path, stream: IO[bytes] | None = None) -> None:
        self.path = path
        self._stream = stream
        self.header_line = 0
        self.columns: dict[str, int] = {}
        self.ignored: tuple[str, ...] = ()
        self.width = 0

    def __str__(self) -> str:
        return str(self.path)

    def _lines(self, stream: IO[bytes]) -> Iterator[str]:
        """The file's lines as text (line endings kept, for the csv module), checking the
        encoding line by line so that a bad byte is reported at its line."""
        for number, raw in enumerate(stream, start=1):
            if number == 1:
                if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
                    raise CsvFileError(f"{self.path}: the file is UTF-16 text; save it as "
                                       f"'CSV UTF-8' (comma delimited) and import that")
                if raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CsvFileError(
                    f"{self.path}:{number}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at "
                    f"column {exc.start + 1}); save the file as 'CSV UTF-8' and import that"
                ) from None

    def __iter__(self) -> Iterator[Row | BadRow]:
        if self._stream is not None:
            yield from self._rows(self._stream)
            return
        try:
            stream = self.path.open("rb")
        except OSError as exc:
            raise CsvFileError(f"{self.path}: cannot read: {exc.strerror or exc}") from None
        with stream:
            yield from self._rows(stream)

    def _rows(self, stream: IO[bytes]) -> Iterator[Row | BadRow]:
        previous_limit = csv.field_size_limit(FIELD_LIMIT)
        try:
            reader = csv.reader(self._lines(stream), strict=True)
            first = self._read_header(reader)
            yield from self._data(reader, first)
        finally:
            csv.field_size_limit(previous_limit)

    def _next(self, reader: _csv.Reader, start: int) -> list[str] | None:
        try:
            return next(reader)
        except StopIteration:
            return None
        except csv.Error as exc:
            message = str(exc)
            if "unexpected end of data" in message:
                raise CsvFileError(f"{self.path}:{start}: a quoted field that starts on this "
                                   f"line is never closed; add the closing quote") from None
            if "field larger than field limit" in message:
                raise CsvFileError(f"{self.path}:{start}: a quoted field that starts on this "
                                   f"line runs on for over {FIELD_LIMIT // 1024} KiB; is a "
                                   f"closing quote missing?") from None
            raise CsvFileError(f"{self.path}:{reader.line_num}: not valid CSV: {message}; "
                               f"a field holding quotes must be quoted itself, with each "
                               f"quote doubled (\"\")") from None

    def _read_header(self, reader: _csv.Reader) -> int:
        """Read up to the header row; return the line after it."""
        while True:
            start = reader.line_num + 1
            header = self._next(reader, start)
            if header is None:
                raise CsvFileError(f"{self.path}: the file is empty; it needs a header row "
                                   f"such as email,name,language and then one row a person")
            if any(cell.strip() for cell in header):
                break
        self.header_line = start
        columns: dict[str, int] = {}
        ignored = []
        for index, cell in enumerate(header):
            column = _ALIASES.get(_header_key(cell))
            if column is None:
                if cell.strip():
                    ignored.append(cell.strip())
                continue
            if column in columns:
                raise CsvFileError(f"{self.path}:{start}: two columns are {column!r} "
                                   f"(columns {columns[column] + 1} and {index + 1}); "
                                   f"keep one")
            columns[column] = index
        if "email" not in columns:
            shown = ", ".join(repr(cell) for cell in header)
            if any("@" in cell for cell in header):
                hint = ("the first row looks like data, not a header: add a header row such "
                        "as email,name,language")
            else:
                hint = ("name the column of addresses 'email' (a header row such as "
                        "email,name,language)")
            raise CsvFileError(f"{self.path}:{start}: no email column in the header "
                               f"({shown}); {hint}")
        self.columns = columns
        self.ignored = tuple(ignored)
        self.width = len(header)
        return reader.line_num + 1

    def _data(self, reader: _csv.Reader, start: int) -> Iterator[Row | BadRow]:
        header_width = self.width
        email_at = self.columns["email"]
        name_at = self.columns.get("name")
        language_at = self.columns.get("language")
        while True:
            fields = self._next(reader, start)
            if fields is None:
                return
            line = start
            start = reader.line_num + 1
            raw_email = fields[email_at] if email_at < len(fields) else ""
            if not raw_email.strip():
                if any(field.strip() for field in fields):
                    yield BadRow(line, "no email address in the email column")
                continue  # a blank line, or a row of empty fields
            if len(fields) > header_width:
                yield BadRow(line, f"{len(fields)} fields, but the header has {header_width} "
                                   f"columns; put quotes around a field that holds a comma")
                continue
            try:
                address = normalise(raw_email)
                name = clean_name(fields[name_at]) if name_at is not None \
                    and name_at < len(fields) else None
                language = clean_language(fields[language_at]) if language_at is not None \
                    and language_at < len(fields) else None
            except (InvalidAddress, ValueError) as exc:
                yield BadRow(line, str(exc))
                continue
            yield Row(line, address, name, language)
