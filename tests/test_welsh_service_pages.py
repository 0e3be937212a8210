"""The pages that belong to no newsletter (the home page, a page not found, a link that does
not work) offer every language of the service, with a switcher and `hreflang` links, and open
in the language asked for: a workspace whose first newsletter is in English only still has a
Welsh newsletter, and Welsh is no less favourably treated there (plain HTTP; the Chromium
tests of the switcher are in test_welsh_web.py)."""

from __future__ import annotations

import re

import pytest

from tests.web_helpers import Web

pytest_plugins = ["tests.web_fixtures"]


def seen(html: str) -> tuple[str, list[str], list[str]]:
    """The page's language, its alternate links' languages, its switcher's languages."""
    lang = re.search(r'<html[^>]*\blang="([^"]+)"', html)
    nav = re.search(r'<nav class="languages".*?</nav>', html, re.S)
    return (lang[1] if lang else "", re.findall(r'<link rel="alternate" hreflang="([^"]+)"',
                                                html),
            re.findall(r'hreflang="([^"]+)"|aria-current="true"[^>]*>', nav[0]) if nav else [])


@pytest.mark.parametrize("path", ["/", "/nothing-here", "/unsubscribe/not-a-token",
                                  "/confirm/not-a-token"])
def test_a_page_of_no_newsletter_offers_every_language(web: Web, path: str) -> None:
    page = web.http.get(path)
    lang, alternates, switcher = seen(page.text)
    assert lang == "en" and sorted(alternates) == ["cy", "en"], (lang, alternates)
    assert "cy" in switcher, page.text
    welsh = web.http.get(f"{path}?lang=cy")
    lang, alternates, _ = seen(welsh.text)
    assert welsh.status_code == page.status_code
    assert lang == "cy" and sorted(alternates) == ["cy", "en"], (lang, alternates)


def test_the_home_and_unsubscribe_pages_links_keep_the_chosen_language(web: Web) -> None:
    home = web.http.get("/?lang=cy").text
    assert 'href="subscribe/cohes3ion-bilingual?lang=cy"' in home, home
    assert 'href="archive/cohes3ion-bilingual?lang=cy"' in home, home
    ann = web.add("ann@example.org", "cohes3ion-bilingual", language="cy")
    page = web.http.get(web.unsubscribe_url(ann).removeprefix(web.url) + "?lang=en").text
    preferences = re.search(r'href="([^"]*preferences/[^"]*)"', page)
    assert preferences and preferences[1].endswith("?lang=en"), page
    chosen = web.http.get("/preferences/" + preferences[1].split("preferences/")[1]).text
    assert '<html lang="en"' in chosen  # not the subscriber's recorded Welsh
