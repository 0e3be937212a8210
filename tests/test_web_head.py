"""HEAD on every page the service shows: the same status and headers as GET, and no body
(RFC 9110 9.3.2). Link checkers and some mail scanners ask HEAD before, or instead of, GET."""

from __future__ import annotations

import shutil

import httpx
import pytest
from starlette.routing import Match, Route

from bulletin.web.service.confirmations import confirm_subject
from bulletin.workflow import prepare_editions
from tests.conftest import ROOT
from tests.web_helpers import Web, publish

pytest_plugins = ["tests.web_fixtures"]

VARYING = {"date", "content-length", "x-csrf"}
MEDIA = "8f712306cac6a0c2e2ad.png"


def paths(web: Web) -> list[str]:
    ann = web.add("ann@example.org")
    pending = web.add("pat@example.org", status="pending")
    issue = web.root / "issues" / "cohes3ion-04.yaml"
    shutil.copy(ROOT / "issues" / "cohes3ion-04.yaml", issue)
    publish(prepare_editions(issue), web.store)
    web.store.media.put([(MEDIA, b"\x89PNG\r\n\x1a\n", "image/png")])
    return ["/", "/health", web.unsubscribe_url(ann), web.preferences_url(ann),
            "/subscribe/cohes3ion", "/subscribe/cohes3ion?lang=en",
            f"/confirm/{web.token('confirm', confirm_subject(pending, 'cohes3ion', 'en'))}",
            "/archive/cohes3ion", "/archive/cohes3ion/cohes3ion-04", f"/media/{MEDIA}",
            "/openapi.json",
            # and the answers that are not 200 alike
            "/archive/cohes3ion/nope", "/unsubscribe/forged.token", "/no-such-page",
            "/media/0000000000000000000f.png"]


def test_head_answers_like_get_without_a_body(web: Web) -> None:
    for path in paths(web):
        got = web.http.get(path)
        head = web.http.head(path)
        assert head.status_code == got.status_code, path
        assert head.content == b"", path
        # Pages carry a fresh CSRF field, so their length may differ by a byte or two; every
        # other header is the same.
        same = {k: v for k, v in got.headers.items() if k not in VARYING}
        assert {k: v for k, v in head.headers.items() if k not in VARYING} == same, path
        assert int(head.headers["content-length"]) == pytest.approx(len(got.content), abs=8)


def test_head_is_not_a_post(web: Web) -> None:
    """HEAD of a page that changes something on POST changes nothing."""
    ann = web.add("ann@example.org")
    assert web.http.head(web.unsubscribe_url(ann)).status_code == 200
    assert web.store.subscriber(ann).status == "active"
    assert web.http.head("/api/subscribe/cohes3ion").status_code == 405


def test_every_get_route_of_the_app_is_among_those_checked(web: Web) -> None:
    """The routes come from the app itself, so that a page added later is checked too."""
    checked = [httpx.URL(path).path for path in paths(web)]
    for route in web.app.routes:
        if isinstance(route, Route) and "GET" in (route.methods or ()):
            assert any(route.matches({"type": "http", "method": "GET", "path": path})[0]
                       is Match.FULL for path in checked), route.path
