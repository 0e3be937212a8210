"""YAML with line numbers: the data is what a YAML parser reads, and every key's line is
where the key stands."""

from __future__ import annotations

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
