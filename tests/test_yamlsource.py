"""YAML with line numbers: the data is what a YAML parser reads, and every key's line is
where the key stands."""

from __future__ import annotations

import sys
from itertools import pairwise
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from bulletin.errors import IssueError
from bulletin.yamlsource import parse_yaml

keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=10)
scalars = st.one_of(st.integers(), st.text(alphabet="abc xyz.,é", max_size=20), st.booleans())
documents = st.recursive(
    st.dictionaries(keys, scalars, min_size=1, max_size=4),
    lambda children: st.one_of(
        st.dictionaries(keys, children, min_size=1, max_size=4),
        st.lists(children, min_size=1, max_size=3)),
    max_leaves=12).filter(lambda d: isinstance(d, dict))


@pytest.mark.slow
@given(documents)
def test_data_matches_a_plain_yaml_load(document: dict) -> None:
    text = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
    located = parse_yaml(text, Path("x.yaml"))
    assert located.data == yaml.safe_load(text)


@pytest.mark.slow
@given(documents)
def test_each_key_line_is_where_the_key_stands(document: dict) -> None:
    text = yaml.safe_dump(document, allow_unicode=True, sort_keys=False,
                          default_flow_style=False)
    located = parse_yaml(text, Path("x.yaml"))
    lines = text.split("\n")
    for loc, line in located.lines.items():
        if loc and isinstance(loc[-1], str):
            key = loc[-1]
            assert lines[line - 1].lstrip(" -").startswith((f"{key}:", f"'{key}':"))


@pytest.mark.slow
@given(documents, documents)
def test_data_with_aliases_matches_a_plain_yaml_load(document: dict, shared: dict) -> None:
    """A part given twice is dumped once with an anchor (&id001) and then as an alias."""
    document = {**document, "first": shared, "again": [shared, {"more": shared}]}
    text = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
    assert "*id001" in text
    assert parse_yaml(text, Path("x.yaml")).data == yaml.safe_load(text)


def test_keys_stay_text_even_when_yaml_11_would_make_them_booleans() -> None:
    located = parse_yaml("no: Norsk\nyes: 1\n", Path("x.yaml"))
    assert located.data == {"no": "Norsk", "yes": 1}


def test_duplicate_keys_are_errors_with_both_lines() -> None:
    with pytest.raises(IssueError, match=r"x\.yaml:3: subject: duplicate key \(first given "
                                         r"on line 1\)"):
        parse_yaml("subject: a\nnumber: 1\nsubject: b\n", Path("x.yaml"))


@pytest.mark.parametrize(("text", "line"), [
    ("a: 1\n b: 2\n", 2),
    ("a: 'unclosed\nb: 2\n", 1),
    ("a:\n\t- tab\n", 2),
    ("- a\nb: 1\n", 2),
])
def test_malformed_yaml_names_the_line(text: str, line: int) -> None:
    with pytest.raises(IssueError, match=rf"^x\.yaml:{line}: "):
        parse_yaml(text, Path("x.yaml"))


def test_line_within_a_literal_block_is_exact() -> None:
    text = "a: 1\nbody: |\n  one\n  two [here](https://x.test)\n  three\n"
    located = parse_yaml(text, Path("x.yaml"))
    value = located.data["body"]
    assert located.line_within(("body",), value.index("here")) == 4


def bomb(levels: int) -> str:
    """An alias bomb: each line a list of nine aliases of the line before (9**levels items)."""
    names = [f"l{n}" for n in range(levels + 1)]
    rows = [f"{names[0]}: &{names[0]} [" + ", ".join(['"lol"'] * 9) + "]"]
    rows += [f"{name}: &{name} [" + ", ".join([f"*{before}"] * 9) + "]"
             for before, name in pairwise(names)]
    return "\n".join(rows) + "\n"


def test_an_alias_bomb_is_refused_at_once_naming_its_line() -> None:
    """9**5 items, were each alias built out (ten lines more: a billion); refused once they
    pass ALIASED_ITEMS_MAX."""
    with pytest.raises(IssueError, match=r"^x\.yaml:\d+: l\d+(\[\d+\])+: the aliases \(\*name\) "
                                         r"repeat what their anchors mark into over 20,000 "
                                         "items; write the repeated parts out"):
        parse_yaml(bomb(5), Path("x.yaml"))


@pytest.mark.parametrize(("text", "where"), [
    ("sections: &s\n  - heading: A\n    more: *s\n", r"x\.yaml:3: sections\[0\]\.more"),
    ("a: &m\n  b:\n    c: [*m]\n", r"x\.yaml:3: a\.b\.c\[0\]"),
])
def test_an_alias_inside_its_own_anchor_is_an_error_naming_its_line(text: str,
                                                                    where: str) -> None:
    """Before, a RecursionError's traceback of 3,000 lines."""
    with pytest.raises(IssueError, match=rf"^{where}: an alias \(\*name\) inside what its "
                                         r"anchor \(&name\) marks would repeat it without end"):
        parse_yaml(text, Path("x.yaml"))


def test_aliases_are_read_as_yaml_reads_them() -> None:
    text = ("a: &t Hello\nb: *t\nd: &m {x: 1, y: [1, 2]}\ne: {<<: *m, y: 2}\nf: *m\n"
            "g: [*m, *m]\n")
    located = parse_yaml(text, Path("x.yaml"))
    assert located.data == yaml.safe_load(text)
    assert located.lines[("f", "y")] == 3  # where the anchor's key stands


@pytest.mark.parametrize("text", [
    "a: &d {style: a}\nb: {<<: &w {<<: *d, style: b}}\nc: *w\n",
    "item: {one: &one {<<: {title: Base}, title: Own}, <<: *one}\n",
])
def test_a_merge_within_a_merge_keeps_each_mappings_own_keys_its_own(text: str) -> None:
    """Flattening a mapping flattens the ones it merges too; their keys from merges are still
    not their own (a key given by a merge and by the mapping is no duplicate)."""
    assert parse_yaml(text, Path("x.yaml")).data == yaml.safe_load(text)


@pytest.mark.parametrize("depth", [51, 3000])
def test_lists_nested_deep_are_an_error_not_a_crash(depth: int) -> None:
    """Past NESTING_MAX a one-line error; deeper than PyYAML can read (3,000 levels, under
    Python's default recursion limit), the same, rather than a RecursionError's traceback."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)  # the default (a test elsewhere raises it)
    try:
        with pytest.raises(IssueError, match=r"^x\.yaml: lists and mappings nested over 50 "
                                             "levels deep"):
            parse_yaml("a: " + "[" * depth + "]" * depth + "\n", Path("x.yaml"))
    finally:
        sys.setrecursionlimit(limit)
    assert parse_yaml("a: " + "[" * 49 + "]" * 49 + "\n", Path("x.yaml")).data["a"] == \
        yaml.safe_load("[" * 49 + "]" * 49)
