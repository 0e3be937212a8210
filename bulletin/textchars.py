"""Characters no email can carry, and line breaks, in the text of an issue or of
bulletin.toml: the one rule, which the loaders (issue.load_issue, settings.load_workspace)
and `bulletin check` (checks.subject-line-break) apply; invisible characters that make one
text pass for another (SPOOFING), refused where a person reads text alone (an issue's subject
and preheader in the inbox, a subscriber's name: `spoofing_problem`); and short text typed at
a command, made one plain line (`single_line`)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from .yamlsource import Loc

LINE_BREAK = re.compile("[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
"""What ends a line (str.splitlines): a header such as the subject holds none."""
UNWRITABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff"
                        "\ufffe\uffff]")
"""What no text may hold: what YAML refuses typed into a file, which a backslash escape in
quotes still makes (\\x0b, \\0, \\ud800; TOML's \\u000b): a control character other than
tab, CR, LF and NEL (which XML, so MJML, refuses, or no reader sees), half of a UTF-16 pair
or a non-character (which UTF-8 cannot write)."""


def text_problems(data: object, loc: Loc = ()) -> Iterator[tuple[Loc, str]]:
    """Each text in `data` (an issue's, or bulletin.toml's) holding a character no email can
    carry (UNWRITABLE), with the first of them in words. The loaders refuse these, as the
    email cannot be made with them; a subject's other line breaks (CR, LF, NEL) it can be
    made with, and `bulletin check` reports them (checks.subject-line-break, by LINE_BREAK
    too). An issue's subject and preheader, which the inbox shows, are refused with a
    SPOOFING character too."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from text_problems(value, (*loc, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from text_problems(value, (*loc, index))
    elif isinstance(data, str):
        found = UNWRITABLE.search(data)
        if found is not None:
            yield loc, _text_problem(loc, found.group())
        elif loc[:1] in (("subject",), ("preheader",)) and SPOOFING.search(data):
            yield loc, f"the {loc[0]} {spoofing_problem(data)}"


def _text_problem(loc: Loc, char: str) -> str:
    code = f"U+{ord(char):04X}"
    if loc[:1] == ("subject",) and LINE_BREAK.match(char):
        return (f"the subject has a line break ({code}) in it; write it on one line (for a "
                "long one, `subject: >-` folds the lines into one)")
    if 0xD800 <= ord(char) <= 0xDFFF:
        return (f"{code} is half of a UTF-16 pair, not a character, and no email can carry "
                "it; write the character itself")
    what = "a non-character" if char in "\ufffe\uffff" else "a control character"
    return (f"{what} ({code}) that no email can carry; delete it (a backslash escape in "
            "quotes, such as \\x0b, \\0 or \\u000b, makes one)")


SPOOFING = re.compile("[\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")
"""Invisible characters that reorder or hide text (bidirectional overrides and isolates,
zero-width spaces): read aloud or compared, one name would look like another. Not those that
join (U+200C, U+200D: needed in Persian, Indic scripts and emoji) or tag (the Welsh flag)."""


def spoofing_problem(text: str) -> str | None:
    """The first SPOOFING character in `text` and what to do, in words ("holds U+202E
    (RIGHT-TO-LEFT OVERRIDE), ..."), or None if it holds none."""
    found = SPOOFING.search(text)
    if found is None:
        return None
    char = found.group()
    return (f"holds U+{ord(char):04X} ({unicodedata.name(char, 'a format character')}), an "
            "invisible character that reorders or hides text; delete it")


def single_line(text: str) -> str:
    """A person's short text typed at a command or into a form (a name, a reason, a list's
    title) as kept and shown: one line, each control character (an escape sequence would work
    on the terminal of whoever lists it), line separator, SPOOFING character or lone surrogate
    (no database can store one) a space, runs of spaces one."""
    return " ".join("".join(" " if unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp")
                            or SPOOFING.match(c) else c for c in text).split())
