"""Order and prominence of a bilingual newsletter (Welsh Language Standards): the first
language's subject, block and text first; the jump link in the language it jumps to, working
through the <a name> target alone (Gmail desktop, Outlook and Yahoo ignore ids)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from typer.testing import CliRunner

from bulletin.cli import app
from bulletin.workflow import prepare
from tests.conftest import ROOT

BILINGUAL = ROOT / "issues" / "cohes3ion-04-bilingual.yaml"
LANGUAGES = 'languages = ["cy", "en"]\n'
EN, CY = "Regional Action Plans Published", "Cyhoeddi Cynlluniau"  # the first heading


def bilingual(workspace: Path, extra: str = "") -> Path:
    """The bundled bilingual example in `workspace`, with `extra` keys in its newsletter."""
    config = workspace / "bulletin.toml"
    text = config.read_text()
    assert text.count(LANGUAGES) == 1
    config.write_text(text.replace(LANGUAGES, LANGUAGES + extra))
    shutil.copy(BILINGUAL, workspace / "issues" / BILINGUAL.name)
    return workspace / "issues" / BILINGUAL.name


def order_of(html: str) -> list[str]:
    doc = lxml.html.document_fromstring(html)
    return [div.get("lang") for div in doc.iter("div") if div.get("class") is None
            and (div.get("id") or "").startswith("lang-")]


@pytest.mark.parametrize("delivery", ["bilingual", "side-by-side"])
def test_by_default_the_order_of_languages(workspace: Path, delivery: str) -> None:
    rendered = prepare(bilingual(workspace), delivery=delivery).rendered
    assert rendered.subject == "Cylchlythyr Cohes3ion Rhifyn 4 / Cohes3ion Newsletter Issue 4"
    assert rendered.text.index(CY) < rendered.text.index(EN)
    assert rendered.html.index(CY) < rendered.html.index(EN)


@pytest.mark.parametrize("delivery", ["bilingual", "side-by-side"])
def test_first_language_comes_first_in_subject_html_and_text(workspace: Path,
                                                             delivery: str) -> None:
    rendered = prepare(bilingual(workspace, 'first_language = "en"\n'),
                       delivery=delivery).rendered
    assert rendered.subject == "Cohes3ion Newsletter Issue 4 / Cylchlythyr Cohes3ion Rhifyn 4"
    assert rendered.language == "en"
    assert rendered.text.index(EN) < rendered.text.index(CY)
    assert rendered.html.index(EN) < rendered.html.index(CY)
    assert rendered.preheader.startswith("Eight Regional")


def test_the_jump_link_is_in_the_language_it_jumps_to(workspace: Path) -> None:
    for extra, target, words in (("", "en", "Scroll down for English"),
                                 ('first_language = "en"\n', "cy",
                                  "Sgroliwch i lawr am y Gymraeg")):
        rendered = prepare(bilingual(workspace, extra), delivery="bilingual").rendered
        doc = lxml.html.document_fromstring(rendered.html)
        jumps = [a for a in doc.iter("a") if (a.get("href") or "").startswith("#lang-")]
        assert [(a.get("href"), a.text_content(), a.getparent().get("lang")) for a in jumps] \
            == [(f"#lang-{target}", words, target)]
        assert doc.xpath(f'//a[@name="lang-{target}"]')
        assert words in rendered.text
        shutil.copy(ROOT / "bulletin.toml", workspace / "bulletin.toml")


def test_first_language_must_be_one_of_the_languages(workspace: Path) -> None:
    path = bilingual(workspace, 'first_language = "fr"\n')
    result = CliRunner().invoke(app, ["check", str(path), "--config",
                                      str(workspace / "bulletin.toml")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "first_language 'fr' is not one of the newsletter's languages (cy, en)" \
        in result.output, result.output
    assert re.search(r"bulletin\.toml:\d+: ", result.output)


@pytest.mark.slow  # Chromium
@pytest.mark.parametrize("first", ["cy", "en"])
def test_jump_link_works_in_chromium_with_only_the_name_anchor(
        browser: Any, workspace: Path, first: str) -> None:
    rendered = prepare(bilingual(workspace, f'first_language = "{first}"\n'),
                       delivery="bilingual").rendered
    html, _ = rendered.personalise({"unsubscribe_url": "https://example.org/u",
                                    "preferences_url": "https://example.org/p",
                                    "email": "someone@example.org"})
    other = "en" if first == "cy" else "cy"
    without_ids = re.sub(r'\sid="lang-[a-z]+"', "", html)
    assert f'id="lang-{other}"' not in without_ids and f'name="lang-{other}"' in without_ids
    path = workspace / "email.html"
    path.write_text(without_ids, encoding="utf-8")
    page = browser.new_page(viewport={"width": 600, "height": 400})
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
        "file:") else route.abort())
    page.goto(path.as_uri())
    assert page.evaluate("window.scrollY") == 0
    page.click(f'a[href="#lang-{other}"]')
    page.wait_for_function("window.scrollY > 0")
    top = page.evaluate(f"""() => document.querySelector('a[name="lang-{other}"]')
        .getBoundingClientRect().top""")
    assert abs(top) < 5  # the other language's block is at the top of the window
    page.close()
