"""Double opt-in through a real SMTP server (aiosmtpd): the form (and the JSON endpoint)
records a pending subscriber and emails a link; the link's page has one button; only that
makes the subscription active. The answer never tells whether an address is known."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from bulletin.web.service.confirmations import confirm_subject
from tests.smtp_server import SmtpServer
from tests.web_helpers import Web, csrf_of, start_web

pytest_plugins = ["tests.web_fixtures"]


def ask(web: Web, address: str, newsletter: str = "cohes3ion", **extra: str) -> tuple[int, str]:
    """Fill in and send the subscribe form as a browser would; (status, the answer's main)."""
    form_page = web.http.get(f"/subscribe/{newsletter}")
    response = web.http.post(f"/subscribe/{newsletter}",
                             data={"email": address, "csrf": csrf_of(form_page.text), **extra})
    main = re.search(r"<main.*</main>", response.text, re.S)
    assert main, response.text
    return response.status_code, main[0]


def link_in(message: EmailMessage) -> str:
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    match = re.search(r"(http://127\.0\.0\.1:\d+/confirm/[A-Za-z0-9_.-]+)", text)
    assert match, text
    return match[1]


def test_double_opt_in_through_smtp(web: Web) -> None:
    status, answer = ask(web, "New.Reader@Example.org", name="New Reader")
    assert status == 200 and "Check your email" in answer
    info = web.store.subscriber("new.reader@example.org")
    assert info.status == "pending" and info.name == "New Reader"
    assert [m.email for m in web.store.iter_active_members("cohes3ion")] == []

    [message] = web.received(1)
    [received] = web.smtp.received
    assert received.rcpt_tos == ["New.Reader@example.org"]
    assert received.mail_from == "cohes3ion@example.gov.wales"
    assert message["From"] == "Welsh Government <cohes3ion@example.gov.wales>"
    assert message["Subject"] == "Confirm your subscription to Cohes3ion Newsletter"
    assert message["Auto-Submitted"] == "auto-generated"
    link = link_in(message)
    assert "@" not in link and "example.org" not in link.lower()

    # Following the link shows a page; a scanner doing so subscribes nobody.
    page = web.http.get(link)
    assert page.status_code == 200 and page.text.count("<button") == 1
    assert web.store.subscriber(info.id).status == "pending"
    done = web.http.post(link, data={"csrf": csrf_of(page.text)})
    assert done.status_code == 200 and "You are subscribed" in done.text
    assert "/preferences/" in done.text
    info = web.store.subscriber(info.id)
    assert info.status == "active" and info.lists == ("cohes3ion",)
    assert info.consent_source == "confirm-link"
    assert [(a.action, a.source) for a in web.store.audit(info.id)] == [
        ("subscribe", "page"), ("confirm", "confirm-link")]
    assert [m.email for m in web.store.iter_active_members("cohes3ion")] == [
        "New.Reader@example.org"]
    # again: harmless
    again = web.http.post(link, data={"csrf": csrf_of(page.text)})
    assert again.status_code == 200
    assert len(web.store.audit(info.id)) == 2


def test_the_json_endpoint(web: Web) -> None:
    response = web.http.post("/api/subscribe/cohes3ion-bilingual",
                             json={"email": "api@example.org", "language": "en"})
    assert response.status_code == 202
    assert response.json()["status"] == "accepted"
    info = web.store.subscriber("api@example.org")
    assert info.status == "pending" and info.language == "en"
    [message] = web.received(1)
    # A newsletter sent with both languages in one email confirms in both, the chosen first.
    assert message["Subject"] == ("Confirm your subscription to Cohes3ion Newsletter / "
                                  "Cadarnhewch eich tanysgrifiad i Cylchlythyr Cohes3ion")
    assert web.store.audit(info.id)[0].source == "api"
    for body, code in (({"email": "not an address"}, 400), ({"email": "a@b.org", "x": 1}, 422),
                       ({}, 422), ({"email": 5}, 422)):
        response = web.http.post("/api/subscribe/cohes3ion", json=body)
        assert response.status_code == code, body
        assert "error" in response.json()
    assert web.http.post("/api/subscribe/nope", json={"email": "a@b.org"}).status_code == 404


def test_the_answer_is_the_same_whatever_the_address(web: Web) -> None:
    web.add("active@example.org")
    web.add("left@example.org")
    web.store.unsubscribe("left@example.org", source="test")
    web.add("bounced@example.org")
    web.store.record_bounce("bounced@example.org", reply="550 no such user")
    web.store.suppress("suppressed@example.org", reason="complaint", source="test")
    web.store.subscribe("pending@example.org", "cohes3ion", source="test", status="pending")
    addresses = ["new@example.org", "active@example.org", "left@example.org",
                 "bounced@example.org", "suppressed@example.org", "pending@example.org",
                 "ACTIVE@example.org"]
    answers = {address: ask(web, address) for address in addresses}
    assert len(set(answers.values())) == 1, answers
    api = {address: web.http.post("/api/subscribe/cohes3ion", json={"email": address})
           for address in addresses}
    assert {(r.status_code, r.content) for r in api.values()} == {
        (202, api["new@example.org"].content)}
    web.drain()
    sent_to = sorted({r for message in web.smtp.received for r in message.rcpt_tos})
    # (ACTIVE@ is active@: the email goes to the address as the store has it)
    assert sent_to == ["active@example.org", "left@example.org", "new@example.org",
                       "pending@example.org"]
    # Nobody known was changed by someone else typing their address in.
    assert web.store.subscriber("left@example.org").status == "unsubscribed"
    assert web.store.subscriber("bounced@example.org").status == "bounced"
    assert web.store.subscriber("active@example.org").lists == ("cohes3ion",)


def test_confirming_brings_back_someone_who_had_left(web: Web) -> None:
    left = web.add("left@example.org")
    web.store.unsubscribe(left, source="test")
    ask(web, "left@example.org")
    [message] = web.received(1)
    link = link_in(message)
    web.http.post(link, data={"csrf": csrf_of(web.http.get(link).text)})
    assert web.store.subscriber(left).status == "active"
    assert web.store.audit(left)[-1].source == "confirm-link"


def test_a_bad_address_is_shown_again_with_what_to_do(web: Web) -> None:
    status, answer = ask(web, "not an address")
    assert status == 400
    assert "Enter an email address in the right format" in answer
    assert 'aria-invalid="true"' in answer and 'value="not an address"' in answer
    assert web.smtp.received == []


def test_a_confirm_link_that_expired_or_was_changed(web: Web) -> None:
    ann = web.add("ann@example.org", status="pending")
    expired = web.token("confirm", confirm_subject(ann, "cohes3ion", "en"),
                        expires=int(time.time()) - 1)
    response = web.http.get(f"/confirm/{expired}")
    assert response.status_code == 400 and "This link has expired" in response.text
    good = web.token("confirm", confirm_subject(ann, "cohes3ion", "en"),
                     expires=int(time.time()) + 3600)
    for token in (good[:-3] + "AAA", web.token("unsubscribe", ann),
                  web.token("confirm", "1:nope:en"), web.token("confirm", "x")):
        assert web.http.get(f"/confirm/{token}").status_code == 400
        assert web.http.post(f"/confirm/{token}").status_code == 400
    assert web.store.subscriber(ann).status == "pending"


def test_a_confirm_form_needs_its_csrf_field(web: Web) -> None:
    ann = web.add("ann@example.org", status="pending")
    token = web.token("confirm", confirm_subject(ann, "cohes3ion", "en"),
                      expires=int(time.time()) + 3600)
    assert web.http.post(f"/confirm/{token}").status_code == 403
    assert web.store.subscriber(ann).status == "pending"


def test_the_subscribe_form_needs_its_csrf_field(web: Web) -> None:
    response = web.http.post("/subscribe/cohes3ion", data={"email": "a@example.org"})
    assert response.status_code == 403
    other = csrf_of(web.http.get("/subscribe/cohes3ion-bilingual").text)
    response = web.http.post("/subscribe/cohes3ion", data={"email": "a@example.org",
                                                           "csrf": other})
    assert response.status_code == 403
    assert web.smtp.received == []


@pytest.fixture
def slow_web(workspace: Path, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
             ) -> Iterator[Web]:
    yield from start_web(workspace, smtp, monkeypatch)  # the default resend delay


def test_one_address_gets_one_confirmation_email_in_a_while(slow_web: Web) -> None:
    for _ in range(3):
        assert ask(slow_web, "ann@example.org")[0] == 200
    slow_web.drain()
    assert len(slow_web.smtp.received) == 1


def test_no_smtp_settings_means_subscribing_is_unavailable(workspace: Path, smtp: SmtpServer,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    from bulletin.web.service.routes.subscribe import ACCEPTED

    web_iter = start_web(workspace, smtp, monkeypatch)
    web = next(web_iter)
    try:
        web.app.state.service.confirmations.transport = None
        status, answer = ask(web, "ann@example.org")
        assert status == 503 and "Subscribing is not available at the moment" in answer
        response = web.http.post("/api/subscribe/cohes3ion", json={"email": "a@example.org"})
        assert response.status_code == 503
        assert ACCEPTED not in response.text
    finally:
        next(web_iter, None)


@pytest.mark.slow
def test_the_form_in_chromium_by_keyboard_on_a_phone(web: Web, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 375, "height": 700})
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
        web.url) else route.abort())
    try:
        page.goto(f"{web.url}/subscribe/cohes3ion")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        page.get_by_label("Email address").fill("typo-at-example.org")
        page.keyboard.press("Enter")
        page.get_by_role("alert").wait_for()
        assert page.get_by_label("Email address").get_attribute("aria-invalid") == "true"
        page.get_by_label("Email address").fill("phone.reader@example.org")
        page.get_by_label("Your name (optional)").fill("Phone Reader")
        page.keyboard.press("Tab")  # on to the button
        page.keyboard.press("Enter")
        page.get_by_role("heading", name="Check your email").wait_for()
        assert page.context.cookies() == []
    finally:
        page.close()
    assert web.store.subscriber("phone.reader@example.org").status == "pending"
    assert len(web.received(1)) == 1
