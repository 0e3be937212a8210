"""YAML that remembers where each key stood, so errors can name the line."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import IssueError
from .textfile import read_text

if TYPE_CHECKING:
    import yaml

Loc = tuple[str | int, ...]

NESTING_MAX = 50
"""Levels of lists and mappings within each other an issue file may have (it needs four)."""
ALIASED_ITEMS_MAX = 20_000
"""Items an issue file may hold once its aliases are built out: thousands more than any
issue needs, and built in a fraction of a second."""


@dataclass(frozen=True)
class Dropped:
    """A comment that followed a plain text value on its line: where, and what."""

    line: int
    comment: str
    """From the `#` to the end of the line."""


@dataclass(frozen=True)
class Located:
    """Plain Python data loaded from YAML, with the 1-based line of every key and item."""

    path: Path
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)
    literal_starts: dict[Loc, int] = field(default_factory=dict)
    dropped: dict[Loc, Dropped] = field(default_factory=dict)
    """Text read as a YAML comment after a plain (unquoted) text value on its line, which
    the value does not hold: `subject: Issue #5` is the subject "Issue"."""

    def line_of(self, loc: Loc) -> int:
        """The line of `loc`, or of its nearest enclosing key that exists in the file."""
        for end in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:end]))
            if line is not None:
                return line
        return 1

    def line_within(self, loc: Loc, offset: int) -> int:
        """The line of character `offset` of the text at `loc`: exact inside a literal block
        (`|`), where text lines are file lines, else the line of its key."""
        start = self.literal_starts.get(loc)
        value = self.value_at(loc)
        if start is None or not isinstance(value, str):
            return self.line_of(loc)
        return start + value[:offset].count("\n")

    def value_at(self, loc: Loc) -> Any:
        data = self.data
        for part in loc:
            data = data[part]
        return data


def load_yaml(path: Path) -> Located:
    """Read one YAML document. Keys are always strings (YAML 1.1 would turn `no:` into
    False); duplicate keys are errors rather than silently keeping the last."""
    return parse_yaml(read_text(path, IssueError), path)


def parse_yaml(text: str, path: Path) -> Located:
    import yaml  # here, not above: settings use dotted(), and the sender needs no YAML

    lines: dict[Loc, int] = {(): 1}
    literal_starts: dict[Loc, int] = {}
    dropped: dict[Loc, Dropped] = {}
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:  # a control character typed into the file
        raise IssueError(_unreadable(exc, path, text)) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return Located(path, None, lines, literal_starts)

        seen: set[int] = set()  # the lists and mappings built so far
        merged: dict[int, int] = {}  # a mapping's pairs that came from merges (the first n)
        own = _own_pairs(node)
        inside: set[int] = set()  # those being built now, around this node
        count = 0

        def build(node: yaml.Node, loc: Loc) -> Any:
            # An alias (`*name`) is the node its anchor (`&name`) made, built once more where
            # it stands. Bounded: one inside its own anchor would never end, and each one
            # doubles what it repeats (ten lines of them make a billion items).
            nonlocal count
            count += 1
            if len(loc) > NESTING_MAX:
                raise IssueError(_nested(path))
            if isinstance(node, yaml.CollectionNode):
                if id(node) in inside:
                    raise IssueError(f"{path}:{key_line_of(loc)}: {dotted(loc)}: an alias (*name) "
                                     "inside what its anchor (&name) marks would repeat it "
                                     "without end; write it out in full")
                if id(node) in seen and count > ALIASED_ITEMS_MAX:
                    raise IssueError(f"{path}:{key_line_of(loc)}: {dotted(loc)}: the aliases "
                                     f"(*name) repeat what their anchors mark into over "
                                     f"{ALIASED_ITEMS_MAX:,} items; write the repeated parts "
                                     "out where they are needed")
                seen.add(id(node))
                inside.add(id(node))
                try:
                    return build_collection(node, loc)
                finally:
                    inside.discard(id(node))
            return build_scalar(node, loc)

        def key_line_of(loc: Loc) -> int:
            while loc and isinstance(loc[-1], int):  # an item's line is its anchor's
                loc = loc[:-1]
            return lines.get(loc, 1)

        def build_collection(node: yaml.CollectionNode, loc: Loc) -> Any:
            if isinstance(node, yaml.MappingNode):
                if id(node) not in merged:  # a merge (`<<: *name`) puts its pairs first
                    loader.flatten_mapping(node)
                    merged[id(node)] = len(node.value) - own[id(node)]
                out: dict[str, Any] = {}
                own_lines: dict[str, int] = {}
                for index, (key_node, value_node) in enumerate(node.value):
                    if not isinstance(key_node, yaml.ScalarNode):
                        raise IssueError(f"{path}:{key_node.start_mark.line + 1}: "
                                         "a key must be plain text")
                    key = key_node.value
                    key_line = key_node.start_mark.line + 1
                    if index >= merged[id(node)]:  # the mapping's own: it wins over a merge's
                        if key in own_lines:
                            raise IssueError(
                                f"{path}:{key_line}: {dotted((*loc, key))}: duplicate key "
                                f"(first given on line {own_lines[key]}); keep one")
                        own_lines[key] = key_line
                    lines[(*loc, key)] = key_line
                    out[key] = build(value_node, (*loc, key))
                return out
            items = []  # a SequenceNode
            for index, item in enumerate(node.value):
                lines[(*loc, index)] = item.start_mark.line + 1
                items.append(build(item, (*loc, index)))
            return items

        def build_scalar(node: yaml.Node, loc: Loc) -> Any:
            if isinstance(node, yaml.ScalarNode) and node.style == "|":
                literal_starts[loc] = node.start_mark.line + 2
            if isinstance(node, yaml.ScalarNode) and node.style is None and \
                    node.tag == "tag:yaml.org,2002:str":
                comment = _comment_after(text, node.end_mark.index)
                if comment is not None:
                    dropped[loc] = Dropped(node.end_mark.line + 1, comment)
            try:
                return loader.construct_object(node, deep=True)
            except ValueError as exc:  # a date such as 2022-13-45
                raise IssueError(f"{path}:{node.start_mark.line + 1}: {dotted(loc)}: "
                                 f"{node.value!r} is not a date ({exc}); write dates "
                                 "YYYY-MM-DD, such as 2022-01-31") from None

        data = build(node, ())
    except yaml.MarkedYAMLError as exc:
        raise IssueError(_yaml_message(exc, path, text)) from None
    except RecursionError:  # PyYAML's composer goes calls deeper for each level
        raise IssueError(_nested(path)) from None
    except yaml.YAMLError as exc:
        raise IssueError(f"{path}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return Located(path, data, lines, literal_starts, dropped)


def _own_pairs(root: yaml.Node) -> dict[int, int]:
    """Each mapping's own pairs (not a merge's), counted before any is flattened: flattening
    one flattens those it merges too, which then hold their merges' pairs as if their own."""
    import yaml

    counts: dict[int, int] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in counts or not isinstance(node, yaml.CollectionNode):
            continue
        if isinstance(node, yaml.MappingNode):
            counts[id(node)] = sum(1 for key, _ in node.value
                                   if key.tag != "tag:yaml.org,2002:merge")
            stack.extend(value for pair in node.value for value in pair)
        else:
            counts[id(node)] = 0
            stack.extend(node.value)
    return counts


def _nested(path: Path) -> str:
    return (f"{path}: lists and mappings nested over {NESTING_MAX} levels deep; an issue "
            "file needs a few (see issues/ for the layout)")


def _comment_after(text: str, end: int) -> str | None:
    """The comment that starts on the same line after a plain scalar ending at `end`: YAML
    reads ` #` (a space first) as the start of a comment, where `#` with no space before it
    (`https://x.org/#top`) is text."""
    stop = text.find("\n", end)
    rest = text[end:stop if stop >= 0 else len(text)]
    comment = rest.lstrip(" \t")
    if comment.startswith("#") and len(comment) < len(rest):
        return comment.rstrip()
    return None


def _unreadable(exc: yaml.reader.ReaderError, path: Path, text: str) -> str:
    """A character YAML does not allow in a file (a control character, pasted in), at its
    line and column."""
    before = text[:exc.position]
    line, column = before.count("\n") + 1, exc.position - before.rfind("\n")
    return (f"{path}:{line}: a control character, U+{exc.character:04X}, at column {column}; "
            "YAML does not allow one in a file and no email can carry it: delete it")


_SIMPLE_KEY = re.compile(r"^\s*(?:-\s+)?[\w.-]+$")


def _yaml_message(exc: yaml.MarkedYAMLError, path: Path, text: str) -> str:
    """The mistake in plain words with its fix, at the line it is on: a tab, a colon inside
    unquoted text, a key out of line, an unclosed quote; else the parser's words (never past
    the end of the file)."""
    problem = exc.problem or "malformed YAML"
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return f"{path}: invalid YAML: {problem}"
    rows = text.split("\n")
    last = max(1, text.count("\n") + (0 if text.endswith("\n") else 1))
    line = min(mark.line + 1, last)
    row = rows[mark.line] if mark.line < len(rows) else ""
    if exc.context_mark and "quoted scalar" in (exc.context or ""):
        return (f"{path}:{exc.context_mark.line + 1}: invalid YAML: unclosed quote "
                f"({problem}); close the quote")
    if "'\\t'" in problem or "\t" in problem:
        column = row.find("\t") + 1 or mark.column + 1
        return (f"{path}:{line}: a tab character (column {column}); YAML indents with spaces "
                "only: replace the tab with spaces")
    quoting = _quoting(row)
    if quoting:
        return f"{path}:{line}: {quoting}"
    if problem == "mapping values are not allowed here":
        before = row[:mark.column]
        key, sep, value = row.partition(": ")
        if sep and not _SIMPLE_KEY.match(before) and _SIMPLE_KEY.match(key):
            name = key.strip().removeprefix("- ").strip()
            quoted = value.strip().replace("\\", "\\\\").replace('"', '\\"')
            return (f"{path}:{line}: {name}: a colon followed by a space inside the text; put "
                    f'the text in quotes: {name}: "{quoted}"')
        if _SIMPLE_KEY.match(before):
            return _indentation(path, line)
    if "expected <block end>" in (problem or "") or "expected <block end>" in str(exc):
        return _indentation(path, line)
    if problem == "could not find expected ':'" and exc.context_mark is not None:
        at = exc.context_mark.line + 1
        return (f"{path}:{at}: line {at} is neither a key with a colon (key: value) nor in "
                "line with the text above it; write the colon, or indent the text as the "
                "lines above it are")
    if "expected '<document start>'" in problem:
        first = next((n for n, r in enumerate(rows, 1) if r.strip() and
                      not r.lstrip().startswith("#")), line)
        if rows[first - 1][:1].isspace():
            return (f"{path}:{first}: the indentation is wrong: line {first} is indented, but "
                    "the keys at the top start in the first column")
        return _indentation(path, line)
    return f"{path}:{line}: invalid YAML: {problem} (column {mark.column + 1})"


_VALUE = re.compile(r"^\s*(?:-\s+)?([\w.-]+):\s+(.+?)\s*$")


def _quoting(row: str) -> str | None:
    """`key: value` on `row` where the value is text that YAML read as something else (a
    list, an alias, a quote ended early): the fix, with the line to write."""
    match = _VALUE.match(row)
    if match is None:
        return None
    key, value = match.groups()
    if value[0] in "'\"" and len(value) > 2 and value[-1] == value[0] and \
            value[0] in value[1:-1]:
        inner = value[1:-1]
        if value[0] == "'":
            inner = inner.replace("''", "'").replace("\\", "\\\\").replace('"', '\\"')
            return (f"{key}: a quote inside the quoted text ends it; put the text in double "
                    f'quotes: {key}: "{inner}"')
        return (f"{key}: a quote inside the quoted text ends it; put the text in single "
                f"quotes: {key}: '{inner.replace(chr(39), chr(39) * 2)}'")
    closing = {"[": "]", "{": "}"}.get(value[0])
    if closing and value.endswith(closing):
        return None  # a list or mapping written inline, [a, b] or {en: ..., cy: ...}
    if value[0] in "[]{}*&!@`%,?" or value.startswith("- "):
        quoted = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{key}: text that starts with {value[0]} must be in quotes: {key}: "{quoted}"'
    return None


def _indentation(path: Path, line: int) -> str:
    return (f"{path}:{line}: the indentation is wrong: line {line} does not line up with the "
            "keys above it; the keys of one mapping start in the same column (indent with "
            "spaces, 2 more for each level)")


def dotted(loc: Loc) -> str:
    """`sections[1].heading` for ('sections', 1, 'heading')."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out

