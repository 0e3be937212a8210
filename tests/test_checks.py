"""`bulletin check`: each problem reported where it is; errors exit 1, warnings alone 0."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bulletin.cli import app
from tests.conftest import EXAMPLE

HEAD = """
newsletter: cohes3ion
date: 2022-03-01
subject: Issue 5
preheader: What is new this month.
sections:
"""


def run_check(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["check", str(path)])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_example_has_only_the_references_vague_links() -> None:
    code, output = run_check(EXAMPLE)
    assert code == 0
    lines = output.strip().split("\n")
    assert lines[-1] == f"{EXAMPLE}: 0 errors, 4 warnings"
    vague = [line for line in lines if "vague-link" in line]
    assert len(vague) == 4
    assert f"{EXAMPLE}:32: link text 'here'" in output  # the exact line of the link
    assert "link text 'Read more here'" in output


@pytest.mark.parametrize(("section", "level", "code", "line"), [
    ("  - image: {src: 'https://example.org/a.png'}\n", "error", "image-alt", 6),
    ("  - image: {src: 'http://example.org/a.png', alt: A}\n", "warning", "insecure-image", 6),
    ("  - body: See [the plans](http://example.org/plans).\n", "warning", "insecure-link", 6),
    ("  - body: |\n      Intro.\n\n      [click here](https://example.org/x)\n", "warning",
     "vague-link", 9),
    ("  - body: 'Dear %%frist_name%%,'\n", "error", "placeholder", 6),
    ("  - body: 'A [link](#) to nowhere'\n", "error", "empty-link", 6),
    # An image in the text is not published: a file's name in it shows nowhere.
    ("  - body: |\n      The chart: ![Chart of results](chart.png)\n", "error", "image-source",
     7),
    ("  - body: 'Logo: ![Logo](data:image/png;base64,AAAA)'\n", "error", "image-source", 6),
    ("  - body: 'Logo: ![Logo](HTTP://example.org/a.png)'\n", "warning", "insecure-image", 6),
])
def test_problems_in_issue_content(write_issue: Callable[..., Path], section: str, level: str,
                                   code: str, line: int) -> None:
    path = write_issue(HEAD + section)
    exit_code, output = run_check(path)
    finding = next(ln for ln in output.split("\n") if f" {code} " in ln)
    assert finding.startswith(f"{level} {code} {path}:{line}:")
    assert exit_code == (1 if level == "error" else 0)


def test_subject_and_preheader(write_issue: Callable[..., Path]) -> None:
    long_subject = "A subject line that goes on and on, well past what any inbox shows in full"
    assert len(long_subject) == 74
    path = write_issue(HEAD.replace("subject: Issue 5", f"subject: {long_subject} and more")
                       .replace("preheader: What is new this month.\n", "")
                       + "  - heading: Hi\n")
    exit_code, output = run_check(path)
    assert exit_code == 0
    assert f"warning subject-length {path}:3: the subject is 83 characters" in output
    assert f"warning preheader {path}:1: no preheader" in output


def test_theme_without_unsubscribe_link_fails(workspace: Path,
                                              write_issue: Callable[..., Path]) -> None:
    template = workspace / "templates" / "default" / "email.mjml.j2"
    link = '<a href="{{ urls.unsubscribe }}">{{ every("Unsubscribe") }}</a> &bull; '
    assert link in template.read_text()
    template.write_text(template.read_text().replace(link, ""))
    text = workspace / "templates" / "default" / "email.txt.j2"
    line = '{{ every("Unsubscribe") }}: <{{ urls.unsubscribe }}>'
    assert line in text.read_text()
    text.write_text(text.read_text().replace(line, ""))
    exit_code, output = run_check(write_issue(HEAD + "  - heading: Hi\n"))
    assert exit_code == 1
    assert f"error no-unsubscribe {template}:" in output
    assert ": the HTML has no unsubscribe link" in output
    assert f"error no-unsubscribe {text}:1: the plain-text part has no unsubscribe" in output
    assert "no-manage-preferences" not in output


def test_missing_lang_is_an_error(workspace: Path, write_issue: Callable[..., Path]) -> None:
    template = workspace / "templates" / "default" / "email.mjml.j2"
    template.write_text(template.read_text().replace('<mjml lang="{{ lang }}" dir="ltr">',
                                                     "<mjml>"))
    exit_code, output = run_check(write_issue(HEAD + "  - heading: Hi\n"))
    assert "error lang" in output and exit_code == 1


def test_size_over_gmail_clipping(write_issue: Callable[..., Path]) -> None:
    paragraph = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 30
    sections = "".join(f"  - heading: Part {n}\n    body: {paragraph}\n" for n in range(70))
    exit_code, output = run_check(write_issue(HEAD + sections))
    assert exit_code == 1
    assert "error size" in output and "Gmail clips messages over 102 KB" in output


def test_template_error_names_template_and_line(workspace: Path,
                                                write_issue: Callable[..., Path]) -> None:
    template = workspace / "templates" / "default" / "email.txt.j2"
    lines = template.read_text().split("\n")
    lines.insert(3, "{% if %}")
    template.write_text("\n".join(lines))
    exit_code, output = run_check(write_issue(HEAD + "  - heading: Hi\n"))
    assert exit_code == 1
    assert output.startswith(f"Error: {template}:4: template error:")


def test_an_image_address_in_capitals_is_an_address(write_issue: Callable[..., Path]) -> None:
    path = write_issue(HEAD + "  - body: 'Logo: ![Logo](HTTPS://example.org/a.png)'\n")
    exit_code, output = run_check(path)
    assert exit_code == 0 and "image-source" not in output, output
