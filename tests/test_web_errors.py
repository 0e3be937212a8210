"""When something inside fails: a page that says so (500, or 503 when the database is
unavailable, worth a retry), never a traceback, and logs without the links' tokens."""

from __future__ import annotations

import logging

import pytest

from bulletin.store import StoreError
from bulletin.store.subscriptions import Subscriptions
from tests.waiting import wait_for
from tests.web_helpers import Web

pytest_plugins = ["tests.web_fixtures"]

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def test_a_bug_is_a_500_page_and_the_log_has_no_token(web: Web, caplog: pytest.LogCaptureFixture,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    ann = web.add("ann@example.org")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(web.store, "subscriber", broken)
    token = web.token("unsubscribe", ann)
    with caplog.at_level(logging.ERROR, logger="bulletin.web"):
        response = web.http.get(f"/unsubscribe/{token}")
    assert response.status_code == 500
    assert "Sorry, there is a problem with the service" in response.text
    assert "Traceback" not in response.text and "a bug" not in response.text
    assert "GET /unsubscribe/{token}" in caplog.text
    assert token not in caplog.text


def test_the_database_unavailable_is_a_503_to_retry(web: Web,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    ann = web.add("ann@example.org")

    def unavailable(*args: object, **kwargs: object) -> None:
        raise StoreError("cannot use the database: it is locked")

    monkeypatch.setattr(web.store, "subscriber", unavailable)
    monkeypatch.setattr(web.store, "ping", unavailable)
    response = web.http.get(web.preferences_url(ann))
    assert response.status_code == 503 and response.headers["retry-after"] == "60"
    assert "locked" not in response.text
    health = web.http.get("/health")
    assert health.status_code == 503 and health.json() == {"status": "unavailable"}
    monkeypatch.undo()
    assert web.http.get(web.preferences_url(ann)).status_code == 200
    assert web.http.head("/health").status_code == 200


def test_a_one_click_while_the_database_fails_is_kept_and_applied_later(
        web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mailbox providers rarely retry: a one-click is journaled and answered 200, not 503."""
    ann = web.add("ann@example.org")

    def unavailable(*args: object, **kwargs: object) -> None:
        raise StoreError("cannot use the database: it is locked")

    # On the class: the one-click commits through connections of its own.
    monkeypatch.setattr(Subscriptions, "unsubscribe_many", unavailable)
    assert web.http.post(web.unsubscribe_url(ann), data=ONE_CLICK).status_code == 200
    assert web.store.subscriber(ann).status == "active"
    monkeypatch.undo()
    wait_for(lambda: web.store.subscriber(ann).status == "unsubscribed",
             "the journaled one-click to be applied")


def test_unknown_pages_and_methods(web: Web) -> None:
    for method, path, status in (("GET", "/nowhere", 404), ("DELETE", "/health", 405),
                                 ("PUT", "/unsubscribe/x", 405), ("GET", "/subscribe/nope", 404),
                                 ("GET", "/api/subscribe/cohes3ion", 405)):
        response = web.http.request(method, path)
        assert response.status_code == status, path
        assert "Traceback" not in response.text
    assert web.http.get("/nowhere").headers["content-type"].startswith("text/html")
    assert web.http.get("/api/nowhere").json() == {"error": "Not Found"}


def test_a_huge_or_broken_form_is_refused(web: Web) -> None:
    ann = web.add("ann@example.org")
    url = web.unsubscribe_url(ann)
    for body, kind in ((b"x" * 100_000, "application/x-www-form-urlencoded"),
                       (b"\xff\xfe", "application/x-www-form-urlencoded"),
                       (b"--x\r\nbroken", "multipart/form-data; boundary=x"),
                       (b"&".join(b"f%d=1" % n for n in range(500)),
                        "application/x-www-form-urlencoded")):
        response = web.http.post(url, content=body, headers={"Content-Type": kind})
        # refused as malformed, or (what a lenient parser made of it) as lacking the field
        assert response.status_code in (400, 403), body[:20]
        assert "Traceback" not in response.text
    huge = web.http.post(url, content=b"List-Unsubscribe=One-Click&" + b"x" * 100_000)
    assert huge.status_code == 400  # read no further than 64 KB
    assert web.store.subscriber(ann).status == "active"
