"""The subscriber pages of a bilingual newsletter in Chromium: every page has a working
language switcher and `hreflang` alternate links, and the chosen language is kept from page
to page (by the links, with no cookie)."""

from __future__ import annotations

from typing import Any

import pytest

from bulletin.workflow import prepare_editions
from tests.conftest import ROOT
from tests.web_helpers import Web, publish

pytest_plugins = ["tests.web_fixtures"]
pytestmark = pytest.mark.slow  # Chromium and the running service

SLUG = "cohes3ion-bilingual"


def open_page(browser: Any, web: Web, url: str) -> Any:
    page = browser.new_page(viewport={"width": 1024, "height": 900})
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
        web.url) else route.abort())
    page.goto(url)
    return page


def lang(page: Any) -> str:
    return str(page.evaluate("document.documentElement.lang"))


def test_every_page_has_a_working_switcher_and_hreflang_links(web: Web, browser: Any) -> None:
    ann = web.add("ann@example.org", SLUG, language="cy")
    publish(prepare_editions(ROOT / "issues" / "cohes3ion-04-bilingual.yaml",
                             web.root / "bulletin.toml", delivery="each"), web.store)
    pages = {"subscribe": f"{web.url}/subscribe/{SLUG}", "archive": f"{web.url}/archive/{SLUG}",
             "issue": f"{web.url}/archive/{SLUG}/cohes3ion-04-bilingual",
             "preferences": web.url + web.preferences_url(ann).removeprefix(web.url),
             "unsubscribe": web.url + web.unsubscribe_url(ann).removeprefix(web.url)}
    for name, url in pages.items():
        page = open_page(browser, web, url)
        try:
            assert lang(page) == "cy", name
            alternates = page.eval_on_selector_all(
                'head link[rel="alternate"][hreflang]',
                "links => links.map(l => [l.hreflang, new URL(l.href).searchParams.get('lang')])")
            assert alternates == [["cy", "cy"], ["en", "en"]], name
            switch = page.locator('nav.languages a[hreflang="en"]')
            assert switch.get_attribute("lang") == "en"
            switch.click()
            page.wait_for_function("document.documentElement.lang === 'en'")
            assert page.locator('nav.languages [aria-current="true"]').inner_text() == "English"
            page.locator('nav.languages a[hreflang="cy"]').click()
            page.wait_for_function("document.documentElement.lang === 'cy'")
        finally:
            page.close()


def test_the_chosen_language_is_kept_across_pages(web: Web, browser: Any) -> None:
    publish(prepare_editions(ROOT / "issues" / "cohes3ion-04-bilingual.yaml",
                             web.root / "bulletin.toml"), web.store)
    page = open_page(browser, web, f"{web.url}/subscribe/{SLUG}")
    try:
        page.locator('nav.languages a[hreflang="en"]').click()
        page.wait_for_function("document.documentElement.lang === 'en'")
        page.get_by_role("link", name="Read past issues").click()
        page.wait_for_url(f"**/archive/{SLUG}?lang=en")
        assert lang(page) == "en"
        page.get_by_role("link", name="Subscribe to Cohes3ion Newsletter").click()
        page.wait_for_url(f"**/subscribe/{SLUG}?lang=en")
        assert lang(page) == "en"
        assert page.context.cookies() == []
    finally:
        page.close()
