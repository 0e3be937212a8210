"""Details that external reviewers of the email found: jump targets every client follows,
links told apart from text by more than colour, phone margins that line up, and the plain
text writing an address once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lxml.html
import pytest

from bulletin.markdown import to_text
from bulletin.workflow import Prepared, prepare, sample
from tests.conftest import ROOT

BILINGUAL = ROOT / "issues" / "cohes3ion-04-bilingual.yaml"


def test_jump_links_have_a_named_anchor() -> None:
    """Gmail on the desktop, Outlook and Yahoo ignore id targets; <a name> they follow."""
    page = lxml.html.document_fromstring(prepare(BILINGUAL, delivery="bilingual").rendered.html)
    for link in page.xpath("//a[starts-with(@href, '#')]"):
        target = link.get("href")[1:]
        assert page.xpath(f"//a[@name='{target}']"), target
        assert page.xpath(f"//*[@id='{target}']"), target


def test_links_in_text_have_a_cue_besides_colour(example: Prepared) -> None:
    """The link blue against the body text is 2.59:1, under WCAG's 3:1: where a client drops
    the underline, the links must still stand out by weight."""
    page = lxml.html.document_fromstring(example.rendered.html)
    links = page.xpath("//td[contains(@class, 'bulletin-text')]//a")
    assert len(links) > 20
    for link in links:
        style = (link.get("style") or "").replace(" ", "")
        assert "text-decoration:underline" in style, style
        assert "font-weight:bold" in style or "font-weight:700" in style, style


@pytest.mark.parametrize(("source", "text"), [
    ("Contact us at [news@example.org](mailto:news@example.org).",
     "Contact us at news@example.org."),
    ("Contact us at <news@example.org>.", "Contact us at news@example.org."),
    ("Write to [the team](mailto:news@example.org).",
     "Write to the team <mailto:news@example.org>."),
    ("See <https://example.org/a>.", "See https://example.org/a."),
])
def test_an_address_that_is_its_own_link_text_is_written_once(source: str, text: str) -> None:
    assert to_text(source) == text


@pytest.mark.slow
@pytest.mark.parametrize("width", [320, 375])
def test_on_phones_banner_logo_images_and_text_line_up(browser: Any, tmp_path: Path,
                                                       example: Prepared, width: int) -> None:
    path = tmp_path / "email.html"
    path.write_text(sample(example).html, encoding="utf-8")
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
        "file:") else route.abort())
    page.goto(path.as_uri())
    lefts = page.evaluate("""() => {
        const left = sel => document.querySelector(sel).getBoundingClientRect().left;
        const inner = sel => {
            const td = document.querySelector(sel);
            return td.getBoundingClientRect().left + parseFloat(getComputedStyle(td).paddingLeft);
        };
        return {banner: inner('.bulletin-banner'), logo: left('.bulletin-logo img'),
                title: left('h1'), heading: left('.bulletin-section h2'),
                body: left('.bulletin-body p')};
    }""")
    page.close()
    assert lefts["title"] == 16, lefts
    assert set(lefts.values()) == {16}, lefts
