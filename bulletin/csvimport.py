"""Reading a subscriber CSV file: header-driven, streamed, every row checked.

- The header row names the columns, in any order and case: `email` (required; also `e-mail`,
  `email address` as Mailchimp writes it), `name` (also `full name`; or `first name` and
  `last name`, joined), `language` (also `lang`). Other columns are ignored and reported.
- Commas, semicolons (Excel in much of Europe) or tabs between fields, seen from the header.
- UTF-8 with or without a byte-order mark, or another encoding named (`open_csv`: Windows-1252,
  UTF-16); Windows or Unix line endings; quoted fields may hold separators, quotes ("") and
  line breaks. A file in another encoding, with CR alone at line ends, UTF-16 without a
  byte-order mark or an Excel workbook gets a one-line message that says what to do.
- Names that a spreadsheet would run as a formula (starting =, +, -, @) are written with a
  leading apostrophe by `formula_safe` on export, and read back without it.
- Each row comes out as a Row (the address checked and normalised) or a BadRow (its line and
  what is wrong); blank lines are skipped. A row's line is the physical line it starts on, so a
  quoted field that spans lines does not shift the lines after it.
- Mistakes that make the whole file unreadable (no email column, not UTF-8, a quote never
  closed) raise CsvFileError naming the file and line. The file is read a line at a time and
  never held whole in memory.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
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
    "email": ("email", "e mail", "email address", "e mail address", "emailaddress"),
    "name": ("name", "full name", "fullname", "display name"),
    "first_name": ("first name", "firstname", "given name", "forename", "fname"),
    "last_name": ("last name", "lastname", "surname", "family name", "lname"),
    "language": ("language", "lang", "preferred language"),
}
SEPARATORS = (",", ";", "\t")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet treat a cell as a formula (CSV injection)."""
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
        from .fields import language_code_error

        hint = language_code_error(tag).partition("; ")[2]
        raise ValueError(f"language {tag!r} is not a language code; "
                         f"{hint or 'use codes such as en or cy'}")
    return match.group(1).lower()


def formula_safe(name: str) -> str:
    """`name` as a CSV cell that no spreadsheet runs as a formula: an apostrophe before a
    leading =, +, -, @ (and before a leading apostrophe, so that reading it back is exact)."""
    if name.startswith((*FORMULA_STARTS, "'")):
        return "'" + name
    return name


def _from_formula_safe(name: str) -> str:
    """The name `formula_safe` wrote as `name`."""
    if name.startswith("'") and name[1:].startswith((*FORMULA_STARTS, "'")):
        return name[1:]
    return name


class _Recoded(io.RawIOBase):
    """A file in another encoding, read a line at a time as UTF-8 bytes."""

    def __init__(self, path: Path, raw: IO[bytes], encoding: str) -> None:
        super().__init__()
        self._path = path
        self._encoding = encoding
        self._text = io.TextIOWrapper(raw, encoding=encoding, newline="")
        self._pending = b""
        self._line = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            try:
                line = self._text.readline()
            except UnicodeDecodeError as exc:
                raise CsvFileError(f"{self._path}:{self._line + 1}: not {self._encoding} text "
                                   f"({exc.reason}); check the --encoding") from None
            if not line:
                return 0
            self._line += 1
            self._pending = line.encode("utf-8")
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def close(self) -> None:
        self._text.close()
        super().close()


def open_csv(path: Path, encoding: str | None = None,
             stream: IO[bytes] | None = None) -> IO[bytes] | None:
    """The bytes SubscriberFile reads: None (it opens `path` itself) for UTF-8, else `path`
    (or `stream`) decoded from `encoding` and given as UTF-8."""
    if encoding is None:
        return stream
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise CsvFileError(f"{path}: unknown encoding '{encoding}'; use one such as utf-8, "
                           f"cp1252 or utf-16") from None
    if name in ("utf-8", "utf-8-sig"):
        return stream
    if stream is None:
        try:
            stream = path.open("rb")
        except OSError as exc:
            raise CsvFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return io.BufferedReader(_Recoded(path, stream, encoding))


def _header_key(text: str) -> str:
    return " ".join(re.split(r"[\s_-]+", text.strip().lower())).strip()


def _separator(lines: Iterator[str]) -> tuple[str, Iterator[str]]:
    """The field separator, from the first line that is not blank (outside quotes, the one
    that occurs most; a comma if none), and the lines again from the start."""
    seen: list[str] = []
    for line in lines:
        seen.append(line)
        if line.strip():
            break
    declared = re.fullmatch(r"sep=(.)\s*", seen[-1].strip("\r\n"), re.IGNORECASE) \
        if seen else None
    if declared:  # Excel's own line naming the separator
        return declared.group(1), itertools.chain(seen, lines)
    unquoted = re.sub(r'"[^"]*"', "", seen[-1]) if seen else ""
    counts = {separator: unquoted.count(separator) for separator in SEPARATORS}
    best = max(SEPARATORS, key=lambda separator: counts[separator])
    return (best if counts[best] else ","), itertools.chain(seen, lines)


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
                self._first_line(raw)
                if raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CsvFileError(
                    f"{self.path}:{number}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at "
                    f"column {exc.start + 1}); if Excel saved it as plain 'CSV', import it "
                    f"with --encoding cp1252, or save it as 'CSV UTF-8'") from None

    def _first_line(self, raw: bytes) -> None:
        """Formats that are not a UTF-8 CSV file, told apart by their first line."""
        if raw.startswith(b"PK\x03\x04"):
            raise CsvFileError(f"{self.path}: an Excel workbook, not CSV; in Excel choose Save "
                               f"As, 'CSV UTF-8 (Comma delimited)', and import that")
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise CsvFileError(f"{self.path}: the file is UTF-16 text; save it as "
                               f"'CSV UTF-8' (comma delimited), or import it with "
                               f"--encoding utf-16")
        if b"\x00" in raw[:200]:
            head = raw[:200]
            order = "le" if head[1::2].count(0) >= head[0::2].count(0) else "be"
            raise CsvFileError(f"{self.path}:1: the file looks like UTF-16 text without a "
                               f"byte-order mark; save it as 'CSV UTF-8', or import it with "
                               f"--encoding utf-16-{order}")
        if b"\r" in raw.rstrip(b"\r\n") and b"\r\n" not in raw:
            raise CsvFileError(f"{self.path}:1: its lines end with CR alone (an old Mac "
                               f"format); save it as 'CSV UTF-8' and import that")

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
            lines = self._lines(stream)
            separator, lines = _separator(lines)
            reader = csv.reader(lines, delimiter=separator, strict=True)
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
            if header and header[0].strip().lower().startswith("sep=") \
                    and not any(cell.strip() for cell in header[1:]):
                continue  # Excel's line naming the separator
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
        if "name" in columns:
            columns.pop("first_name", None)
            columns.pop("last_name", None)
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
        parts_at = [at for at in (self.columns.get("first_name"),
                                  self.columns.get("last_name")) if at is not None]
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
                if name_at is not None:
                    raw_name = fields[name_at] if name_at < len(fields) else ""
                else:
                    raw_name = " ".join(fields[at] for at in parts_at if at < len(fields))
                name = clean_name(_from_formula_safe(raw_name.strip()))
                language = clean_language(fields[language_at]) if language_at is not None \
                    and language_at < len(fields) else None
            except (InvalidAddress, ValueError) as exc:
                yield BadRow(line, str(exc))
                continue
            yield Row(line, address, name, language)
