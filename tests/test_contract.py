"""Contract tests: issue files written from DESIGN.md's "The issue file" section, run through the
real `bulletin` CLI in a subprocess, as another communications officer would run it.

good/ files must render; bad/ files hold exactly one mistake each and must fail with a short
`Error: FILE:LINE ...` message naming the line and the key, and write nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.waiting import SAFETY

pytestmark = pytest.mark.slow  # the real CLI in a process for each file

ROOT = Path(__file__).parents[1]
CONTRACT = Path(__file__).parent / "contract"
GOOD_DIR = CONTRACT / "good"
BAD_DIR = CONTRACT / "bad"

# Per good file: the section headings that must appear as text in the HTML, and words from the
# bodies (and link URLs, which the text part writes out) that must appear in the text part.
GOOD = {
    "minimal.yaml": {
        "headings": ["Only section"],
        "words": ["Just one plain paragraph of prose."],
    },
    "design-example.yaml": {
        "headings": [
            "Regional Action Plans Published",
            "Stockholm Region project recognised",
            "About",
        ],
        "words": [
            "The ending of the first phase",
            "the regional plans",
            "https://example.org/plans",
            "regional innovation award",
            "Read more",
            "https://example.org/ssp",
            "smart specialisation",
        ],
    },
    "markdown-rich.yaml": {
        "headings": ["Lists and emphasis", "A quotation"],
        "words": [
            "emphasised words",
            "strong words",
            "partner link",
            "https://example.org/partners",
            "apples from Gwent",
            "pears from Powys",
            "plums from Dyfed",
            "first step",
            "second step",
            "third step",
            "Regional innovation matters to every community.",
            "End of quotation.",
        ],
    },
    "unicode-welsh.yaml": {
        "headings": ["Dŵr a thŷ ŵyn 🐑", "Ysgol Gymraeg"],
        "words": [
            "Ŵyn bach, tŷ newydd, ŷd aur.",
            "🌱🚀",
            "café, naïve, Ångström",
            "“curly quotes”",
            "ŵ ŷ Ŵ Ŷ",
        ],
    },
    "raw-html-script.yaml": {
        "headings": ["Script injection attempt", "Safe section"],
        "words": ["Before the script.", "After the script", "Ordinary text follows"],
    },
    "language-mapping.yaml": {
        "headings": ["Mapped heading", "Mapped box heading"],
        "words": [
            "Mapped body paragraph",
            "mapped link",
            "https://example.org/mapped",
            "Mapped button",
            "https://example.org/button",
            "Mapped box body text.",
        ],
    },
    "long-text.yaml": {
        "headings": [f"Long section number {s} with a rather lengthy heading" for s in range(1, 6)],
        "words": [f"zymurgy{s}" for s in range(1, 6)] + ["Paragraph 30."],
    },
    "quotes-anchors.yaml": {
        "headings": ['Tom & Jerry\'s "quotes"', "Anchored repeat", "Single-quoted: heading"],
        "words": [
            "Shared body with an ampersand & an apostrophe's mark",
            "Folded text that spans several lines becomes one paragraph.",
            'Click "here"',
            "https://example.org/a?x=1&y=2",
        ],
    },
}

# Per bad file: (the line the error must name, the key it must name; None where the file is not
# valid YAML or is empty, so there is no key yet).
EXPECTED = {
    "typo-top-level.yaml": (4, "subjet"),
    "typo-section-key.yaml": (8, "heding"),
    "typo-image-key.yaml": (9, "atl"),
    "number-not-int.yaml": (2, "number"),
    "sections-mapping.yaml": (5, "sections"),
    "date-not-date.yaml": (3, "date"),
    "missing-subject.yaml": (1, "subject"),
    "missing-newsletter.yaml": (1, "newsletter"),
    "missing-sections.yaml": (1, "sections"),
    "bad-indentation.yaml": (8, None),
    "unclosed-quote.yaml": (4, None),
    "tab-indentation.yaml": (7, None),
    "unknown-newsletter.yaml": (1, "newsletter"),
    "empty.yaml": (1, None),
    "language-extra.yaml": (6, "fr"),
    "language-missing.yaml": (4, "subject"),
    "button-url-not-url.yaml": (10, "url"),
    "empty-sections.yaml": (5, "sections"),
}

# "says what was expected": further words the error must contain.
EXPECTED_ALSO = {
    "typo-top-level.yaml": ["subject"],  # the key that was meant (or the list of allowed keys)
    "typo-section-key.yaml": ["heading"],
    "typo-image-key.yaml": ["alt"],
    "unknown-newsletter.yaml": ["cohes3ion"],  # the newsletters bulletin.toml defines
    "language-missing.yaml": ["en"],  # the required language
}

# Cases that fail because of a bug in bulletin (the expectation follows the contract).
XFAIL: dict[str, str] = {}


def _cases(names, directory):
    params = []
    for name in sorted(names):
        marks = []
        if f"{directory}/{name}" in XFAIL:
            marks.append(pytest.mark.xfail(strict=True, reason=XFAIL[f"{directory}/{name}"]))
        params.append(pytest.param(name, id=name, marks=marks))
    return params


def run(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "BULLETIN_CONFIG"}
    return subprocess.run(
        ["bulletin", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=SAFETY,
    )


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


class _Text(HTMLParser):
    """Collects the text content of an HTML document (outside <style>/<head>), and its tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.tags: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag in ("style", "script", "title"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("style", "script", "title") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def html_text(html: str) -> tuple[str, list[str]]:
    parser = _Text()
    parser.feed(html)
    parser.close()
    return " ".join(" ".join(parser.parts).split()), parser.tags


def squash(text: str) -> str:
    return " ".join(text.split())


def test_every_file_has_an_expectation():
    assert sorted(p.name for p in GOOD_DIR.glob("*.yaml")) == sorted(GOOD)
    assert sorted(p.name for p in BAD_DIR.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", _cases(GOOD, "good"))
def test_good_file_renders(name, tmp_path):
    out = tmp_path / "out"
    issue = GOOD_DIR / name
    result = run("render", rel(issue), "--out", str(out))
    assert result.returncode == 0, result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout

    stem = issue.stem
    html_file, txt_file, eml_file = (out / f"{stem}.{ext}" for ext in ("html", "txt", "eml"))
    for f in (html_file, txt_file, eml_file):
        assert f.is_file(), f"{f.name} not written; wrote {sorted(os.listdir(out))}"
        assert f.stat().st_size > 0

    html = html_file.read_text(encoding="utf-8")
    text, tags = html_text(html)
    for heading in GOOD[name]["headings"]:
        assert squash(heading) in text, f"heading {heading!r} missing from the HTML text"

    plain = squash(txt_file.read_text(encoding="utf-8"))
    for heading in GOOD[name]["headings"]:
        assert squash(heading) in plain, f"heading {heading!r} missing from the text part"
    for words in GOOD[name]["words"]:
        assert squash(words) in plain, f"{words!r} missing from the text part"

    # An email never carries scripts, whatever the Markdown says.
    assert "script" not in tags
    assert not re.search(r"<\s*script", html, re.IGNORECASE)


def test_raw_script_is_escaped_not_a_tag(tmp_path):
    out = tmp_path / "out"
    result = run("render", rel(GOOD_DIR / "raw-html-script.yaml"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    html = (out / "raw-html-script.html").read_text(encoding="utf-8")
    text, tags = html_text(html)
    assert "script" not in tags
    assert "<script>alert(" not in html
    # rendered escaped: the reader sees the literal text, not an executed tag
    assert "&lt;script&gt;" in html
    assert '<script>alert("pwned")</script>' in text


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


@pytest.mark.parametrize("name", _cases(EXPECTED, "bad"))
def test_bad_file_fails_cleanly(name, tmp_path):
    out = tmp_path / "out"
    issue = BAD_DIR / name
    shown = rel(issue)
    result = run("render", shown, "--out", str(out))
    both = result.stderr + result.stdout

    assert result.returncode != 0
    assert "Traceback" not in both
    lines = _error_lines(result.stderr)
    assert 1 <= len(lines) <= 5, f"expected one or a few error lines, got:\n{result.stderr}"
    for line in lines:
        assert line.startswith("Error: "), f"not an 'Error: ' line: {line!r}"
        assert re.search(re.escape(shown) + r":\d+", line), f"no {shown}:LINE in {line!r}"

    line_no, key = EXPECTED[name]
    at_line = [ln for ln in lines if re.search(re.escape(f"{shown}:{line_no}") + r"(?!\d)", ln)]
    assert at_line, f"no error at {shown}:{line_no}:\n{result.stderr}"
    if key is not None:
        key_re = r"(?<![\w-])" + re.escape(key) + r"(?![\w-])"
        assert any(re.search(key_re, ln) for ln in at_line), (
            f"error at line {line_no} does not name the key {key!r}:\n{result.stderr}"
        )
    for word in EXPECTED_ALSO.get(name, []):
        word_re = r"(?<![\w-])" + re.escape(word) + r"(?![\w-])"
        assert re.search(word_re, result.stderr), f"error does not say {word!r}:\n{result.stderr}"

    written = sorted(p.name for p in out.rglob("*")) if out.exists() else []
    assert written == [], f"files written despite the error: {written}"


_SUMMARY = re.compile(r"^(?P<file>\S+): (?P<errors>\d+) errors?, (?P<warnings>\d+) warnings?$")


@pytest.mark.parametrize("name", _cases(GOOD, "good"))
def test_check_exit_matches_summary(name):
    issue = GOOD_DIR / name
    result = run("check", rel(issue))
    assert "Traceback" not in result.stderr + result.stdout
    assert result.returncode in (0, 1), result.stderr
    lines = _error_lines(result.stdout)
    assert lines, "check printed nothing"
    summary = _SUMMARY.match(lines[-1])
    assert summary, f"last line is not a summary: {lines[-1]!r}"
    assert summary["file"] == rel(issue)
    errors, warnings = int(summary["errors"]), int(summary["warnings"])
    assert result.returncode == (1 if errors else 0)
    findings = lines[:-1]
    assert sum(ln.startswith("error ") for ln in findings) == errors, result.stdout
    assert sum(ln.startswith("warning ") for ln in findings) == warnings, result.stdout
    for ln in findings:
        assert rel(issue) in ln, f"finding does not name the file: {ln!r}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
