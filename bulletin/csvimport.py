"""Reading a subscriber CSV file: header-driven, streamed, every row checked.

- The header row names the columns, in any order and case: `email` (required; also `e-mail`,
  `email address` as Mailchimp writes it), `name` (also `full name`; or `first name` and
  `last name`, joined), `language` (also `lang`). Other columns are ignored and reported.
- Commas, semicolons (Excel in much of Europe) or tabs between fields, seen from the header.
- UTF-8 with or without a byte-order mark, or another encoding named (`open_csv`: Windows-1252,
  UTF-16); Windows or Unix line endings; quoted fields may hold separators, quotes ("") and
  line breaks. A file in another encoding, with CR alone at line ends (at all or at some,
  outside quotes), UTF-16 without a
  byte-order mark or an Excel workbook gets a one-line message that says what to do.
- Names and addresses that a spreadsheet would run as a formula (starting =, +, -, @) are
  written with a leading apostrophe by `formula_safe` on export, and read back without it.
- Each row comes out as a Row (the address checked and normalised) or a BadRow (its line and
  what is wrong); blank lines are skipped. A row's line is the physical line it starts on, so a
  quoted field that spans lines does not shift the lines after it.
- Mistakes that make the whole file unreadable (no email column, not UTF-8, a quote never
  closed, a field over FIELD_LIMIT characters) raise CsvFileError naming the file and line
  (and the column of a field too long). The file is read a line at a time and never held
  whole in memory.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from .csvfields import (  # the field checks, here too for those who read files
    FORMULA_STARTS,
    NAME_LENGTH,
    Columns,
    checked,
    clean_language,
    clean_name,
    formula_safe,
)
from .errors import BulletinError
from .store.addresses import Address
from .store.importer import BATCH
from .store.rows import BadRow, Batch, Row

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
FIELD_LIMIT = 128 * 1024
_ALIASES = {alias: column for column, aliases in COLUMNS.items() for alias in aliases}


class CsvFileError(BulletinError):
    """The file as a whole cannot be read; the message names the file and line."""


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


def _separator(seen: list[str], lines: Iterator[str]) -> tuple[str, Iterator[str]]:
    """The field separator, from `seen`, the lines up to the first that is not blank (outside
    quotes, the one that occurs most; a comma if none), and the lines again from the start."""
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
        self._header: list[str] = []
        self._separator = ","
        self._line = ""
        """The line the csv reader has read last (`_kept`): where a field too long is."""

    def __str__(self) -> str:
        return str(self.path)

    def _lines(self, stream: IO[bytes]) -> Iterator[str]:
        """The file's lines as text (line endings kept, for the csv module). The first is
        checked for formats that are not UTF-8 CSV; the others are decoded as they are read,
        a bad byte raising UnicodeDecodeError, which `_not_utf8` words with its line."""
        first = stream.readline()
        if not first:
            return iter(())
        self._first_line(first)
        if first.startswith(b"\xef\xbb\xbf"):
            first = first[3:]
        try:
            text = first.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self._not_utf8(1, exc) from None
        return itertools.chain((text,), map(bytes.decode, stream))

    def _not_utf8(self, line: int, exc: UnicodeDecodeError) -> CsvFileError:
        return CsvFileError(
            f"{self.path}:{line}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
            f"column {exc.start + 1}); if Excel saved it as plain 'CSV', import it with "
            f"--encoding cp1252, or save it as 'CSV UTF-8'")

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
            raise self._lone_cr(1, mixed=False)

    def _lone_cr(self, line: int, *, mixed: bool) -> CsvFileError:
        """CR alone at the end of every line, or (`mixed`) of line `line` where others end
        with CR LF (the csv module's "new-line character seen in unquoted field")."""
        which = "this line ends with CR alone (an old Mac format), others with CR LF" \
            if mixed else "its lines end with CR alone (an old Mac format)"
        return CsvFileError(f"{self.path}:{line}: {which}; save it as 'CSV UTF-8' and "
                            f"import that")

    def _kept(self, lines: Iterator[str]) -> Iterator[str]:
        """`lines`, each kept as `_line` while the csv reader reads it."""
        for line in lines:
            self._line = line
            yield line

    def __iter__(self) -> Iterator[Row | BadRow]:
        for _, bad, good in self.batches(BATCH):
            rows: list[Row | BadRow] = [*bad]
            rows += (Row(line, Address(email, key), name, language)
                     for key, email, name, language, line in good)
            rows.sort(key=lambda row: row.line)
            yield from rows

    def batches(self, size: int, *, reference: bool = False) -> Iterator[Batch]:
        """The file's rows, checked, in batches of up to `size` good rows (see Batch). Rows
        of the common kind are checked by a fast path, the others by `check`, which the fast
        path gives the same result as (`reference` checks every row by `check`, for tests
        that hold the two together)."""
        if self._stream is not None:
            yield from self._batches(self._stream, size, reference)
            return
        try:
            stream = self.path.open("rb")
        except OSError as exc:
            raise CsvFileError(f"{self.path}: cannot read: {exc.strerror or exc}") from None
        with stream:
            yield from self._batches(stream, size, reference)

    def _batches(self, stream: IO[bytes], size: int, reference: bool) -> Iterator[Batch]:
        previous_limit = csv.field_size_limit(FIELD_LIMIT)
        try:
            lines = self._lines(stream)
            seen: list[str] = []
            try:
                for line in lines:
                    seen.append(line)
                    if line.strip():
                        break
            except UnicodeDecodeError as exc:
                raise self._not_utf8(len(seen) + 1, exc) from None
            separator, lines = _separator(seen, lines)
            self._separator = separator
            reader = csv.reader(self._kept(lines), delimiter=separator, strict=True)
            start = self._read_header(reader)
            yield from checked(reader, start, self._columns(), size,
                               lambda exc, line: self._unreadable(exc, reader, line),
                               reference)
        finally:
            csv.field_size_limit(previous_limit)

    def _unreadable(self, exc: Exception, reader: _csv.Reader, start: int) -> CsvFileError:
        """`exc`, raised reading the record that starts on line `start`, in one line."""
        if isinstance(exc, UnicodeDecodeError):
            return self._not_utf8(reader.line_num + 1, exc)
        message = str(exc)
        if "unexpected end of data" in message:
            return CsvFileError(f"{self.path}:{start}: a quoted field that starts on this "
                                f"line is never closed; add the closing quote")
        if "new-line character seen in unquoted field" in message:
            return self._lone_cr(reader.line_num, mixed=True)
        if "field larger than field limit" in message and reader.line_num == start:
            return self._too_long(start)
        if "field larger than field limit" in message:
            return CsvFileError(f"{self.path}:{start}: a quoted field that starts on this "
                                f"line runs on for over {FIELD_LIMIT // 1024} KiB; is a "
                                f"closing quote missing?")
        return CsvFileError(f"{self.path}:{reader.line_num}: not valid CSV: {message}; "
                            f"a field holding quotes must be quoted itself, with each "
                            f"quote doubled (\"\")")

    def _too_long(self, line: int) -> CsvFileError:
        """A field over FIELD_LIMIT characters within line `line` (`_line`): which column,
        and how long."""
        csv.field_size_limit(len(self._line) + 1)
        try:
            fields = next(csv.reader([self._line], delimiter=self._separator), [])
        finally:
            csv.field_size_limit(FIELD_LIMIT)
        column, size = max(enumerate(map(len, fields)), key=lambda pair: pair[1],
                           default=(0, len(self._line)))
        name = self._header[column].strip() if column < len(self._header) else ""
        named = f" ({name})" if name and name.isprintable() and len(name) <= 40 else ""
        return CsvFileError(f"{self.path}:{line}: the field in column {column + 1}{named} is "
                            f"{size:,} characters long; a field may hold at most "
                            f"{FIELD_LIMIT:,} (no address, name or language is that long): "
                            f"check that this is the file to import")

    def _read_header(self, reader: _csv.Reader) -> int:
        """Read up to the header row; return the line after it."""
        while True:
            start = reader.line_num + 1
            try:
                header = next(reader, None)
            except (csv.Error, UnicodeDecodeError) as exc:
                raise self._unreadable(exc, reader, start) from None
            if header is None:
                raise CsvFileError(f"{self.path}: the file is empty; it needs a header row "
                                   f"such as email,name,language and then one row a person")
            if header and header[0].strip().lower().startswith("sep=") \
                    and not any(cell.strip() for cell in header[1:]):
                continue  # Excel's line naming the separator
            if any(cell.strip() for cell in header):
                break
        self.header_line = start
        self._header = header
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

    def _columns(self) -> Columns:
        columns = self.columns
        return Columns(columns["email"], columns.get("name"),
                       tuple(columns[part] for part in ("first_name", "last_name")
                             if part in columns),
                       columns.get("language"), self.width)


__all__ = ["FORMULA_STARTS", "NAME_LENGTH", "CsvFileError", "SubscriberFile", "clean_language",
           "clean_name", "formula_safe", "open_csv"]
