"""A render inlines the theme's CSS without importing cssutils (the rules premailer reads from
the theme's CSS are kept in the user's cache; declarations are read by
bulletin.cssdeclarations) and makes exactly the HTML that premailer with cssutils alone
makes: on a first render, on a later one, with a damaged cache, and with a theme whose CSS
only cssutils can read. Each render runs in a fresh interpreter, as the command does."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bulletin.errors import RenderError
from bulletin.render import inline_css
from tests.conftest import EXAMPLE
from tests.css_server import css_server
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


INLINE = """
import json, sys
import bulletin.render as render
if sys.argv[1] == "cssutils alone":  # premailer's own reader, every rule read afresh
    render._read_declarations = lambda original: original
    render._kept_rules = lambda inliner, css, index, parse: parse()
answers = []
for html, css in json.loads(sys.stdin.read()):
    try:
        answers.append(render.inline_css(html, css))
    except Exception as exc:
        answers.append(f"{type(exc).__name__}: {exc}")
print(json.dumps(answers))
"""


def inline(cases: list[tuple[str, str]], cache: Path, how: str = "as it is") -> list[str]:
    """bulletin.render.inline_css of each (html, css), in a fresh interpreter: the HTML, or
    the exception's type and message."""
    done = subprocess.run([sys.executable, "-c", INLINE, how], input=json.dumps(cases),
                          capture_output=True, text=True, timeout=SAFETY,
                          env={**os.environ, "XDG_CACHE_HOME": str(cache)})
    assert done.returncode == 0, done.stderr
    answers: list[str] = json.loads(done.stdout)
    return answers


def test_a_style_attribute_the_same_text_as_the_css_is_read_as_cssutils_reads_it(
        tmp_path: Path) -> None:
    """premailer keeps what its functions answer in one cache, keyed by their arguments
    alone: asked with the arguments premailer gives the reader of a whole style sheet, the
    reader of a style attribute got the sheet back (and the render failed with a TypeError
    on a first render only, when the sheet had just been read)."""
    css = ".x{color:red}"
    cases = [(f'<html><body><p class="x" style="{css}">a</p></body></html>', css)]
    reference = inline(cases, tmp_path / "no-cache", "cssutils alone")
    assert reference[0].endswith('<p class="x" style="color:red">a</p></body></html>')
    assert inline(cases, tmp_path / "cache") == reference
    assert inline(cases, tmp_path / "cache") == reference


def test_an_element_whose_style_names_a_selector_is_not_given_the_selector(
        tmp_path: Path) -> None:
    """The same cache, as premailer itself has it: a style attribute that is the text of a
    selector premailer compiled ("style", every time) was answered with the compiled selector,
    a TypeError. Read by cssutils, the declaration-less text is nothing, as for any other."""
    cases = [('<html><body><p class="x" style="style">a</p></body></html>', ".x{color:red}")]
    assert inline(cases, tmp_path / "cache") == [
        '<!doctype html>\n<html><body><p class="x" style="color:red">a</p></body></html>']


@pytest.mark.parametrize("keyword", ["@import", "@IMPORT", "@\\69mport", "@\\49 MPORT",
                                     "@\\000069mport", "@imp\\ort", "@i\\m\\p\\o\\r\\t",
                                     "@\\69\r\nmport", "@IM\\50ORT"])
def test_an_import_however_written_is_refused_and_nothing_is_fetched(keyword: str) -> None:
    """cssutils reads an at-keyword with its escapes undone, and fetches what @import names
    whatever premailer's allow_network says: so the check looks at it as cssutils does."""
    with css_server() as (base, fetched):
        url = f"{base}/{len(fetched)}.css"
        with pytest.raises(RenderError, match="@import is not allowed"):
            inline_css('<html><body><p class="x">a</p></body></html>',
                       f"{keyword} url({url});\n.x {{ color: blue }}")
    assert fetched == []


def test_an_entry_kept_under_the_same_name_that_is_not_rules_costs_only_time(
        issue: Path, tmp_path: Path) -> None:
    """An entry whole by its checksum but not rules this bulletin wrote (another version's,
    or made by hand) is read again from the CSS, not taken for rules nor failed on."""
    cache = tmp_path / "cache"
    _, first = render(issue, tmp_path / "first", cache)
    kept = list((cache / "bulletin" / "css").iterdir())
    assert kept
    for number, data in enumerate([b"[1, 2]", b"not json", b'{"rules": []}', b"[[], 3]",
                                   b'[[[[1, "x"], ".a", "b"]], []]', b"[[], [[1, 2]]]"]):
        for path in kept:
            path.write_bytes(hashlib.sha256(data).hexdigest().encode() + b"\n" + data)
        used, again = render(issue, tmp_path / f"again{number}", cache)
        assert used and again == first, data
    for number, whole in enumerate([b"", b"no line", b"\n", b"\xff\n[[], []]"]):
        for path in kept:
            path.write_bytes(whole)
        used, again = render(issue, tmp_path / f"damaged{number}", cache)
        assert used and again == first, whole
    assert not render(issue, tmp_path / "made again", cache)[0]


def test_renders_at_once_on_an_empty_cache_agree(issue: Path, tmp_path: Path) -> None:
    """Renders that start together each read the theme and write the entry (whole, a new
    file renamed into place): each makes the reference's HTML, and so does one that reads
    the entry after."""
    _, reference = render(issue, tmp_path / "reference", tmp_path / "no-cache", "cssutils alone")
    cache = tmp_path / "cache"
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "BULLETIN_SECRET_KEY": "k" * 32}
    runs = [subprocess.Popen([sys.executable, "-c", RENDER, str(issue), str(tmp_path / str(n)),
                              "as it is"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env) for n in range(4)]
    for number, run in enumerate(runs):
        _, errors = run.communicate(timeout=SAFETY)
        assert run.returncode == 0, errors
        assert (tmp_path / str(number) / f"{issue.stem}.html").read_text() == reference
    assert [path.suffix for path in (cache / "bulletin" / "css").iterdir()] == [".bin"]
    assert render(issue, tmp_path / "later", cache) == (False, reference)


def test_a_relative_cache_folder_is_not_used(issue: Path, workspace: Path,
                                             tmp_path: Path) -> None:
    """XDG_CACHE_HOME must be absolute (a relative one is ignored, as the XDG specification
    asks), and so must the home folder the default is in: a relative one would put the cache
    in whatever folder the command runs in, the workspace most likely."""
    home = tmp_path / "out" / "home"  # (the workspace is tmp_path)
    env = {**os.environ, "BULLETIN_SECRET_KEY": "k" * 32}
    for xdg, home_value in (("cache", str(home)), ("", "home"), ("cache", "home")):
        done = subprocess.run([sys.executable, "-c", RENDER, str(issue), str(tmp_path / "out"),
                               "as it is"], capture_output=True, text=True, timeout=SAFETY,
                              cwd=workspace, env={**env, "XDG_CACHE_HOME": xdg,
                                                  "HOME": home_value})
        assert done.returncode == 0, done.stderr
        assert not (workspace / "cache").exists()
        assert not (workspace / "home").exists()
    assert (home / ".cache" / "bulletin" / "css").is_dir()
