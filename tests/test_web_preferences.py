"""The manage-preferences page, driven in Debian's Chromium through Playwright against the
real service: choose topics and language, pause, resume, leave, come back; every change in
the store's audit trail as "page". And its forms refuse cross-site requests."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bulletin.web.service import csrf
from tests.web_helpers import KEY, Web, csrf_of

pytest_plugins = ["tests.web_fixtures"]


def open_page(browser: Any, web: Web, url: str, width: int = 1024) -> Any:
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
        web.url) else route.abort())
    page.goto(url)
    return page


def status(page: Any) -> str:
    return page.get_by_role("status").inner_text()


@pytest.mark.slow
def test_preferences_round_trip_in_chromium(web: Web, browser: Any) -> None:
    web.store.create_list("cohes3ion-events", newsletter="cohes3ion",
                          title="Events and workshops")
    ann = web.add("ann.smith@example.org", language="en")
    web.add("ann.smith@example.org", "cohes3ion-bilingual")
    page = open_page(browser, web, web.preferences_url(ann))
    try:
        assert page.locator("html").get_attribute("lang") == "en"
        assert "a•••@example.org" in page.inner_text("main")
        assert "ann.smith" not in page.content()
        assert page.get_by_label("Cohes3ion Newsletter (cohes3ion)", exact=True).is_checked()
        assert not page.get_by_label("Events and workshops").is_checked()

        # Topics and language
        page.get_by_label("Events and workshops").check()
        page.locator("#list-cohes3ion-bilingual").uncheck()
        page.get_by_label("Cymraeg").check()
        page.get_by_role("button", name="Save my choices").click()
        page.wait_for_url("**done=saved**")
        assert "Your choices are saved." in status(page)
        assert web.store.memberships(ann) == {"cohes3ion": "active",
                                              "cohes3ion-events": "active",
                                              "cohes3ion-bilingual": "unsubscribed"}
        assert web.store.subscriber(ann).language == "cy"
        assert page.get_by_label("Cymraeg").is_checked()
        assert page.get_by_label("Events and workshops").is_checked()

        # Pause for three months
        page.get_by_label("Pause all emails for").select_option("3")
        page.get_by_role("button", name="Pause emails").click()
        page.wait_for_url("**done=paused**")
        until = web.store.paused_until(ann)
        assert until is not None
        assert abs(until - (datetime.now(UTC) + timedelta(days=90))) < timedelta(minutes=5)
        assert list(web.store.iter_active_members("cohes3ion")) == []
        assert "Your emails are paused until" in page.inner_text("main")

        # Resume now
        page.get_by_role("button", name="Start my emails again now").click()
        page.wait_for_url("**done=resumed**")
        assert web.store.paused_until(ann) is None
        assert web.store.subscriber(ann).lists == ("cohes3ion", "cohes3ion-events")

        # Leave, then come back
        page.get_by_role("button", name="Unsubscribe from everything").click()
        page.wait_for_url("**done=left**")
        assert web.store.subscriber(ann).status == "unsubscribed"
        assert "You have unsubscribed: we send you no emails." in page.inner_text("main")
        page.get_by_role("button", name="Subscribe again").click()
        page.wait_for_url("**done=resubscribed**")
        assert "Welcome back" in status(page)
        info = web.store.subscriber(ann)
        assert info.status == "active" and info.lists == ("cohes3ion", "cohes3ion-events")
        assert page.context.cookies() == []
    finally:
        page.close()
    trail = [(a.action, a.list_name, a.source) for a in web.store.audit(ann)][2:]
    assert trail == [
        ("join", "cohes3ion-events", "page"), ("leave", "cohes3ion-bilingual", "page"),
        ("language", None, "page"),
        ("pause", "cohes3ion", "page"), ("pause", "cohes3ion-events", "page"),
        ("resume", "cohes3ion", "page"), ("resume", "cohes3ion-events", "page"),
        ("unsubscribe", None, "page"), ("resubscribe", None, "page")]


@pytest.mark.slow
def test_the_page_fits_a_phone_and_every_control_has_a_label(web: Web, browser: Any) -> None:
    web.store.create_list("cohes3ion-events", newsletter="cohes3ion", title="Events")
    ann = web.add("ann@example.org")
    page = open_page(browser, web, web.preferences_url(ann), width=375)
    try:
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        unlabelled = page.evaluate("""() => [...document.querySelectorAll(
            'input:not([type=hidden]), select')].filter(e => !e.labels || !e.labels.length)
            .map(e => e.outerHTML)""")
        assert unlabelled == []
        assert page.locator("main h1").count() == 1
    finally:
        page.close()


def test_forms_without_a_valid_csrf_field_change_nothing(web: Web) -> None:
    ann, bob = web.add("ann@example.org"), web.add("bob@example.org")
    url = web.preferences_url(ann)
    bobs = csrf_of(web.http.get(web.preferences_url(bob)).text)
    for form in ({"action": "leave"}, {"action": "leave", "csrf": bobs},
                 {"action": "leave", "csrf": "x.1.y"}):
        response = web.http.post(url, data=form)
        assert response.status_code == 403
        assert "This form has expired" in response.text
    assert web.store.subscriber(ann).status == "active"
    # an unsubscribe token's page field is no good here either
    unsubscribe_field = csrf_of(web.http.get(web.unsubscribe_url(ann)).text)
    response = web.http.post(url, data={"action": "leave", "csrf": unsubscribe_field})
    assert response.status_code == 403


def test_an_unsubscribe_token_cannot_change_preferences(web: Web) -> None:
    ann = web.add("ann@example.org")
    response = web.http.get(f"/preferences/{web.token('unsubscribe', ann)}")
    assert response.status_code == 400
    assert "This link does not work" in response.text


def test_forms_this_page_never_makes_are_a_400(web: Web) -> None:
    ann = web.add("ann@example.org")
    url = web.preferences_url(ann)
    field = csrf_of(web.http.get(url).text)
    for form in ({"action": "explode"}, {"action": "pause", "months": "5"},
                 {"action": "save", "language": "fr"}, {}):
        response = web.http.post(url, data={**form, "csrf": field})
        assert response.status_code == 400, form
        assert "Something is wrong with this request" in response.text
    assert web.store.subscriber(ann).status == "active"


def test_a_suppressed_address_has_nothing_to_change(web: Web) -> None:
    ann = web.add("ann@example.org")
    web.store.suppress("ann@example.org", reason="hard bounce", source="test")
    url = web.preferences_url(ann)
    page = web.http.get(url)
    assert "We can no longer send email to this address" in page.text
    assert "Subscribe again" not in page.text
    assert "csrf" not in page.text  # no forms at all
    field = csrf.issue(KEY.encode(), url.rsplit("/", 1)[1], int(time.time()))
    response = web.http.post(url, data={"action": "resubscribe", "csrf": field})
    assert response.status_code == 303 and "done=blocked" in response.headers["location"]
    assert web.store.subscriber(ann).status == "active"  # and still suppressed


@pytest.mark.parametrize("subject", ["99999", "test", "sample"])
def test_no_such_subscriber_is_a_clear_page(web: Web, subject: str) -> None:
    response = web.http.get(web.preferences_url(subject))
    assert response.status_code == 404
    assert "We have no subscription for this link" in response.text


def test_redirect_after_a_change_keeps_the_token_and_no_address(web: Web) -> None:
    ann = web.add("ann@example.org")
    url = web.preferences_url(ann)
    field = csrf_of(web.http.get(url).text)
    response = web.http.post(url, data={"action": "save", "list": "cohes3ion", "csrf": field})
    assert response.status_code == 303
    location = response.headers["location"]
    assert location == url.rsplit("/", 1)[1] + "?done=saved"
    assert "@" not in location and "set-cookie" not in response.headers
