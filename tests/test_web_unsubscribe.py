"""Unsubscribing against the real service under uvicorn: the one-click POST of RFC 8058, the
page that never unsubscribes by itself, its button (in Chromium), CSRF, and tokens that are
bad in every way getting a 400 page, never a 500."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.waiting import SAFETY
from tests.web_helpers import Web, csrf_of

pytest_plugins = ["tests.web_fixtures"]

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def test_one_click_unsubscribes_at_once_without_a_cookie(web: Web) -> None:
    ann = web.add("ann@example.org")
    response = web.http.post(web.unsubscribe_url(ann), data=ONE_CLICK)
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    assert len(response.content) < 100  # no page to read
    info = web.store.subscriber(ann)
    assert info.status == "unsubscribed"
    last = web.store.audit(ann)[-1]
    assert (last.action, last.source, last.new_status) == ("unsubscribe", "one-click",
                                                           "unsubscribed")
    # A repeat (mailbox providers retry) is harmless: same answer, no second audit row.
    again = web.http.post(web.unsubscribe_url(ann), data=ONE_CLICK)
    assert again.status_code == 200 and again.content == response.content
    assert len(web.store.audit(ann)) == 2


def test_one_click_as_multipart_and_as_a_bare_body(web: Web) -> None:
    ann, bob = web.add("ann@example.org"), web.add("bob@example.org")
    response = web.http.post(web.unsubscribe_url(ann), files={
        "List-Unsubscribe": (None, "One-Click")})
    assert response.status_code == 200
    response = web.http.post(web.unsubscribe_url(bob), content=b"List-Unsubscribe=One-Click")
    assert response.status_code == 200
    assert web.store.subscriber(ann).status == web.store.subscriber(bob).status == \
        "unsubscribed"


def test_unknown_subscribers_get_the_same_harmless_answer(web: Web) -> None:
    ann = web.add("ann@example.org")
    web.http.post(web.unsubscribe_url(ann), data=ONE_CLICK)
    gone = web.http.post(web.unsubscribe_url(ann), data=ONE_CLICK)
    never = web.http.post(web.unsubscribe_url(99999), data=ONE_CLICK)
    test_email = web.http.post(web.unsubscribe_url("test"), data=ONE_CLICK)
    assert gone.status_code == never.status_code == test_email.status_code == 200
    assert gone.content == never.content == test_email.content
    page = web.http.get(web.unsubscribe_url(99999))
    assert page.status_code == 200 and "<button" in page.text


def test_showing_the_page_never_unsubscribes(web: Web) -> None:
    ann = web.add("ann@example.org")
    for _ in range(3):  # a link scanner, then the person, then again
        page = web.http.get(web.unsubscribe_url(ann))
        assert page.status_code == 200
        assert "set-cookie" not in page.headers
    assert web.store.subscriber(ann).status == "active"
    assert page.text.count("<button") == 1
    assert 'lang="en"' in page.text and "ann@example.org" not in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "same-origin"


def test_the_button_unsubscribes_with_the_page_as_source(web: Web) -> None:
    ann = web.add("ann@example.org")
    url = web.unsubscribe_url(ann)
    page = web.http.get(url)
    response = web.http.post(url, data={"csrf": csrf_of(page.text)})
    assert response.status_code == 200
    assert "You have unsubscribed" in response.text
    assert "/preferences/" in response.text  # the way back
    assert web.store.subscriber(ann).status == "unsubscribed"
    assert web.store.audit(ann)[-1].source == "page"


def test_a_form_without_a_valid_csrf_field_is_refused(web: Web) -> None:
    ann, bob = web.add("ann@example.org"), web.add("bob@example.org")
    url = web.unsubscribe_url(ann)
    bobs_field = csrf_of(web.http.get(web.unsubscribe_url(bob)).text)
    own_field = csrf_of(web.http.get(url).text)
    nonce, expires, mac = own_field.split(".")
    for form in ({}, {"csrf": ""}, {"csrf": "garbage"}, {"csrf": bobs_field},
                 {"csrf": f"{nonce}.{int(expires) + 1}.{mac}"},
                 {"csrf": f"{nonce}x.{expires}.{mac}"}):
        response = web.http.post(url, data=form)
        assert response.status_code == 403, form
        assert "This form has expired" in response.text
    response = web.http.post(url, data={"csrf": own_field},
                             headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert web.store.subscriber(ann).status == "active"


@pytest.mark.parametrize("method", ["get", "post"])
def test_bad_tokens_get_a_400_page(web: Web, method: str) -> None:
    ann = web.add("ann@example.org")
    good = web.token("unsubscribe", ann)
    forged = __import__("bulletin.links", fromlist=["sign"]).sign(
        "unsubscribe", str(ann), b"not-the-service-key-at-all")
    cases = {
        "tampered": good[:-2] + ("AA" if good[-2:] != "AA" else "BB"),
        "truncated": good[:-1],
        "forged": forged,
        "wrong purpose": web.token("preferences", ann),
        "malformed": "not-a-token",
        "expired": web.token("unsubscribe", ann, expires=int(time.time()) - 10),
        "long": "A" * 5000,
        "unicode": "tokén.é",
    }
    for what, token in cases.items():
        call = getattr(web.http, method)
        kwargs: dict[str, Any] = {"data": ONE_CLICK} if method == "post" else {}
        response = call(f"/unsubscribe/{token}", **kwargs)
        assert response.status_code == 400, what
        assert "text/html" in response.headers["content-type"]
        assert "Traceback" not in response.text
        assert "does not work" in response.text or "expired" in response.text
    assert web.store.subscriber(ann).status == "active"


@pytest.mark.slow
def test_the_button_in_chromium_by_keyboard_and_on_a_phone(web: Web, browser: Any) -> None:
    ann = web.add("ann@example.org")
    page = browser.new_page(viewport={"width": 375, "height": 700})
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
        web.url) else route.abort())
    try:
        page.goto(web.unsubscribe_url(ann))
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        assert web.store.subscriber(ann).status == "active"
        button = page.get_by_role("button", name="Unsubscribe")
        for _ in range(10):  # Tab until the button has the focus, as a keyboard user would
            page.keyboard.press("Tab")
            if button.evaluate("b => b === document.activeElement"):
                break
        else:
            pytest.fail("the button cannot be reached with the keyboard")
        page.keyboard.press("Enter")
        page.get_by_role("heading", name="You have unsubscribed").wait_for()
        assert web.store.subscriber(ann).status == "unsubscribed"
        assert page.context.cookies() == []
    finally:
        page.close()


@pytest.mark.slow
def test_one_click_bursts_are_each_done_once(web: Web) -> None:
    """Many one-click POSTs at once (mailbox providers after a send), some repeated: all
    answered 200 only when done, each subscriber unsubscribed once, audited once."""
    ids = [web.add(f"reader{n}@example.org") for n in range(40)]
    urls = [web.unsubscribe_url(i) for i in ids] + [web.unsubscribe_url(i) for i in ids[:10]]
    with ThreadPoolExecutor(max_workers=len(urls)) as pool:
        answers = list(pool.map(lambda url: httpx.post(url, data=ONE_CLICK, timeout=SAFETY), urls))
    assert [answer.status_code for answer in answers] == [200] * len(urls)
    for subscriber in ids:
        assert web.store.subscriber(subscriber).status == "unsubscribed"
        assert [a.source for a in web.store.audit(subscriber)] == ["test", "one-click"]
