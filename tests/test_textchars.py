"""`single_line`: short text typed at a command, kept as one plain line."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from bulletin.textchars import single_line


@given(st.text())
def test_any_text_becomes_one_line_of_visible_characters_single_spaced(text: str) -> None:
    line = single_line(text)
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in line)
    assert line == line.strip() and "  " not in line and len(line.splitlines()) <= 1
    assert single_line(line) == line


@given(st.text(alphabet=st.characters(categories=("L", "N", "P")), min_size=1))
def test_text_without_spaces_or_control_characters_is_kept_as_it_is(text: str) -> None:
    assert single_line(text) == text
