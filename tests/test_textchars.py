"""`single_line`: short text typed at a command, kept as one plain line; `spoofing_problem`:
invisible characters that reorder or hide text, named where such text is refused."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulletin.csvfields import NAME_LENGTH
from bulletin.textchars import SPOOFING, single_line, spoofing_problem
from bulletin.web.service.forms import clean_name


@given(st.text())
def test_any_text_becomes_one_line_of_visible_characters_single_spaced(text: str) -> None:
    line = single_line(text)
    assert not any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") or SPOOFING.match(c)
                   for c in line)
    assert line == line.strip() and "  " not in line and len(line.splitlines()) <= 1
    assert single_line(line) == line


def test_a_lone_surrogate_becomes_a_space() -> None:
    """As a JSON "\\ud800" or an undecodable byte of a command's argument arrives: no
    database can store one."""
    assert single_line("Dai\ud800Jones\udcff") == "Dai Jones"


@given(st.text(alphabet=st.characters(exclude_categories=()), max_size=400))
def test_a_form_keeps_a_name_as_a_command_does_cut_at_the_longest_kept(text: str) -> None:
    """The web service's subscribe form and API clean a name rather than refuse it: by the
    same rule as a name given at a command, at most NAME_LENGTH characters, never blank."""
    name = clean_name(text)
    assert name is None or (name == single_line(text)[:NAME_LENGTH].rstrip() and name)


@given(st.text(alphabet=st.characters(categories=("L", "N", "P")), min_size=1))
def test_text_without_spaces_or_control_characters_is_kept_as_it_is(text: str) -> None:
    assert single_line(text) == text


@pytest.mark.parametrize("text", ["Cymru \U0001f3f4\U000e0067\U000e0062\U000e0077\U000e006c"
                                  "\U000e0073\U000e007f", "\U0001f468\u200d\U0001f469",
                                  "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"])
def test_joiners_and_tags_that_make_one_character_are_kept(text: str) -> None:
    """The Welsh flag (tag characters), emoji joined by U+200D, Persian's U+200C: at a
    command and in the web service's forms."""
    assert single_line(text) == text == clean_name(text)


@given(st.text())
def test_spoofing_problem_names_the_first_spoofing_character(text: str) -> None:
    found = SPOOFING.search(text)
    problem = spoofing_problem(text)
    if found is None:
        assert problem is None
    else:
        char = found.group()
        assert problem == (f"holds U+{ord(char):04X} ({unicodedata.name(char)}), an invisible "
                           "character that reorders or hides text; delete it")


@pytest.mark.parametrize("text", ["Cymru \U0001f3f4\U000e0067\U000e0062\U000e0077\U000e006c"
                                  "\U000e0073\U000e007f", "\U0001f468\u200d\U0001f469",
                                  "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"])
def test_joiners_and_tags_are_no_spoofing_problem(text: str) -> None:
    assert spoofing_problem(text) is None
