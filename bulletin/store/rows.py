"""What the importer takes: rows already parsed and checked (see bulletin.csvimport)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .addresses import Address

NoteKind = Literal["bad", "duplicate", "unsubscribed", "suppressed"]
"""What a note on one row of an import is about (importer.Note)."""


@dataclass(frozen=True, slots=True)
class Row:
    """A good row: its line in the file, the normalised address, and the optional fields."""

    line: int
    address: Address
    name: str | None
    language: str | None


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row that cannot be imported, and why, in words a person can act on."""

    line: int
    reason: str


Checked = tuple[str, str, str | None, str | None, int]
"""A good row as the bulk path carries it, without an object for each: (key, email, name,
language, line), the fields of a Row and its Address."""

Batch = tuple[int, list[BadRow], list[Checked]]
"""Rows read in one go: how many (bad and good, blank lines not counted), the bad ones and the
good ones, each in the order of the file."""
