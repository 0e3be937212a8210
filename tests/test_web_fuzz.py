"""Property and fuzz tests of the web layer: CSRF fields and confirm tokens round trip and
refuse any change; any change to a link's token gets a 400 page from the running service;
and schemathesis, generating requests from the app's OpenAPI schema, finds no 5xx.

Schemathesis is driven here as a library of Hypothesis strategies, in an ordinary test, not
through its pytest plugin's parametrising, which reaches into pytest's internals (it sets
`Function._nodeid`, which newer pytest no longer has)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from bulletin.errors import TokenError
from bulletin.store import NotSubscribedError
from bulletin.web.service import csrf
from bulletin.web.service.confirmations import confirm_subject, parse_confirm_subject
from tests.waiting import SAFETY
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
        parsed = parse_confirm_subject(text)
    except TokenError:
        return
    # Taken only if it is what confirm_subject writes (but for zeros before the number):
    # an ASCII number and two more parts, none holding a colon; and it reads back the same.
    subscriber, newsletter, language = parsed
    number, _, rest = text.partition(":")
    assert number.isascii() and number.isdigit() and int(number) == subscriber
    assert confirm_subject(*parsed) == f"{subscriber}:{rest}" == \
        f"{subscriber}:{newsletter}:{language}"
    assert parse_confirm_subject(confirm_subject(*parsed)) == parsed


@pytest.mark.slow
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


def test_a_link_changed_to_end_in_a_slash_is_not_redirected(web: Web) -> None:
    """Its last character made a slash: not found, not a redirect to yet another link."""
    token = web.token("unsubscribe", ann_of(web))
    response = web.http.get(f"/unsubscribe/{token[:-1]}/")
    assert response.status_code in (400, 404), response.status_code
    assert web.store.subscriber(ann_of(web)).status == "active"


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


@pytest.mark.slow
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
                                      int(time.time()) + 3600)
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


FUZZ = settings(max_examples=50, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@pytest.mark.slow
def test_schemathesis_finds_no_server_errors(web: Web) -> None:
    """Each operation in the running service's OpenAPI schema, with requests schemathesis
    makes from it, valid and not: never a 5xx, never a traceback."""
    schema = schemathesis.openapi.from_url(f"{web.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10, [operation.label for operation in operations]
    for operation in operations:
        cases = st.one_of(*(operation.as_strategy(generation_mode=mode)
                            for mode in GenerationMode))

        @FUZZ
        @given(case=cases)
        def no_server_errors(case: Any) -> None:
            response = case.call(timeout=SAFETY)
            assert response.status_code < 500, (case.method, case.path, response.status_code,
                                                response.text[:300])
            assert "Traceback" not in response.text

        try:
            no_server_errors()
        except BaseException as error:
            error.add_note(f"(schemathesis, {operation.label})")
            raise
