"""A render inlines the theme's CSS without importing cssutils (the rules premailer reads from
the theme's CSS are kept in the user's cache; declarations are read by
bulletin.cssdeclarations) and makes exactly the HTML that premailer with cssutils alone
makes: on a first render, on a later one, with a damaged cache, and with a theme whose CSS
only cssutils can read. Each render runs in a fresh interpreter, as the command does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE
from tests.waiting import SAFETY

RENDER = """
import sys
from typer.testing import CliRunner
if sys.argv[3] == "cssutils alone":  # the reference: every declaration read by cssutils
    import bulletin.cssdeclarations
    bulletin.cssdeclarations.pairs = lambda text: None
from bulletin.cli import app
result = CliRunner().invoke(app, ["render", sys.argv[1], "--out", sys.argv[2]])
assert result.exit_code == 0, result.output
print("cssutils" in sys.modules)
"""

# Rules only cssutils reads: a media query (left over, so these rules are not kept), a
# pseudo-class, !important, url(), the font shorthand, and a style attribute it must merge.
AWKWARD_CSS = """
@media (max-width: 480px) { .bulletin-text p { margin: 0 } }
.bulletin-text a:hover { color: red }
.bulletin-text strong { font-weight: 700 !important; }
.bulletin-dateline { background: url("https://example.org/x.png") no-repeat;
                     font: 12px/1.5 Georgia, serif; }
.bulletin-banner { padding: 0PX 24.50px; color: #FFFFFF }
"""


def render(issue: Path, out: Path, cache: Path, how: str = "as it is") -> tuple[bool, str]:
    """(whether cssutils was imported, the .html)."""
    done = subprocess.run([sys.executable, "-c", RENDER, str(issue), str(out), how],
                          capture_output=True, text=True, timeout=SAFETY,
                          env={**os.environ, "XDG_CACHE_HOME": str(cache),
                               "BULLETIN_SECRET_KEY": "k" * 32})  # the same links each time
    assert done.returncode == 0, done.stderr
    return done.stdout.strip() == "True", (out / f"{issue.stem}.html").read_text()


@pytest.fixture
def issue(workspace: Path) -> Path:
    path = workspace / "issues" / EXAMPLE.name
    path.write_text(EXAMPLE.read_text())
    return path


def test_a_render_needs_no_cssutils_once_the_theme_is_read(issue: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _, reference = render(issue, tmp_path / "reference", tmp_path / "no-cache", "cssutils alone")
    first_used, first = render(issue, tmp_path / "first", cache)
    later_used, later = render(issue, tmp_path / "later", cache)
    assert first_used  # reading the theme's CSS the first time
    assert not later_used
    assert first == later == reference
    assert 'style="display:none; mso-hide:all; font-size:0; padding:0 24px' in later


def test_a_damaged_cache_costs_only_time(issue: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _, first = render(issue, tmp_path / "first", cache)
    kept = list((cache / "bulletin" / "css").iterdir())
    assert kept
    for path in kept:
        path.write_bytes(path.read_bytes()[:-20] + b"garbage")
    used, again = render(issue, tmp_path / "again", cache)
    assert used and again == first
    assert not render(issue, tmp_path / "third", cache)[0]


def test_a_theme_only_cssutils_can_read_renders_as_with_cssutils_alone(
        workspace: Path, issue: Path, tmp_path: Path) -> None:
    css = workspace / "templates" / "default" / "inline.css.j2"
    css.write_text(css.read_text() + AWKWARD_CSS)
    _, reference = render(issue, tmp_path / "reference", tmp_path / "no-cache", "cssutils alone")
    for run in ("first", "later"):
        used, html = render(issue, tmp_path / run, tmp_path / "cache")
        assert used
        assert html == reference
    assert "font-weight:700 !important" in reference
    assert 'class="bulletin-banner" style="padding:0 24px; color:#FFF; font-size:0;' in reference
    assert "background:url(https://example.org/x.png) no-repeat; font:12px/1.5 Georgia" \
        in reference
