"""Loading issue files: every mistake is one line naming file, line, key and what to do."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bulletin.cli import app
from bulletin.errors import IssueError
from bulletin.issue import load_issue
from bulletin.settings import load_workspace

GOOD = """
newsletter: cohes3ion
number: 5
date: 2022-03-01
subject: Issue 5
sections:
  - heading: Hello
    body: Some *text*.
"""


def load(workspace: Path, path: Path):
    return load_issue(path, load_workspace(workspace / "bulletin.toml"))


def test_the_contract_example_loads(workspace: Path,
                                    write_issue: Callable[..., Path]) -> None:
    path = write_issue("""
        newsletter: cohes3ion
        number: 4
        date: 2022-01-31
        subject: Cohes3ion Newsletter Issue 4
        preheader: Eight Regional Action Plans published as the project enters phase two.
        sections:
          - heading: Regional Action Plans Published
            body: |
              The ending of the first phase ... [the regional plans](https://example.org/plans).
          - heading: Stockholm Region project recognised
            image: {src: "https://example.org/ssp.jpg", alt: "Södertälje Science Park"}
            body: ...
            button: {text: Read more, url: "https://example.org/ssp"}
          - style: box
            heading: About
            body: ...
        """)
    issue = load(workspace, path).issue
    assert issue.sections[1].image.alt == "Södertälje Science Park"
    assert issue.sections[2].style == "box"
    assert str(issue.date) == "2022-01-31"


@pytest.mark.parametrize(("change", "message"), [
    (("subject: Issue 5", "subjet: Issue 5"),
     r":4: subjet: unknown key 'subjet'; expected one of: newsletter, number, date, subject"),
    (("  - heading: Hello", "  - heding: Hello"),
     r":6: sections\[0\]\.heding: unknown key 'heding'; expected one of: heading, body"),
    (("number: 5", "number: five"),
     r":2: number: input should be a valid integer.*\(got 'five'\)"),
    (("subject: Issue 5\n", ""), r":1: subject: missing required key 'subject'"),
    (("date: 2022-03-01", "date: 2022-13-45"),
     r":3: date: '2022-13-45' is not a date \(month must be in 1\.\.12\); write dates "
     r"YYYY-MM-DD"),
    (("newsletter: cohes3ion", "newsletter: nope"),
     r":1: newsletter: unknown newsletter 'nope'; .*bulletin.toml defines: cohes3ion"),
    (("body: Some *text*.", "body: 42"),
     r":7: sections\[0\]\.body: expected text, .*got int; put it in quotes"),
    (("body: Some *text*.", "body: {en: Hi, fr: Salut}"),
     r":7: sections\[0\]\.body: 'fr' is not one of the newsletter's languages \(en\)"),
    (("body: Some *text*.", "button: {text: Go, url: example.org}"),
     r":7: sections\[0\]\.button\.url: expected an absolute URL starting with https://"),
    (("  - heading: Hello\n    body: Some *text*.\n", "  - style: box\n"),
     r":6: sections\[0\]: a section needs at least one of heading, body, image, button"),
    (("  - heading: Hello\n    body: Some *text*.\n", "  - heading: Hello\n    style: fancy\n"),
     r":7: sections\[0\]\.style: input should be 'default' or 'box'"),
    (("sections:\n  - heading: Hello\n    body: Some *text*.\n", "sections: []\n"),
     r":5: sections: list should have at least 1 item"),
    (("sections:\n  - heading: Hello\n    body: Some *text*.\n", "sections:\n  heading: x\n"),
     r":5: sections: expected a list, got a mapping"),
])
def test_mistakes_are_named_with_line_and_key(workspace: Path, write_issue: Callable[..., Path],
                                              change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in GOOD
    path = write_issue(GOOD.replace(old, new))
    with pytest.raises(IssueError) as caught:
        load(workspace, path)
    lines = str(caught.value).split("\n")
    assert any(re.match(rf"{re.escape(str(path))}{message}", line) for line in lines), lines
    assert len(lines) <= 2


def test_every_error_in_a_file_is_listed(workspace: Path,
                                         write_issue: Callable[..., Path]) -> None:
    path = write_issue(GOOD.replace("subject:", "subjet:").replace("number: 5", "number: x"))
    with pytest.raises(IssueError) as caught:
        load(workspace, path)
    lines = str(caught.value).split("\n")
    assert len(lines) == 3  # number, subjet (unknown), subject (missing)
    assert all(line.startswith(f"{path}:") for line in lines)


def test_missing_translation_names_field_and_language(workspace: Path,
                                                      write_issue: Callable[..., Path]) -> None:
    config = workspace / "bulletin.toml"
    text = config.read_text()
    config.write_text(text.replace('languages = ["en"]', 'languages = ["cy", "en"]')
                      .replace('body = """', 'body.en = """', 1))
    with pytest.raises(Exception, match=r"about\.body: no 'cy' text"):
        load_workspace(config)


def test_empty_and_non_mapping_files(workspace: Path, write_issue: Callable[..., Path]) -> None:
    with pytest.raises(IssueError, match=r":1: the file is empty"):
        load(workspace, write_issue("# nothing\n"))
    with pytest.raises(IssueError, match=r":1: expected a mapping"):
        load(workspace, write_issue("- a\n- b\n"))


@pytest.mark.parametrize("mistake", ["subjet: x", "number: [", "\tsubject: x"])
def test_cli_reports_without_traceback_and_writes_nothing(
        workspace: Path, write_issue: Callable[..., Path], mistake: str) -> None:
    path = write_issue(GOOD + mistake + "\n")
    out = workspace / "out"
    result = CliRunner().invoke(app, ["render", str(path), "--out", str(out)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.startswith(f"Error: {path}:")
    assert not out.exists()


def test_cli_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["render", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "nope.yaml" in result.output and "Traceback" not in result.output


def test_settings_mistakes_name_the_key(workspace: Path, write_issue: Callable[..., Path]) -> None:
    config = workspace / "bulletin.toml"
    config.write_text(config.read_text().replace('banner = "#323232"', 'banner = "dark"'))
    result = CliRunner().invoke(app, ["check", str(write_issue(GOOD))])
    assert result.exit_code == 1
    assert "newsletters.cohes3ion.brand.colours.banner: expected a colour" in result.output


@pytest.mark.parametrize("command", ["render", "screenshot"])
def test_out_in_the_way_is_a_one_line_error(tmp_path: Path, command: str) -> None:
    from tests.conftest import EXAMPLE

    blocker = tmp_path / "afile"
    blocker.write_text("")
    result = CliRunner().invoke(app, [command, str(EXAMPLE), "--out", str(blocker)])
    assert result.exit_code == 1
    assert result.output == f"Error: --out {blocker}: a file is in the way; name a folder\n"
