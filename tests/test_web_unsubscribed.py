"""After unsubscribing, the unsubscribe link's page says so plainly: that they are
unsubscribed, from what (the newsletter and the topics they were getting), and the way back
(the preferences page, which offers "Subscribe again"); it never shows the button again."""

from __future__ import annotations

import re

from tests.web_helpers import Web, csrf_of

pytest_plugins = ["tests.web_fixtures"]


def main_text(html: str) -> str:
    main = html[html.index("<main"):html.index("</main>")]
    return " ".join(re.sub(r"<[^>]+>", " ", main).split())


def test_after_the_button_the_page_says_unsubscribed_from_what_and_the_way_back(
        web: Web) -> None:
    web.store.create_list("cohes3ion-events", newsletter="cohes3ion", title="Events")
    ann = web.add("ann@example.org")
    web.store.subscribe("ann@example.org", "cohes3ion-events", source="test")
    url = web.unsubscribe_url(ann)
    done = web.http.post(url, data={"csrf": csrf_of(web.http.get(url).text)})
    assert done.status_code == 200
    for page in (done, web.http.get(url)):  # and whenever the link is opened again
        text = main_text(page.text)
        assert "You are unsubscribed" in text
        assert "You no longer get: Cohes3ion Newsletter Events" in text
        assert "<button" not in page.text
        back = re.search(r'<a href="\.\./preferences/([^"]+)">Changed your mind', page.text)
        assert back, text
    preferences = web.http.get(f"/preferences/{back[1]}")
    assert "Subscribe again" in preferences.text


def test_before_the_button_the_page_still_offers_it(web: Web) -> None:
    ann = web.add("ann@example.org")
    page = web.http.get(web.unsubscribe_url(ann))
    assert page.text.count("<button") == 1
    assert "You are unsubscribed" not in page.text


def test_in_welsh(web: Web) -> None:
    ann = web.add("ann@example.org", "cohes3ion-bilingual")
    url = web.unsubscribe_url(ann) + "?lang=cy"
    web.http.post(url, data={"csrf": csrf_of(web.http.get(url).text)})
    page = web.http.get(url)
    assert 'lang="cy"' in page.text
    assert "You are unsubscribed" not in page.text and "You no longer get" not in page.text
    assert "Rydych wedi dad-danysgrifio." in main_text(page.text)
