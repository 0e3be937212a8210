"""Welsh and English: every delivery mode, translated theme words, lang attributes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from babel.messages.pofile import read_po
from typer.testing import CliRunner

from bulletin.cli import app
from bulletin.workflow import Prepared, prepare, prepare_editions, sample
from tests.conftest import ROOT

BILINGUAL = ROOT / "issues" / "cohes3ion-04-bilingual.yaml"


@pytest.fixture(scope="module", params=["bilingual", "side-by-side"])
def combined(request: pytest.FixtureRequest) -> Prepared:
    return prepare(BILINGUAL, delivery=request.param)


def doc(html: str) -> Any:
    return lxml.html.document_fromstring(html)


def test_one_email_carries_both_languages_with_lang_attributes(combined: Prepared) -> None:
    page = doc(combined.rendered.html)
    assert page.get("lang") == "cy"
    assert combined.rendered.languages == ("cy", "en")
    welsh = " ".join(e.text_content() for e in page.xpath("//*[@lang='cy'][not(.//*[@lang])]"))
    english = " ".join(e.text_content() for e in page.xpath("//*[@lang='en'][not(.//*[@lang])]"))
    assert "Cyhoeddi Cynlluniau Gweithredu Rhanbarthol" in welsh
    assert "Regional Action Plans Published" in english
    assert "Regional Action Plans Published" not in welsh
    assert combined.rendered.subject == ("Cylchlythyr Cohes3ion Rhifyn 4 / "
                                         "Cohes3ion Newsletter Issue 4")
    text = combined.rendered.text
    assert text.index("Cyhoeddi Cynlluniau") < text.index("Regional Action Plans Published")


def test_theme_words_and_dates_are_translated(combined: Prepared) -> None:
    page = doc(combined.rendered.html)
    words = " ".join(page.text_content().split())
    for expected in ("Dad-danysgrifio / Unsubscribe", "Rheoli dewisiadau / Manage preferences",
                     "Gweld yn y porwr / View in browser", "Rhifyn 4 - Ionawr 2022",
                     "Issue 4 - January 2022", "Polisi Preifatrwydd / Privacy Policy",
                     "Anfonwyd yr e-bost hwn at %%email%% gan Llywodraeth Cymru."):
        assert expected in words, expected


def test_bilingual_mode_has_a_jump_link_to_english() -> None:
    rendered = prepare(BILINGUAL, delivery="bilingual").rendered
    page = doc(rendered.html)
    jump = page.xpath("//a[@href='#lang-en']")
    assert [a.text_content() for a in jump] == ["Scroll down for English"]
    assert page.xpath("//*[@id='lang-en']/@lang") == ["en"]
    assert "Scroll down for English" in rendered.text


def test_english_first_jumps_to_welsh(workspace: Path) -> None:
    config = workspace / "bulletin.toml"
    config.write_text(config.read_text().replace('languages = ["cy", "en"]',
                                                 'languages = ["en", "cy"]'))
    issue = workspace / "issues" / BILINGUAL.name
    issue.write_text(BILINGUAL.read_text())
    rendered = prepare(issue).rendered
    page = doc(rendered.html)
    assert page.get("lang") == "en"
    assert [a.text_content() for a in page.xpath("//a[@href='#lang-cy']")] == [
        "Sgroliwch i lawr am y Gymraeg"]


def test_each_subscriber_language_is_one_email_per_language() -> None:
    editions = prepare_editions(BILINGUAL, delivery="each")
    # and, for subscribers with no recorded language, one with both (the default with Welsh)
    assert [p.rendered.languages for p in editions] == [("cy",), ("en",), ("cy", "en")]
    welsh, english = (doc(p.rendered.html) for p in editions[:2])
    assert welsh.get("lang") == "cy" and english.get("lang") == "en"
    assert "Dad-danysgrifio" in welsh.text_content()
    assert "Dad-danysgrifio" not in english.text_content()
    assert editions[0].rendered.subject == "Cylchlythyr Cohes3ion Rhifyn 4"
    assert editions[1].rendered.subject == "Cohes3ion Newsletter Issue 4"
    view = doc(sample(editions[0]).html).xpath("//a[contains(., 'Gweld yn y porwr')]/@href")
    assert view == ["https://bulletins.example.gov.wales/archive/cohes3ion-bilingual/"
                    "cohes3ion-04-bilingual?lang=cy"]


def test_render_writes_each_language(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["render", str(BILINGUAL), "--out", str(tmp_path),
                                      "--delivery", "each"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"cohes3ion-04-bilingual.{lang}.{ext}" for lang in ("cy+en", "cy", "en")
        for ext in ("eml", "html", "txt")]
    result = CliRunner().invoke(app, ["render", str(BILINGUAL), "--out", str(tmp_path / "cy"),
                                      "--lang", "cy"])
    assert result.exit_code == 0
    assert (tmp_path / "cy" / "cohes3ion-04-bilingual.html").is_file()


def test_a_field_in_one_language_only_is_reported(workspace: Path) -> None:
    issue = workspace / "issues" / "half.yaml"
    issue.write_text(BILINGUAL.read_text().replace(
        "      en: Regional Action Plans Published\n", ""))
    result = CliRunner().invoke(app, ["check", str(issue)])
    assert result.exit_code == 1
    assert re.search(rf"^Error: {re.escape(str(issue))}:\d+: sections\[0\]\.heading: "
                     r"no 'en' text; newsletter 'cohes3ion-bilingual' is published in cy, en$",
                     result.output, re.MULTILINE)


def test_every_theme_word_has_a_welsh_translation() -> None:
    used: set[str] = set()
    for template in (ROOT / "templates" / "default").glob("*.j2"):
        used |= set(re.findall(r'(?:\b_|every)\("([^"]+)"\)', template.read_text()))
    used.add("Scroll down for Welsh")
    with (ROOT / "templates" / "default" / "locale" / "cy.po").open("rb") as po:
        catalog = read_po(po, locale="cy")
    translated = {m.id for m in catalog if m.id and m.string}
    assert used - translated == set()
    assert len(used) > 10


@pytest.mark.slow
@pytest.mark.parametrize("delivery", ["bilingual", "side-by-side"])
def test_in_chromium(browser: Any, tmp_path: Path, delivery: str) -> None:
    html = sample(prepare(BILINGUAL, delivery=delivery)).html
    path = tmp_path / "email.html"
    path.write_text(html, encoding="utf-8")
    wide = 800 if delivery == "side-by-side" else 600
    for width in (wide, 375):
        page = browser.new_page(viewport={"width": width, "height": 700})
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
            "file:") else route.abort())
        page.goto(path.as_uri())
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        welsh = page.locator("h2", has_text="Cyhoeddi Cynlluniau").bounding_box()
        english = page.locator("h2", has_text="Regional Action Plans Published").bounding_box()
        assert welsh and english
        if delivery == "side-by-side" and width == wide:
            assert english["x"] > welsh["x"] + 300 and abs(english["y"] - welsh["y"]) < 5
        else:
            assert english["y"] > welsh["y"] and abs(english["x"] - welsh["x"]) < 5
        if delivery == "bilingual":
            assert page.evaluate("window.scrollY") == 0
            page.get_by_role("link", name="Scroll down for English").click()
            page.wait_for_function("window.scrollY > 0")
            top = page.evaluate("document.getElementById('lang-en').getBoundingClientRect().top")
            assert abs(top) < 30
        page.close()
