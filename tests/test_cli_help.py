"""`--help` as a person reads it: prose wrapped by the terminal, not by the source file, and
options described the way typer and click describe them (FILE, TEXT, a flag with no type)."""

from __future__ import annotations

import inspect
import re

import pytest

pytestmark = pytest.mark.slow  # a new Python process for each command

COMMANDS = [[], ["send"], ["subscribers", "import"], ["render"], ["serve"], ["init"],
            ["subscribers"], ["send-test"], ["check"]]


def _help(args: list[str], width: int) -> str:
    from typer.testing import CliRunner

    from bulletin.cli import app

    result = CliRunner().invoke(app, [*args, "--help"],
                                env={"COLUMNS": str(width), "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return result.output


def _rows(text: str) -> str:
    """The help's words with the panels' borders taken off, one screen row a line."""
    return "\n".join(" ".join(re.sub(r"[│╭╮╰╯─]", " ", line).split())
                     for line in text.splitlines())


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_no_python_type_names_in_help(args: list[str]) -> None:
    text = _help(args, 120)
    assert not re.search(r"<(bool|str|int|float|path)>|\{[A-Za-z_]+\}", text), text


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_help_is_wrapped_by_the_terminal_not_the_source(args: list[str]) -> None:
    """On a wide terminal, every sentence of a command's help is on one row."""
    from typer.main import get_command

    from bulletin.cli import app

    command = get_command(app)
    for name in args:
        command = command.commands[name]  # type: ignore[attr-defined]
    wide = _rows(_help(args, 400))
    for paragraph in inspect.cleandoc(command.help or "").split("\n\n"):
        one_line = " ".join(paragraph.split()).replace("\\[", "[")
        assert one_line in wide, f"{one_line!r} is broken across lines:\n{wide}"


def test_flags_show_no_type_and_values_show_a_metavar() -> None:
    text = _rows(_help(["send"], 200))
    assert re.search(r"^--yes Do not ask", text, re.MULTILINE), text
    assert re.search(r"^--help Show this message", text, re.MULTILINE), text
    assert re.search(r"^--list TEXT The list", text, re.MULTILINE), text
    assert re.search(r"^--delivery \[each\|bilingual\|side-by-side\] ", text, re.MULTILINE)
    assert re.search(r"^\* ISSUE PATH The issue file", text, re.MULTILINE), text
    subscribers = _rows(_help(["subscribers", "import"], 200))
    assert re.search(r"^\* --list TEXT The list", subscribers, re.MULTILINE), subscribers


def test_usage_names_arguments_as_click_does() -> None:
    """ISSUE, [FOLDER], [NEWSLETTERS]...: not {ISSUE}."""
    assert re.search(r"Usage: \S+ send \[OPTIONS\] ISSUE$", _rows(_help(["send"], 200)),
                     re.MULTILINE)
    assert re.search(r"Usage: \S+ init \[OPTIONS\] \[FOLDER\]$",
                     _rows(_help(["init"], 200)), re.MULTILINE)
    assert re.search(r"Usage: \S+ dkim-record \[OPTIONS\] \[NEWSLETTERS\]\.\.\.$",
                     _rows(_help(["dkim-record"], 200)), re.MULTILINE)


def test_square_brackets_in_help_are_text_not_markup() -> None:
    assert "[newsletters.NAME.dkim] table" in _rows(_help(["dkim-record"], 200))
    assert "(default: [smtp] connections)" in _rows(_help(["send"], 200))
