"""The mistakes people make writing YAML by hand, each told in plain words with the fix,
instead of the parser's own words ("mapping values are not allowed here")."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from bulletin.errors import IssueError, SettingsError
from bulletin.issue import load_issue
from bulletin.settings import load_workspace

GOOD = """\
newsletter: cohes3ion
date: 2022-01-31
subject: Issue 5
sections:
  - heading: Hello
    body: Some text.
"""

CASES = [
    # a key indented more than the one above it
    (("    body:", "     body:"), 6,
     r"the indentation is wrong: line 6 does not line up with the keys above it; the keys "
     r"of one mapping start in the same column \(indent with spaces, 2 more for each level\)"),
    (("subject: Issue 5", "  subject: Issue 5"), 3, r"the indentation is wrong"),
    (("    body:", "   body:"), 6, r"the indentation is wrong"),
    ((GOOD, GOOD + "  preheader: x\n"), 7, r"the indentation is wrong"),
    (("    body:", "\tbody:"), 6,
     r"a tab character \(column 1\); YAML indents with spaces only: replace the tab with "
     r"spaces"),
    (("subject: Issue 5", "subject: Update: new plans"), 3,
     r"subject: a colon followed by a space inside the text; put the text in quotes: "
     r"subject: \"Update: new plans\""),
    (("body: Some text.", "body: Note: it's here"), 6,
     r"body: a colon followed by a space inside the text; put the text in quotes: "
     r"body: \"Note: it's here\""),
    (("2022-01-31", "31/01/2022"), 2,
     r"date: '31/01/2022' is not a date written YYYY-MM-DD; write 2022-01-31"),
    (("2022-01-31", "2022-1-31"), 2, r"date: '2022-1-31' is not a date written YYYY-MM-DD"),
    (("2022-01-31", "2022-13-45"), 2, r"date: '2022-13-45' is not a date .*YYYY-MM-DD"),
    (("subject: Issue 5", "subject:"), 3,
     r"subject: is empty; write the text after 'subject:'"),
    (("sections:\n  - heading: Hello\n    body: Some text.\n", "sections:\n"), 4,
     r"sections: is empty; list its items under 'sections:', each starting with '- '"),
    (("subject: Issue 5", "subject: {welsh: Rhifyn 5, english: Issue 5}"), 3,
     r"subject: 'welsh' is a language name, not a code; write cy for Welsh"),
    ((GOOD, GOOD + "titl[e: Hello\n"), 7, r"titl\[e: unknown key 'titl\[e'; expected one of: "),
    (("    body: Some text.", "    heading Some text."), 6,
     r"line 6 is neither a key with a colon \(key: value\) nor in line with the text above "
     r"it; write the colon, or indent the text as the lines above it are"),
    (("    body: Some text.", "    body: |\n      Some text.\n  More text.\n"), 8,
     r"line 8 is neither a key with a colon"),
    (("newsletter: cohes3ion", " newsletter: cohes3ion"), 1,
     r"the indentation is wrong: line 1 is indented, but the keys at the top start in the "
     r"first column"),
    # the same mistakes in one language's text
    (("subject: Issue 5", "subject:\n  cy: Rhifyn 5\n  en:"), 5,
     r"subject.en: is empty; write the text after 'en:'"),
    (("    body: Some text.", "    body:\n      cy: ''\n      en:\n"), 8,
     r"sections\[0\].body.en: is empty; write the text after 'en:'"),
    # text that YAML reads as something else unless it is quoted
    (("subject: Issue 5", "subject: 'It's issue 5'"), 3,
     r"subject: a quote inside the quoted text ends it; put the text in double quotes: "
     r"subject: \"It's issue 5\""),
    (("subject: Issue 5", 'subject: "Say "hi" now"'), 3,
     r"subject: a quote inside the quoted text ends it; put the text in single quotes: "
     r"subject: 'Say \"hi\" now'"),
    (("  - heading: Hello", "  - heading: [Draft] Hello"), 5,
     r"heading: text that starts with \[ must be in quotes: heading: \"\[Draft\] Hello\""),
    (("    body: Some text.", "    body: *Bold* news."), 6,
     r"body: text that starts with \* must be in quotes: body: \"\*Bold\* news.\""),
    (("    body: Some text.", "    body: @council news"), 6,
     r"body: text that starts with @ must be in quotes: body: \"@council news\""),
    (("  - heading: Hello", "  - heading: [Draft]"), 5,
     r"sections\[0\].heading: expected text, .* got list; put it in quotes"),
    (("subject: Issue 5", "subject:\n  Cymraeg: Rhifyn 5\n  en: Issue 5"), 3,
     r"subject: 'Cymraeg' is a language name, not a code; write cy for Welsh"),
]


@pytest.mark.parametrize(("change", "line", "message"), CASES)
def test_yaml_mistakes_in_plain_words(workspace: Path, write_issue: Callable[..., Path],
                                      change: tuple[str, str], line: int,
                                      message: str) -> None:
    old, new = change
    assert old in GOOD
    path = write_issue(GOOD.replace(old, new))
    with pytest.raises(IssueError) as caught:
        load_issue(path, load_workspace(workspace / "bulletin.toml"))
    text = str(caught.value)
    assert "\n" not in text, text
    assert re.match(rf"{re.escape(str(path))}:{line}: {message}", text), text
    assert "mapping values" not in text and "block end" not in text


def test_a_language_name_in_bulletin_toml(workspace: Path) -> None:
    config = workspace / "bulletin.toml"
    text = config.read_text().replace('languages = ["en"]', 'languages = ["english"]', 1)
    config.write_text(text)
    with pytest.raises(SettingsError, match=r"'english' is a language name, not a code; "
                                            r"write en for English"):
        load_workspace(config)


def test_a_language_name_elsewhere_gets_its_code(workspace: Path) -> None:
    from bulletin.csvimport import clean_language
    from bulletin.errors import RenderError
    from bulletin.workflow import prepare
    from tests.conftest import EXAMPLE

    with pytest.raises(ValueError, match=r"language 'Welsh' is not a language code; write cy "
                                         r"for Welsh"):
        clean_language("Welsh")
    with pytest.raises(RenderError, match=r"not published in 'english' \('english' is a "
                                          r"language name, not a code; write en for English\)"):
        prepare(EXAMPLE, language="english")
