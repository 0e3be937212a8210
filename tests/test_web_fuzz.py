"""Property and fuzz tests of the web layer: CSRF fields and confirm tokens round trip and
refuse any change; any change to a link's token gets a 400 page from the running service;
and schemathesis, generating requests from the app's OpenAPI schema, finds no 5xx."""

from __future__ import annotations

import time
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulletin.errors import TokenError
from bulletin.store import NotSubscribedError
from bulletin.web import csrf
from bulletin.web.confirmations import confirm_subject, parse_confirm_subject
from tests.web_helpers import Web, csrf_of

pytest_plugins = ["tests.web_fixtures"]

KEY = b"k" * 32
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=/+ %"
pages = st.text(min_size=1, max_size=80)
SLOW = settings(max_examples=50, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@given(pages, st.integers(0, 2**40))
def test_csrf_round_trip(page: str, now: int) -> None:
    field = csrf.issue(KEY, page, now)
    assert csrf.valid(KEY, page, field, now)
    assert csrf.valid(KEY, page, field, now + csrf.MAX_AGE)
    assert not csrf.valid(KEY, page, field, now + csrf.MAX_AGE + 1)


@given(pages, st.data())
def test_csrf_any_change_is_refused(page: str, data: st.DataObject) -> None:
    field = csrf.issue(KEY, page, 1000)
    index = data.draw(st.integers(0, len(field) - 1))
    changed = field[:index] + data.draw(st.sampled_from(ALPHABET)) + field[index + 1:]
    if changed != field:
        assert not csrf.valid(KEY, page, changed, 1000)
    other = data.draw(pages)
    if other != page:
        assert not csrf.valid(KEY, other, field, 1000)
    assert not csrf.valid(b"x" * 32, page, field, 1000)


@given(st.one_of(st.none(), st.integers(), st.text(max_size=300), st.binary(max_size=50)))
def test_csrf_garbage_is_refused_cleanly(value: Any) -> None:
    assert not csrf.valid(KEY, "page", value, 1000)


@given(st.integers(0, 2**62), st.from_regex(r"[a-z0-9][a-z0-9-]{0,30}", fullmatch=True),
       st.from_regex(r"[a-z]{2,3}", fullmatch=True))
def test_confirm_subject_round_trip(subscriber: int, newsletter: str, language: str) -> None:
    subject = confirm_subject(subscriber, newsletter, language)
    assert parse_confirm_subject(subject) == (subscriber, newsletter, language)


@given(st.text(max_size=40))
def test_confirm_subject_garbage(text: str) -> None:
    try:
        subscriber, _, _ = parse_confirm_subject(text)
    except TokenError:
        return
    assert subscriber >= 0


@SLOW
@given(data=st.data())
def test_any_change_to_a_link_gets_a_400_page(web: Web, data: st.DataObject) -> None:
    ann = ann_of(web)
    purpose = data.draw(st.sampled_from(["unsubscribe", "preferences"]))
    token = web.token(purpose, ann)
    index = data.draw(st.integers(0, len(token) - 1))
    changed = token[:index] + data.draw(st.sampled_from(ALPHABET)) + token[index + 1:]
    if changed == token:
        return
    response = web.http.get(f"/{purpose}/{changed}")
    # a change can turn the path into another route (a slash), which is then not found
    assert response.status_code in (400, 404), changed
    assert "Traceback" not in response.text
    assert web.store.subscriber(ann).status == "active"


def ann_of(web: Web) -> int:
    """Ann's id (hypothesis calls the test many times with one `web`)."""
    try:
        return web.store.subscriber("ann@example.org").id
    except NotSubscribedError:
        return web.add("ann@example.org")


form_fields = st.dictionaries(
    st.sampled_from(["action", "list", "language", "months", "List-Unsubscribe", "email",
                     "name", "csrf", "x"]),
    st.lists(st.text(max_size=30), min_size=1, max_size=3), max_size=6)


@SLOW
@given(form=form_fields, keep_csrf=st.booleans(),
       where=st.sampled_from(["unsubscribe", "preferences", "subscribe", "confirm"]))
def test_any_form_with_a_good_token_gets_no_5xx(web: Web, form: dict[str, list[str]],
                                                keep_csrf: bool, where: str) -> None:
    ann = ann_of(web)
    if where == "subscribe":
        url = "/subscribe/cohes3ion"
    elif where == "confirm":
        url = "/confirm/" + web.token("confirm", confirm_subject(ann, "cohes3ion", "en"),
                                      int(time.time()) + 60)
    else:
        url = f"/{where}/{web.token(where, ann)}"
    if keep_csrf:
        if where == "unsubscribe":  # once unsubscribed, the page has no form: come back
            web.store.subscribe("ann@example.org", "cohes3ion", source="test",
                                resubscribe=True)
        form = {**form, "csrf": [csrf_of(web.http.get(url).text)]}
    response = web.http.post(url, data=form)  # type: ignore[arg-type]
    assert response.status_code < 500, (url, form, response.text[:300])
    assert "Traceback" not in response.text


@pytest.fixture
def api_schema(web: Web) -> Any:
    return schemathesis.openapi.from_url(f"{web.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_schemathesis_finds_no_server_errors(case: Any) -> None:
    response = case.call(timeout=10)
    assert response.status_code < 500, (case.method, case.path, response.status_code,
                                        response.text[:300])
    assert "Traceback" not in response.text
