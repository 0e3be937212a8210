"""The records of a subscriber CSV file checked: the address, the name and the language of each.

Two ways with one result: `check` takes one record field by field through the shared checks
(email_and_key, clean_name, clean_language) and is the reference; `checked` takes the records
of a whole file in batches, and checks a record of the common kind (every field passes the
plain way) inline, with no call per field that it can avoid and no object per row, handing any
other record to `check`. tests/test_csv_fastpath.py holds the two to the same rows, bad rows
and messages for generated files.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from .store.addresses import InvalidAddress, email_and_key
from .store.rows import BadRow, Batch, Checked
from .textchars import spoofing_problem

if TYPE_CHECKING:
    import _csv  # the type of csv.reader's readers (typeshed does not re-export it from csv)

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet treat a cell as a formula (CSV injection)."""
NAME_LENGTH = 200
_LANGUAGE = re.compile(r"([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def clean_name(raw: str) -> str | None:
    """A name as given, its runs of white space (line breaks too) made single spaces; None if
    empty. Raises ValueError for what no name holds: a control character, an invisible one
    that reorders or hides text (textchars.SPOOFING: a name is read alone, in a list of
    them), a length over NAME_LENGTH."""
    name = " ".join(raw.split())
    if not name:
        return None
    if _CONTROL.search(name):
        raise ValueError("the name contains a control character")
    spoofing = spoofing_problem(name)
    if spoofing is not None:
        raise ValueError(f"the name {spoofing}")
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
    """`name` (any exported text: a name, an address, a reason) as a CSV cell that no
    spreadsheet runs as a formula: an apostrophe before a leading =, +, -, @ (and before a
    leading apostrophe, so that reading it back is exact). =1+1@example.org is an address."""
    if name.startswith((*FORMULA_STARTS, "'")):
        return "'" + name
    return name


def from_formula_safe(name: str) -> str:
    """The text `formula_safe` wrote as `name`."""
    if name.startswith("'") and name[1:].startswith((*FORMULA_STARTS, "'")):
        return name[1:]
    return name


@dataclass(frozen=True)
class Columns:
    """Where the fields are in a record: indexes from the header, and its width."""

    email: int
    name: int | None
    parts: tuple[int, ...]
    """The columns a name is made of when there is no name column (first and last name)."""
    language: int | None
    width: int


def check(fields: list[str], line: int, columns: Columns) -> Checked | BadRow | None:
    """One record, checked field by field: the row, what is wrong with it, or None for a
    blank line (or a row of empty fields)."""
    raw_email = fields[columns.email] if columns.email < len(fields) else ""
    if not raw_email.strip():
        if any(field.strip() for field in fields):
            return BadRow(line, "no email address in the email column")
        return None
    if len(fields) > columns.width:
        return BadRow(line, f"{len(fields)} fields, but the header has {columns.width} "
                            f"columns; put quotes around a field that holds a comma")
    try:
        email, key = email_and_key(from_formula_safe(raw_email.strip()))
        if columns.name is not None:
            raw_name = fields[columns.name] if columns.name < len(fields) else ""
        else:
            raw_name = " ".join(fields[at] for at in columns.parts if at < len(fields))
        name = clean_name(from_formula_safe(raw_name.strip()))
        language = clean_language(fields[columns.language]) \
            if columns.language is not None and columns.language < len(fields) else None
    except (InvalidAddress, ValueError) as exc:
        return BadRow(line, str(exc))
    return key, email, name, language, line


class _Slow(Exception):
    """A record the fast path leaves to `check`."""


def checked(reader: _csv.Reader, start: int, columns: Columns, size: int,
            unreadable: Callable[[Exception, int], Exception],
            reference: bool = False) -> Iterator[Batch]:
    """The records `reader` gives (the first starting on line `start`), checked, in batches of
    up to `size` good rows. A record whose fields all pass the plain way (an address
    email_and_key accepts, a name of printable characters, neither with an apostrophe to take
    off; a language code or none) is checked inline, as `check` would; any other goes to `check`
    (every one, with `reference`). An error reading the record that starts on line n is
    raised as unreadable(error, n)."""
    width, email_at, name_at = columns.width, columns.email, columns.name
    parts_at, language_at = columns.parts, columns.language
    read, bad, good = 0, [], []  # type: tuple[int, list[BadRow], list[Checked]]
    try:
        for fields in reader:
            line = start
            start = reader.line_num + 1
            count = len(fields)
            if not count:
                continue  # a blank line
            try:
                if reference or count > width:
                    raise _Slow
                email, key = email_and_key(fields[email_at] if email_at < count else "")
                if email[0] == "'":
                    raise _Slow  # an apostrophe to take off (formula_safe)
                if name_at is not None:
                    raw_name = fields[name_at] if name_at < count else ""
                else:
                    raw_name = " ".join(fields[at] for at in parts_at if at < count)
                name = " ".join(raw_name.split()) or None
                if name is not None and (name[0] == "'" or len(name) > NAME_LENGTH
                                         or not name.isprintable()):
                    raise _Slow  # an apostrophe to take off, or a character to look at
                language = clean_language(fields[language_at]) \
                    if language_at is not None and language_at < count else None
            except (_Slow, ValueError):  # InvalidAddress is a ValueError
                row = check(fields, line, columns)
                if row is None:
                    continue
                read += 1
                if isinstance(row, BadRow):
                    bad.append(row)
                else:
                    good.append(row)
            else:
                read += 1
                good.append((key, email, name, language, line))
            if len(good) >= size:
                yield read, bad, good
                read, bad, good = 0, [], []
    except (csv.Error, UnicodeDecodeError) as exc:
        raise unreadable(exc, start) from None
    if read:
        yield read, bad, good
