"""A render inlines CSS into exactly the bytes premailer with cssutils alone gives: every
issue of the repository (and any under tests/data), in every edition and way of delivery,
with the bundled theme and with themes a workspace may bring (templates/<theme>) whose CSS
and MJML hold what only cssutils reads (comments, !important, escapes, url() with ; and
quotes, at-rules, custom properties, hacks, repeated properties, odd case and numbers), and
in style attributes of the HTML itself. Each side renders in a fresh interpreter: premailer's
own reader with every rule read afresh, then bulletin's on an empty cache and again on the
cache that render filled."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.waiting import SAFETY

DRIVER = """
import json, sys
from pathlib import Path
import bulletin.render as render
if sys.argv[1] == "cssutils alone":  # premailer's own reader, every rule read afresh
    render._read_declarations = lambda original: original
    render._kept_rules = lambda inliner, css, index, parse: parse()
from bulletin.workflow import prepare_editions
answers = []
for config, issue, delivery in json.loads(sys.stdin.read()):
    try:
        answers += [prepared.rendered.html
                    for prepared in prepare_editions(Path(issue), Path(config), None, delivery)]
    except Exception as exc:
        answers.append(f"{type(exc).__name__}: {exc}")
print(json.dumps(answers))
"""

# Rules only cssutils reads, in a theme's CSS (each theme gets some of them).
RULES = [
    ".bulletin-text p { color: red !important; color: blue; margin: 0PX 0 12.50px }",
    ".bulletin-text a { /* a comment */ color: #AABBCC; text-decoration: none ! important }",
    ".bulletin-text h2 { font-family: 'Open Sans', \"Helvetica Neue\", Arial; FONT-SIZE: 1.5REM }",
    ".bulletin-banner { background: url(\"a;b.png\") no-repeat; background-image: url(x;y.png) }",
    ".bulletin-dateline { content: 'a;b}' ; quotes: '\u00ab' '\u00bb'; font: 12px/1.5 Georgia }",
    ":root { --brand: #fff } .bulletin-footer a { color: var(--brand, red); --x: 1 }",
    ".bulletin-text li { *zoom: 1; _height: 1px; zoom: 1; width: 100px; width: 50% }",
    ".bulletin-text h1 { col\\6fr: red; \\63olor: green; color: \\72 ed }",
    "@media (max-width: 480px) { .bulletin-text p { margin: 0 } }",
    "@font-face { font-family: X; src: url(x.woff) format('woff') }",
    "@charset \"utf-8\"; @page { margin: 1cm } @unknown thing;",
    ".bulletin-text a:hover { color: red } .bulletin-text li:first-child { margin: 0 }",
    ".bulletin-text p { width: calc(100% - 2px); color: rgba(0,0,0,.5); line-height: +1.50 }",
    ".bulletin-text p { filter: progid:DXImageTransform.Microsoft.gradient(startColorstr='#80') }",
    ".bulletin-text p { x: 1px\\9; color: red\\9; ; ; color: ; : red; width: 1e3px }",
    "P, .BULLETIN-TEXT A { Color: Green } td { text-align: CENTER; vertical-align: Top }",
    ".bulletin-text p { background-color: #FFF; width: 0.0000001px; x: 1.1234567 }",
    ".bulletin-text { font-family: \u6587\u5b57, sans-serif; color: r\u00e9d }",
    "p { color: red", "} .bulletin-text p { color: green }", "<!-- --> p { margin: 1px }",
]
# Style attributes in the HTML itself (a theme's mj-raw), on elements the rules reach too.
STYLES = [
    "display:none !important; display:block", "COLOR : Blue; color: red",
    "font-family:'A B', serif;font-size:16PX", "background:url(&quot;a;b.png&quot;)",
    "--x: 1; color: var(--x)", "*zoom:1;_height:1px", "margin:0px auto; margin-left: 5PX",
    "content:'a;b'", "width:100%;width:00100.500px", "color:#aabbcc;;", "color", ": red", "",
    "line-height:.5; x: \\31 px", "/* c */ color: green",
]


def hostile_theme(default: Path, theme: Path, rng: random.Random) -> None:
    theme.mkdir()
    for path in default.iterdir():
        if path.is_dir():
            (theme / path.name).symlink_to(path)
    css = "".join(rng.sample(RULES, 6))
    (theme / "inline.css.j2").write_text((default / "inline.css.j2").read_text()
                                         + "{% raw %}\n" + css + "\n{% endraw %}\n")
    raw = "".join(f'<p class="bulletin-text" style="{style}">x</p>'
                  f'<div class="bulletin-text"><p style="{style}">y</p><a style="{style}">z</a>'
                  f"</div>" for style in rng.sample(STYLES, 5))
    mjml = (default / "email.mjml.j2").read_text()
    mjml, body = re.subn(r"(<mj-body [^>]*>)", r"\1{% raw %}<mj-raw>" + raw.replace("\\", "\\\\")
                         + "</mj-raw>{% endraw %}", mjml, count=1)
    mjml, text = re.subn(r'<mj-text font-size="16px" line-height="1.5"',
                         '<mj-text font-size="16PX" line-height="1.50" letter-spacing="0.0em"',
                         mjml, count=1)
    assert body == text == 1
    (theme / "email.mjml.j2").write_text(mjml.replace(
        'font-family="Arial, Helvetica, sans-serif"', "font-family=\"'Open Sans' , Arial\""))
    (theme / "email.txt.j2").write_text((default / "email.txt.j2").read_text())


def jobs(workspace: Path) -> list[tuple[str, str, str | None]]:
    issues = [path for folder in (ROOT / "issues", ROOT / "tests" / "data")
              for path in sorted(folder.rglob("*.yaml"))
              if re.search(r"(?m)^newsletter:", path.read_text(errors="replace"))]
    assert len(issues) >= 2
    (workspace / "issues").mkdir(exist_ok=True)
    for path in issues:
        (workspace / "issues" / path.name).write_text(path.read_text())
    rng = random.Random(7)
    configs = [workspace / "bulletin.toml"]
    toml = configs[0].read_text()
    for number in range(4):
        hostile_theme(workspace / "templates" / "default",
                      workspace / "templates" / f"hostile{number}", rng)
        config = workspace / f"bulletin-hostile{number}.toml"
        config.write_text(re.sub(r"(?m)^(\[newsletters\.[\w-]+\])$",
                                 rf'\1\ntheme = "hostile{number}"', toml))
        configs.append(config)
    return [(str(config), str(workspace / "issues" / issue.name), delivery)
            for config in configs for issue in issues
            for delivery in (None, "each", "bilingual", "side-by-side")]


def rendered(work: list[tuple[str, str, str | None]], cache: Path, how: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", DRIVER, how], input=json.dumps(work),
                          capture_output=True, text=True, timeout=SAFETY,
                          env={**os.environ, "XDG_CACHE_HOME": str(cache)})
    assert done.returncode == 0, done.stderr
    answers: list[str] = json.loads(done.stdout)
    return answers


@pytest.mark.slow
def test_every_issue_with_every_theme_renders_as_with_cssutils_alone(workspace: Path,
                                                                    tmp_path: Path) -> None:
    work = jobs(workspace)
    reference = rendered(work, tmp_path / "no-cache", "cssutils alone")
    assert len(reference) > len(work)
    assert not [answer for answer in reference if not answer.startswith("<!doctype html>")]
    assert sum("!important" in answer for answer in reference) >= 4  # the themes took
    for run in ("first", "later"):
        answers = rendered(work, tmp_path / "cache", "as it is")
        assert len(answers) == len(reference)
        for job, (answer, expected) in enumerate(zip(answers, reference, strict=True)):
            assert answer == expected, (run, job)


def test_made_up_css_and_styles_inline_as_with_cssutils_alone(tmp_path: Path) -> None:
    """bulletin.render.inline_css over the example's HTML with many made-up style sheets and
    style attributes, one after another in one interpreter (as `bulletin preview` renders
    again and again): what premailer's own reader gives, on an empty cache and a filled one."""
    from bulletin.compose import compose
    from bulletin.issue import load_issue
    from bulletin.render import compile_mjml
    from bulletin.settings import load_workspace
    from tests.conftest import EXAMPLE
    from tests.test_render_cssutils import inline

    workspace = load_workspace(ROOT / "bulletin.toml")
    loaded = load_issue(EXAMPLE, workspace)
    composed = compose(loaded, workspace.theme_dir(loaded.newsletter), workspace.settings.base_url,
                       ("en",), "single")
    html = compile_mjml(composed.mjml)
    body = html.index(">", html.index("<body")) + 1
    rng = random.Random(11)
    cases = [(html, composed.css)]
    for _ in range(120):
        css = composed.css + "\n".join(rng.sample(RULES, rng.randint(1, 5)))
        styles = "".join(f'<p class="bulletin-text" style="{style}">x</p><div '
                         f'class="bulletin-text"><p style="{style}">y</p></div>'
                         for style in rng.sample(STYLES, rng.randint(0, 4)))
        cases.append((html[:body] + styles + html[body:], css))
    reference = inline(cases, tmp_path / "no-cache", "cssutils alone")
    assert all(answer.startswith("<!doctype html>") for answer in reference)
    assert inline(cases, tmp_path / "cache") == reference
    assert inline(cases, tmp_path / "cache") == reference
