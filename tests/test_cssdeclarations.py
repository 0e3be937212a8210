"""bulletin.cssdeclarations reads every declaration it answers for exactly as cssutils reads
it for premailer (premailer.merge_style.csstext_to_pairs, whose body is `cssutils_pairs`
below), and answers for every style MJML writes for the bundled theme, so that a render
needs no cssutils."""

from __future__ import annotations

import inspect
import logging
import random
import re

import cssutils
import pytest
from premailer.merge_style import format_value

from bulletin.compose import compose
from bulletin.cssdeclarations import pairs
from bulletin.issue import load_issue
from bulletin.render import _inliner, compile_mjml, editions
from bulletin.settings import Workspace
from tests.conftest import ROOT

NAMES = ["color", "COLOR", "Width", "margin", "font-family", "mso-hide", "x", "_x", "x1", "--x",
         "-webkit-text-size-adjust", "-ms-x", "a-b", "1x", "line-height", "font", "a:b", ""]
WORDS = ["0", "00", "-0", "0px", "0PX", "0em", "0%", "-0%", "0rem", "0vw", "0pt", "0.0", "1.50",
         "1.5", "10px", "010px", "-1px", "1.123456", "1.1234567", "123456789", "1234567890",
         "100%", "100.0%", "12pt", "2REM", "3vh", "1e3", "1e", ".5", "5.", "1px1", "1-2", "+1",
         "0s", "5deg", "1ch", "0ex", "0in", "0.000001", "0.0000001", "999999999.999999",
         "auto", "Auto", "none", "red", "Red", "break-word", "-a", "--a", "a_b", "A1",
         "sans-serif", "Arial", "#fff", "#FFF", "#ffffff", "#FFffFF", "#Aabbcc", "#aabbcd",
         "#abcd", "#ff", "#ggg", "#", "solid", "inherit", "!important", "url(x)", "'a'",
         '"b b"', "1/2", "calc(1px)", "\u00ff", "a\\b", "/**/", "{", "}", "",
         "0.0000010", "-00.0px", "999999999.999999", "a--b", "-_a", "_", "1In", "0EM",
         "#aAbBcC", "0e0", "a-", "-1a", "1.", "\u212a", "\u0130"]
SEPARATORS = [" ", "  ", "\t", "\n", "\r\n", ",", " , ", ", ", " ,", ",,", "\f", "\r",
              " \f ", "\f,\r"]


def cssutils_pairs(text: str, validate: bool) -> list[tuple[str, str]]:
    """premailer 3.10's csstext_to_pairs, uncached."""
    return [(prop.name.strip(), format_value(prop))
            for prop in cssutils.parseStyle(text, validate=validate)]


@pytest.fixture(autouse=True, scope="module")
def _quiet() -> None:
    cssutils.log.setLevel(logging.CRITICAL)


def declarations(rng: random.Random) -> str:
    def value() -> str:
        words = [rng.choice(WORDS) for _ in range(rng.randint(1, 4))]
        return "".join(word + rng.choice(SEPARATORS) for word in words[:-1]) + words[-1]

    one = [rng.choice(["", " ", "\n"]) + rng.choice(NAMES) + rng.choice([":", " : ", ": "])
           + value() + rng.choice(["", " "]) for _ in range(rng.randint(1, 4))]
    return ";".join(one) + rng.choice(["", ";", "; ", ";;"])


def test_every_answer_is_cssutils_answer() -> None:
    rng = random.Random(18)
    answered = 0
    for _ in range(40_000):
        text = declarations(rng)
        read = pairs(text)
        if read is not None:
            answered += 1
            assert read == cssutils_pairs(text, True) == cssutils_pairs(text, False), text
    assert answered > 2_000  # enough of them answered here to mean something


@pytest.mark.parametrize("text", [
    "", " ", ";", "; ;color:red", "font-size:0px;padding:0 24px;word-break:break-word;",
    "color:#FFFFFF; background:#ffffff", "margin:0px auto;max-width:600px",
    "font-family:Ubuntu, Helvetica,Arial , sans-serif", "x:a;y:b;x:c", "Color:Red;COLOR:blue",
    "line-height:1.50;width:100.0%", "width:-0px", "x:0001.5", "x:-0.50em",
    "-webkit-text-size-adjust:100%;-ms-text-size-adjust:100%", "x: a\r\n b\tc "])
def test_plain_declarations_are_answered_as_cssutils_answers_them(text: str) -> None:
    assert pairs(text) == cssutils_pairs(text, True)


@pytest.mark.parametrize("text", [
    "color", "x:1e3", "x:.5", "x:+1px", "x:1px1", "x:1-2", "x:10.", "x:0s", "x:1.0000001",
    "x:1234567890.5", "x:#abcd", "x:a,,b", "x:,a", "x:a,", "x:", "--x:1", "1x:1", "x:--a",
    "color:red !important", "content:'a;b'", "background:url(a.png)", "font:12px/1.5 Arial",
    "width:calc(100% - 2px)", "x:a/**/b", "x:a:b", "x:\u00ff", "x:a\\62"])
def test_anything_else_is_left_to_cssutils(text: str) -> None:
    assert pairs(text) is None


def test_every_style_mjml_writes_for_the_bundled_theme_is_answered(example_workspace: Workspace
                                                                  ) -> None:
    styles = set()
    for path in sorted((ROOT / "issues").glob("*.yaml")):
        loaded = load_issue(path, example_workspace)
        newsletter = loaded.newsletter
        for languages in editions(loaded):
            for mode in ("bilingual", "side-by-side") if len(languages) > 1 else ("single",):
                composed = compose(loaded, example_workspace.theme_dir(newsletter),
                                   example_workspace.settings.base_url, languages, mode)
                html = compile_mjml(composed.mjml)
                styles |= set(re.findall(r'style="([^"]*)"', html))
    assert len(styles) > 20
    for style in styles:
        assert pairs(style) == cssutils_pairs(style, True), style


@pytest.fixture
def example_workspace() -> Workspace:
    from bulletin.settings import load_workspace

    return load_workspace(ROOT / "bulletin.toml")


HOSTILE = ["color:red !important", "color:red!IMPORTANT;color:blue", "/* c */color:blue",
           "col\\6fr:red", "font-family:'Open Sans', \"Helvetica Neue\", Arial", "content:'a;b'",
           "background:url(a;b.png)", "background:url('a;b.png') no-repeat", "--brand: #fff",
           "color:var(--brand, red)", "*zoom:1", "_height:1px", "font:12px/1.5 Georgia,serif",
           "width:calc(100% - 2px)", "color:rgba(0,0,0,.5)", "line-height:+1.5",
           "width:1e3px", "x:1.1234567", "color:", ":red", "color", "color:\u00a0red",
           "font-family:\u6587\u5b57", "x:1px\\9", "x:#abcd", "x:'", "x:url(", "color:red}",
           "filter:progid:DXImageTransform.Microsoft.gradient(startColorstr='#80000000')",
           "style", "p", ".x{color:red}", "x: \f a \f b", "COLO\u212a:red", "x:\u0130"]


@pytest.mark.parametrize("validate", [True, False])
def test_what_is_left_to_cssutils_is_read_as_premailer_reads_it(validate: bool) -> None:
    """The reader bulletin.render gives premailer answers what premailer's own would, for
    declarations only cssutils reads too (its own copy of the original's body, kept out of
    premailer's cache: tests/test_render_cssutils.py), and in the original's order: the
    premailer this runs with has not changed what its csstext_to_pairs does."""
    import premailer.merge_style

    _inliner()
    read = premailer.merge_style.csstext_to_pairs
    original = inspect.unwrap(read.original)
    for text in HOSTILE:
        assert read(text, validate=validate) == original(text, validate=validate), text
        assert read(text) == original(text), text
