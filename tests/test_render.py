"""The render pipeline: every part of the reference, and nothing damaged on the way."""

from __future__ import annotations

import html as htmllib
import re

import lxml.html
import pytest

from bulletin import placeholders as ph
from bulletin.errors import RenderError
from bulletin.render import compile_mjml, inline_css
from bulletin.workflow import Prepared
from tests.css_server import css_server


def text_of(html: str) -> str:
    return " ".join(lxml.html.document_fromstring(html).text_content().split())


REFERENCE_TEXT = [
    "News & alerts",
    "Cohes3ion Newsletter Issue 4",
    "Issue 4 - January 2022",
    "Regional Action Plans Published",
    "Stockholm Region project is the latest Cohes3ion good practice recognised by "
    "Interreg Europe",
    "The Södertälje Science Park (SScP) good practice",
    "Bable Consultancy reports published",
    "The findings for the Welsh Government report can be read here",
    "Looking back at some key project milestones",
    "ABOUT",
    "COHES3ION will integrate local and regional priorities",
    "Find out more on the web:", "interregeurope.eu/cohes3ion",
    "Follow us on Twitter:", "@cohes3ion",
    "Follow us on LinkedIn:",
    "Unsubscribe • Manage preferences • View in browser",
    "Update your subscriptions",
    "at any time",
    "Subscribe to updates from Welsh Government",
    "Share Bulletin",
    "Privacy Policy | Cookie Statement | Help",
    "Welsh Government, Cathays Park, Cardiff, CF10 3NQ",
]


@pytest.mark.parametrize("expected", REFERENCE_TEXT)
def test_every_part_of_the_reference_is_in_the_html(example: Prepared, expected: str) -> None:
    assert expected in text_of(example.rendered.html)


def test_banner_is_dark_and_logo_has_its_bilingual_alt_text(example: Prepared) -> None:
    doc = lxml.html.document_fromstring(example.rendered.html)
    logo = [img for img in doc.iter("img") if "/media/" in img.get("src", "")]
    # The logo, and the one for dark backgrounds (shown instead in dark mode)
    assert [img.get("alt") for img in logo] == ["Llywodraeth Cymru / Welsh Government"] * 2
    banner_cell = doc.xpath("//*[contains(text(), 'News & alerts')]/ancestor::*"
                            "[contains(@style, 'background')][1]")
    assert banner_cell and "#323232" in banner_cell[0].get("style")


def test_milestones_are_a_list_of_seven_links(example: Prepared) -> None:
    doc = lxml.html.document_fromstring(example.rendered.html)
    lists = doc.xpath("//ul")
    assert len(lists) == 1
    items = lists[0].findall("li")
    assert len(items) == 7
    assert all(item.find(".//a") is not None for item in items)
    assert items[0].text_content() == "producing 8 Regional Action Plans"


def test_footer_links_are_placeholders_until_personalised(example: Prepared) -> None:
    doc = lxml.html.document_fromstring(example.rendered.html)
    links = {a.text_content(): a.get("href") for a in doc.iter("a")}
    assert links["Unsubscribe"] == ph.UNSUBSCRIBE_URL
    assert links["Manage preferences"] == ph.PREFERENCES_URL
    assert links["View in browser"].startswith("https://bulletins.example.gov.wales/archive/")
    assert links["Privacy Policy"] == "https://www.gov.wales/website-privacy-policy"
    assert ph.UNSUBSCRIBE_URL in example.rendered.text
    assert ph.PREFERENCES_URL in example.rendered.text
    assert ph.EMAIL in example.rendered.html and ph.EMAIL in example.rendered.text


def test_personalise_fills_every_placeholder_and_escapes_for_html(example: Prepared) -> None:
    values = {"unsubscribe_url": "https://x.test/u/tok", "preferences_url": "https://x.test/p/t",
              "email": "o'brien&co@example.org"}
    html, text = example.rendered.personalise(values)
    assert "%%" not in html and "%%" not in text
    assert 'href="https://x.test/u/tok"' in html
    assert htmllib.escape("o'brien&co@example.org") in html
    assert "o'brien&co@example.org" in text


def test_doctype_is_kept_so_browsers_use_standards_mode(example: Prepared) -> None:
    assert example.rendered.html.lower().startswith("<!doctype html>")


def test_media_queries_keep_important(example: Prepared) -> None:
    html = example.rendered.html
    assert re.search(r"@media only screen and \(min-width:480px\) \{ \.mj-column-per-100 "
                     r"\{ width:100% !important;", html)
    assert "font-size: 24px !important" in html


def test_outlook_conditional_comments_are_kept(example: Prepared) -> None:
    assert "<!--[if mso | IE]>" in example.rendered.html
    assert "<!--[if mso]>" in example.rendered.html


def test_image_width_attribute_is_untouched(example: Prepared) -> None:
    doc = lxml.html.document_fromstring(example.rendered.html)
    logo = next(img for img in doc.iter("img") if "/media/" in img.get("src", ""))
    assert logo.get("width") == "220"


def test_css_is_inlined_only_where_the_theme_asks(example: Prepared) -> None:
    doc = lxml.html.document_fromstring(example.rendered.html)
    h1 = doc.find(".//h1")
    assert "font-size:30px" in h1.get("style").replace(" ", "")
    # MJML's own resets stay in <style>, not copied onto every table cell.
    cells = doc.xpath("//td[@style]")
    assert not any("mso-table-lspace" in td.get("style") for td in cells)
    assert "data-premailer" not in example.rendered.html


def test_no_web_fonts_are_linked(example: Prepared) -> None:
    assert "fonts.googleapis.com" not in example.rendered.html
    assert "<link" not in example.rendered.html


def test_markdown_raw_html_is_escaped() -> None:
    from bulletin.markdown import to_html
    out = to_html('Hi <script>alert(1)</script> <img src=x onerror=alert(1)> '
                  '[x](javascript:alert(1))')
    assert "<script" not in out and "<img" not in out
    assert 'href="javascript' not in out
    assert "&lt;script&gt;" in out


def test_inlining_fetches_nothing_from_the_network() -> None:
    with css_server() as (url, fetched):
        page = compile_mjml(f"""<mjml><mj-head><mj-style>@import url({url}/head.css);</mj-style>
            </mj-head><mj-body><mj-section><mj-column><mj-text>Hi</mj-text></mj-column>
            </mj-section></mj-body></mjml>""")
        page = page.replace("</head>", f'<link rel="stylesheet" href="{url}/link.css"></head>')
        inline_css(page, "p { margin: 0 }")
        with pytest.raises(RenderError, match="@import is not allowed"):
            inline_css(page, f"@import url({url}/inline.css);\np {{ margin: 0 }}")
    assert fetched == []


def test_placeholders_survive_every_stage() -> None:
    source = f"""<mjml><mj-body><mj-section><mj-column>
        <mj-text css-class="x"><p><a href="{ph.UNSUBSCRIBE_URL}">u</a> {ph.EMAIL}</p></mj-text>
        <mj-button href="{ph.PREFERENCES_URL}">p</mj-button>
        </mj-column></mj-section></mj-body></mjml>"""
    out = inline_css(compile_mjml(source), ".x a { color: #000 } .x p { margin: 0 }")
    assert f'href="{ph.UNSUBSCRIBE_URL}"' in out
    assert f'href="{ph.PREFERENCES_URL}"' in out
    assert ph.EMAIL in out
