"""Text an issue's values cannot hold, and text YAML drops without a word.

A control character (\\x0b, \\0: YAML refuses them typed into the file, but a double-quoted
escape makes them), half of a UTF-16 pair or a non-character in any value stops `check`,
`render` and `send` with one line naming the file and line, never "MJML that does not
compile" or a traceback. A `#` after unquoted text on its line (`subject: Issue #5`) starts a
YAML comment and is dropped: `bulletin check` warns, with the line and the quotes to write."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulletin.textchars import SPOOFING
from bulletin.yamlsource import Dropped, parse_yaml
from tests.cli_runner import run

ISSUE = """\
newsletter: cohes3ion
date: 2022-03-01
subject: {subject}
preheader: {preheader}
sections:
  - heading: {heading}
    body: {body}
"""


def issue(subject: str = "Hi", heading: str = "Hello", body: str = "Some news.",
          preheader: str = "What is new this month.") -> str:
    return ISSUE.format(subject=subject, heading=heading, body=body, preheader=preheader)


def errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("Error:")]


# Characters no email can carry ---------------------------------------------------------------

@pytest.mark.parametrize(("subject", "said"), [
    (r'"Hi\x0bthere"', r"subject: the subject has a line break \(U\+000B\)"),
    (r'"Hi\x0cthere"', r"subject: the subject has a line break \(U\+000C\)"),
    (r'"\0"', r"subject: a control character \(U\+0000\)"),
    (r'"Issue\x1b5"', r"subject: a control character \(U\+001B\)"),
    (r'"Issue\x7f"', r"subject: a control character \(U\+007F\)"),
    (r'"A\ud800b"', r"subject: U\+D800 is half of a UTF-16 pair"),
    (r'"A\uffffb"', r"subject: a non-character \(U\+FFFF\)"),
])
@pytest.mark.parametrize("command", ["check", "render"])
def test_a_subject_no_email_can_carry_is_one_line_with_its_line(
        write_issue: Callable[..., Path], tmp_path: Path, command: str, subject: str,
        said: str) -> None:
    path = write_issue(issue(subject=subject))
    extra = ["--out", str(tmp_path / "out")] if command == "render" else []
    code, output = run(command, str(path), *extra)
    assert code == 1
    assert "MJML" not in output, output
    [error] = errors(output.replace("\n ", " "))
    assert re.match(rf"Error: {re.escape(str(path))}:3: {said}", error), output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("where", "line", "field"), [
    ("heading", 6, r"sections\[0\]\.heading"), ("body", 7, r"sections\[0\]\.body")])
def test_a_control_character_in_any_text_is_an_error_with_its_line(
        write_issue: Callable[..., Path], where: str, line: int, field: str) -> None:
    path = write_issue(issue(**{where: r'"Some\x01news"'}))
    code, output = run("check", str(path))
    assert code == 1
    [error] = errors(output.replace("\n ", " "))
    assert re.match(rf"Error: {re.escape(str(path))}:{line}: {field}: a control character "
                    r"\(U\+0001\) that no email can carry; delete it", error), output


def test_each_text_with_one_is_named(write_issue: Callable[..., Path]) -> None:
    path = write_issue(issue(subject=r'"\0"', body=r'"\x02"'))
    code, output = run("check", str(path))
    assert code == 1
    assert [line.split(": ")[1] for line in errors(output)] == [f"{path}:3", f"{path}:7"]


@pytest.mark.parametrize("body", [r'"Tab\there"', r'"Line\nbreak"', r'"Next\x85line"',
                                  r'"A\u2028b"', r'"Caf\xe9"'])
def test_tab_line_breaks_and_other_characters_are_text(write_issue: Callable[..., Path],
                                                       body: str) -> None:
    code, output = run("check", str(write_issue(issue(body=body))))
    assert code == 0, output


def test_a_control_character_typed_into_the_file_is_one_line_with_its_line(
        write_issue: Callable[..., Path]) -> None:
    path = write_issue(issue(body="Some\x01news"))
    code, output = run("check", str(path))
    assert code == 1
    assert errors(output) == [f"Error: {path}:7: a control character, U+0001, at column 15; "
                              "YAML does not allow one in a file and no email can carry it: "
                              "delete it"], output


def test_send_refuses_it_in_one_line(write_issue: Callable[..., Path],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BULLETIN_SECRET_KEY", "a-test-secret-key-of-some-length")
    path = write_issue(issue(subject=r'"Hi\x0bthere"'))
    for extra in ("--dry-run", "--yes"):
        code, output = run("send", str(path), extra)
        assert code == 1
        assert output.startswith(f"Error: {path}:3: subject: the subject has a line break"), \
            output
        assert len(errors(output)) == 1 and "MJML" not in output, output


# Invisible characters that reorder or hide text, where the inbox shows text alone -----------

SPOOFERS = [chr(code) for code in range(0x10000) if SPOOFING.match(chr(code))]
"""Every character of the rule's set (textchars.SPOOFING), read from it."""


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(SPOOFERS), st.sampled_from([("subject", 3), ("preheader", 4)]),
       st.text("News ", max_size=6), st.text("Issue 5", max_size=6), st.booleans(),
       st.sampled_from(["check", "render"]))
def test_a_subject_or_preheader_with_a_spoofing_character_is_one_line_with_its_line(
        write_issue: Callable[..., Path], char: str, field: tuple[str, int], before: str,
        after: str, typed: bool, command: str) -> None:
    """U+202E (right-to-left override), U+200B (zero width space) and the rest of the set,
    typed into the file or written as an escape, are refused with the line, the field and the
    character; nothing is rendered."""
    name, line = field
    text = f"{before}{char}{after}" if typed else f"{before}\\u{ord(char):04x}{after}"
    path = write_issue(issue(**{name: f'"{text}"'}))
    out = path.parent / "out"
    code, output = run(command, str(path), *(["--out", str(out)] if command == "render" else []))
    assert code == 1
    assert errors(output.replace("\n ", " ")) == [
        f"Error: {path}:{line}: {name}: the {name} holds U+{ord(char):04X} "
        f"({unicodedata.name(char)}), an invisible character that reorders or hides text; "
        "delete it"], output
    assert not out.exists()


@pytest.mark.parametrize("text", ["Cymru \U0001f3f4\U000e0067\U000e0062\U000e0077\U000e006c"
                                  "\U000e0073\U000e007f", "Teulu \U0001f468\u200d\U0001f469",
                                  "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"])
def test_a_subject_with_joiners_and_tags_is_kept(write_issue: Callable[..., Path],
                                                 text: str) -> None:
    """The Welsh flag (tag characters), emoji joined by U+200D, Persian's U+200C."""
    code, output = run("check", str(write_issue(issue(subject=f'"{text}"', preheader=text))))
    assert code == 0, output


# A comment where text was meant --------------------------------------------------------------

def comments(output: str) -> list[str]:
    return [line for line in output.replace("\n ", " ").splitlines() if "yaml-comment" in line]


def test_a_hash_after_unquoted_text_is_a_warning_with_its_line_and_quotes(
        write_issue: Callable[..., Path]) -> None:
    path = write_issue(issue(subject="Issue #5", body="Call 01234 #ext 5"))
    code, output = run("check", str(path))
    assert code == 0, output
    found = comments(output)
    assert len(found) == 2, output
    assert found[0].startswith(f"warning yaml-comment {path}:3: subject: '#5' is a YAML "
                               "comment"), output
    assert "subject reads 'Issue'" in found[0] and 'put the whole value in quotes: subject: ' \
        '"Issue #5"' in found[0], output
    assert found[1].startswith(f"warning yaml-comment {path}:7: sections[0].body: '#ext 5'"), \
        output


@pytest.mark.parametrize("values", [
    {"body": "Read it.\n    button:\n      text: Go to the news\n"
             "      url: https://example.org/#top"},  # a # with no space before it is text
    {"subject": '"Issue #5"'}, {"subject": "'Issue #5'"},  # in quotes, text
    {"subject": '"Issue" #5'},  # after quotes: a comment, meant as one
    {"subject": "Issue 5   # a comment, written as one"},
    {"subject": "Issue 5 ## another"},
    {"body": "|\n      Issue #5\n      # heading"},  # in a block, text
    {"body": ">-\n      Issue #5"},
])
def test_no_warning_where_the_hash_is_text_or_a_comment_meant_as_one(
        write_issue: Callable[..., Path], values: dict[str, str]) -> None:
    code, output = run("check", str(write_issue(issue(**values))))
    assert code == 0, output
    assert comments(output) == [], output


def test_the_loader_keeps_where_each_dropped_comment_was() -> None:
    source = parse_yaml("a: Issue #5\nb:\n  - Hi   #x  \n  - 'q' #y\nc: 3 # three\n"
                        "d: x#y\ne: |\n  z #w\n", Path("f.yaml"))
    assert source.data == {"a": "Issue", "b": ["Hi", "q"], "c": 3, "d": "x#y", "e": "z #w\n"}
    assert source.dropped == {("a",): Dropped(1, "#5"), ("b", 0): Dropped(3, "#x")}


def test_a_control_character_in_bulletin_toml_is_one_line_with_its_line(
        workspace: Path, write_issue: Callable[..., Path]) -> None:
    config = workspace / "bulletin.toml"
    lines = config.read_text().split("\n")
    at = lines.index('name = "Cohes3ion Newsletter"')
    lines[at] = 'name = "Cohes3ion\\u000bNewsletter"'
    config.write_text("\n".join(lines))
    code, output = run("check", str(write_issue(issue())))
    assert code == 1
    assert errors(output.replace("\n ", " ")) == [
        f"Error: {config}:{at + 1}: newsletters.cohes3ion.name: a control character (U+000B) "
        "that no email can carry; delete it (a backslash escape in quotes, such as \\x0b, \\0 "
        "or \\u000b, makes one)"], output
