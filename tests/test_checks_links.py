"""`bulletin check` on links that cannot work as written, Markdown that was not understood,
and where each finding is: every finding names a file and a line, the issue's or
bulletin.toml's."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bulletin.cli import app

HEAD = """
newsletter: cohes3ion
date: 2022-03-01
subject: Issue 5
preheader: What is new this month.
sections:
  - heading: Hello
    body: |
      First paragraph.

"""


def run_check(path: Path) -> tuple[int, list[str]]:
    result = CliRunner().invoke(app, ["check", str(path)])
    assert "Traceback" not in result.output
    return result.exit_code, result.output.strip().split("\n")[:-1]


@pytest.mark.parametrize(("body", "level", "code", "message"), [
    ("Plan your trip with the [planner](tfw.wales/journey).", "error", "link-scheme",
     r"link 'planner' to 'tfw.wales/journey' has no scheme; write https://tfw.wales/journey"),
    ("See [our site](www.example.org/news) today.", "error", "link-scheme",
     r"link 'our site' to 'www.example.org/news' has no scheme; "
     r"write https://www.example.org/news"),
    ("Questions? [Email us](news@example.org).", "error", "link-scheme",
     r"link 'Email us' to 'news@example.org' has no scheme; write mailto:news@example.org"),
    ("Read [the plan](https://example.org/our plan.pdf) now.", "error", "link-syntax",
     r"'\[the plan\]\(https://example.org/our plan.pdf\)' is not a link: the reader sees the "
     r"brackets; a URL cannot hold a space: write it as %20"),
    ("Please <b>call us</b> on 0300 060 4400.", "warning", "raw-html",
     r"'<b>' is shown as text, not as formatting: HTML is not passed into the email; use "
     r"Markdown instead \(\*\*bold\*\*, \*italic\*, \[text\]\(https://...\)\)"),
    ("Our [new page]() is up.", "error", "empty-link", r"link 'new page' goes nowhere"),
    ("Click [x](javascript:alert(1)) now.", "error", "link-scheme",
     r"link 'x' uses javascript:, which no email may link to; link to an https://, mailto: "
     r"or tel: address instead \(as it is, the reader sees the brackets and all\)"),
    ("Open [it](<VBScript:msgbox(1)>) now.", "error", "link-scheme",
     r"link 'it' uses vbscript:, which no email may link to"),
    ("See [the page](data:text/html,hi) now.", "error", "link-scheme",
     r"link 'the page' uses data:, which no email may link to"),
    ("Get [the file](ftp://example.org/a.pdf) now.", "error", "link-scheme",
     r"link 'the file' to 'ftp://example.org/a.pdf' uses ftp:, which no email may link to; "
     r"link to an https://, mailto: or tel: address instead"),
    ("Left over: {{ name }}.", "error", "template-syntax",
     r"the HTML part has template syntax \({{ or {%\) left in it: '{{ name }}'"),
])
def test_link_mistakes_are_reported_at_their_line(
        write_issue: Callable[..., Path], body: str, level: str, code: str,
        message: str) -> None:
    path = write_issue(HEAD + "      " + body + "\n")
    exit_code, findings = run_check(path)
    mine = [f for f in findings if f.startswith(f"{level} {code} ")]
    assert mine, findings
    assert re.match(rf"{level} {code} {re.escape(str(path))}:10: {message}", mine[0]), mine
    assert exit_code == (1 if level == "error" else 0)


def test_good_links_pass(write_issue: Callable[..., Path]) -> None:
    path = write_issue(HEAD + "      See [the plan](https://example.org/our%20plan.pdf), "
                              "[mail](mailto:news@example.org), [call](tel:+443000604400) and "
                              "<https://example.org/a>. Use `<b>` for bold in HTML.\n")
    exit_code, findings = run_check(path)
    assert exit_code == 0, findings
    assert findings == [], findings


def test_every_finding_has_a_line(write_issue: Callable[..., Path]) -> None:
    path = write_issue(HEAD + "      A [link](#) and [x](nowhere) and <i>hi</i> and "
                              "{% if %} and [bad](https://a.example/b c).\n"
                              "  - image: {src: 'http://example.org/a.png'}\n")
    exit_code, findings = run_check(path)
    assert exit_code == 1
    assert len(findings) >= 6, findings
    for finding in findings:
        assert re.match(r"^(error|warning) [\w-]+ \S+:\d+: ", finding), finding


def test_findings_about_the_logo_and_footer_name_bulletin_toml(
        workspace: Path, write_issue: Callable[..., Path]) -> None:
    config = workspace / "bulletin.toml"
    text = config.read_text()
    text = text.replace('src = "brand/', 'src = "http://bulletins.example.gov.wales/static/', 1)
    text = text.replace('privacy = "https://www.gov.wales/website-privacy-policy"',
                        'privacy = "http://www.gov.wales/website-privacy-policy"', 1)
    config.write_text(text)
    rows = text.split("\n")
    logo = next(n for n, row in enumerate(rows, 1) if row.startswith('src = "http://'))
    privacy = next(n for n, row in enumerate(rows, 1) if row.startswith('privacy = "http://'))
    path = write_issue(HEAD + "      Fine.\n")
    _, findings = run_check(path)
    image = next(f for f in findings if " insecure-image " in f)
    assert image.startswith(f"warning insecure-image {config}:{logo}: "), image
    footer = next(f for f in findings if " insecure-link " in f and "privacy" in f)
    assert footer.startswith(f"warning insecure-link {config}:{privacy}: "), footer


@pytest.mark.parametrize(("newsletter", "issue"), [
    ("cohes3ion", HEAD + "      Fine.\n"),
    ("cohes3ion-bilingual", "newsletter: cohes3ion-bilingual\ndate: 2022-03-01\n"
     "subject: {cy: Rhifyn 5, en: Issue 5}\npreheader: {cy: Newydd., en: New.}\n"
     "sections:\n  - heading: {cy: Helo, en: Hello}\n    body: {cy: Iawn., en: Fine.}\n"),
])
def test_findings_about_the_social_links_name_bulletin_toml(
        workspace: Path, write_issue: Callable[..., Path], newsletter: str,
        issue: str) -> None:
    """At the line of the link in bulletin.toml, once (a bilingual email shows it twice)."""
    config = workspace / "bulletin.toml"
    rows = config.read_text().split("\n")
    at = rows.index(f"[[newsletters.{newsletter}.social]]")
    url = next(n for n in range(at, len(rows)) if rows[n].startswith("url = "))
    rows[url] = 'url = "http://social.example.org/cohes3ion"'
    config.write_text("\n".join(rows))
    _, findings = run_check(write_issue(issue))
    social = [f for f in findings if "http://social.example.org/cohes3ion" in f]
    assert len(social) == 1, findings
    assert social[0].startswith(f"warning insecure-link {config}:{url + 1}: "), findings


def test_a_pair_of_tags_is_one_warning(write_issue: Callable[..., Path]) -> None:
    path = write_issue(HEAD + "      Please <b>call us</b> or <B>write</B>.\n")
    _, findings = run_check(path)
    assert len([f for f in findings if " raw-html " in f]) == 1, findings


def test_each_finding_is_at_its_own_line_not_an_earlier_mention(
        write_issue: Callable[..., Path]) -> None:
    """A finding is where the mistake is typed, not at an earlier line that happens to hold
    the same address, and a mistake made twice is reported at each of its two lines."""
    path = write_issue(HEAD + "      Visit example.org or tfw.wales/journey in person.\n"  # 10
                              "      The [planner](tfw.wales/journey) is here.\n"  # 11
                              "      Left over: {{ one }}.\n"  # 12
                              "  - heading: Again\n"
                              "    body: |\n"
                              "      The [planner again](tfw.wales/journey).\n"  # 15
                              "      The [planner](tfw.wales/journey) once more.\n"  # 16
                              "      Our [site](example.org).\n"  # 17
                              "      Left over: {% two %}.\n"  # 18
                              "      Type `[x](y)` then <b>bold</b>.\n")  # 19
    _, findings = run_check(path)
    at = sorted((f.split()[1], int(f.split()[2].rsplit(":", 2)[1])) for f in findings
                if str(path) in f)
    assert at == sorted([
        ("link-scheme", 11), ("link-scheme", 15), ("link-scheme", 16), ("link-scheme", 17),
        ("template-syntax", 12), ("template-syntax", 18), ("raw-html", 19)]), findings
