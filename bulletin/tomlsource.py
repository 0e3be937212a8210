"""TOML that remembers where each key and table stood, so errors can name the line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import SettingsError
from .yamlsource import Loc

if TYPE_CHECKING:
    from tomlkit.items import Item

_TWICE = re.compile(r'Key "(.+)" already exists\.?$')


def toml_with_lines(text: str, path: Path) -> tuple[dict[str, Any], dict[Loc, int]]:
    """The data of a TOML text, and the 1-based line of every key and table header in it
    (tomlkit's parser, told to note where each key and table starts)."""
    import tomlkit
    from tomlkit.container import Container
    from tomlkit.exceptions import ParseError, TOMLKitError
    from tomlkit.items import AoT, Table
    from tomlkit.parser import Parser

    starts: dict[int, int] = {}
    kept: list[object] = []  # so no id() is reused while `starts` is read
    headers: list[tuple[int, str]] = []  # each table header's line and text

    class Noting(Parser):
        last_line = 1  # of the last key read

        def _line(self) -> int:
            return int(self._src.count("\n", 0, self._idx)) + 1

        def _parse_key_value(self, parse_comment: bool = False) -> Any:
            line = self.last_line = self._line()
            key, value = super()._parse_key_value(parse_comment)
            starts[id(value)] = line
            kept.append(value)
            return key, value

        def _parse_table(self, parent_name: Any = None, parent: Any = None) -> Any:
            end = self._src.find("\n", self._idx)
            headers.append((self._line(), str(self._src[self._idx:end if end >= 0 else None])))
            return super()._parse_table(parent_name, parent)

    parser = Noting(text)
    try:
        document = parser.parse()
    except ParseError as exc:
        problem = str(exc).rpartition(" at line ")[0] or str(exc)
        plain = _given_twice(problem) or \
            _plain(problem, text.split("\n")[exc.line - 1] if exc.line >= 1 else "")
        raise SettingsError(f"{path}:{exc.line}: invalid TOML: " + (
            plain or f"{problem} (column {exc.col})")) from None
    except TOMLKitError as exc:  # a key given twice in one table, found as it is added
        what = _given_twice(str(exc)) or str(exc)
        raise SettingsError(f"{path}:{parser.last_line}: invalid TOML: {what}") from None
    lines: dict[Loc, int] = {(): 1}

    def walk(item: Item | Container, loc: Loc) -> None:
        line = starts.get(id(item))
        if line is not None and loc not in lines:
            lines[loc] = line
        if isinstance(item, AoT):
            for index, table in enumerate(item.body):
                walk(table, (*loc, index))
            return
        body = item.body if isinstance(item, Container) else \
            item.value.body if isinstance(item, Table) else \
            getattr(getattr(item, "value", None), "body", None)
        for key, value in body or ():
            if key is not None:
                walk(value, (*loc, key.key))

    walk(document, ())
    # A table's line is its header's: [a.b] and [[a.b]] (the n-th is item n of the array).
    arrays: dict[Loc, int] = {}
    for line, header in headers:
        match = re.match(r"\s*(\[\[?)\s*(.+?)\s*\]\]?\s*(#.*)?$", header)
        if match is None:
            continue
        try:
            nested: Any = tomlkit.parse(f"{match.group(2)} = 0").unwrap()
        except ParseError:
            continue
        loc: Loc = ()
        while isinstance(nested, dict) and len(nested) == 1:
            name, nested = next(iter(nested.items()))
            loc = (*loc, name)
            if loc in arrays and nested != 0:  # a table inside the array's last item
                loc = (*loc, arrays[loc] - 1)
        if match.group(1) == "[[":
            arrays[loc] = arrays.get(loc, 0) + 1
            loc = (*loc, arrays[loc] - 1)
        lines.setdefault(loc, line)
        for end in range(1, len(loc)):  # tables named only as part of this one
            lines.setdefault(loc[:end], line)
    return tomlkit.TOMLDocument.unwrap(document), lines


def _given_twice(problem: str) -> str | None:
    """tomlkit's `Key "x" already exists.` in plain words, else None."""
    twice = _TWICE.match(problem)
    return f"{twice[1]} is given twice; keep one" if twice else None


_KEY_VALUE = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*=\s*(.*?)\s*$")


def _plain(problem: str, row: str) -> str | None:
    """The slip on `row` in plain words with its fix, where it is a common one: text not in
    quotes, a quote not closed, True for true; else None (the parser's words)."""
    match = _KEY_VALUE.match(row.rstrip("\r"))
    if match is None:
        return None
    key, value = match.groups()
    if value in ("True", "False", "TRUE", "FALSE"):
        return f"{key}: write true or false in lower case"
    if problem.startswith("Control characters") and value[:1] in ('"', "'"):
        return (f"{key}: the quote is not closed on this line; close it (for text over "
                'several lines, use """ before and after)')
    if problem.startswith("Unexpected character") and value and \
            not re.match(r"[\"'\[{0-9+-]|(true|false|inf|nan)\b", value):
        quoted = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{key}: text goes in quotes: {key} = "{quoted}"'
    return None
