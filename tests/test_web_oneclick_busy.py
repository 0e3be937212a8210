"""A one-click never waits on the rest of the service, and nothing that goes wrong while it
is committed loses it or answers 500: the real service under uvicorn on a real SQLite file.

Requests that need the write lock while another process holds it each keep one of the
store's pooled connections while they wait (up to the busy timeout); enough of them took
every connection, and a one-click then waited for a connection (not for the lock) until the
pool gave up: 500 after 30 s, and the journal line it had written was erased by the next
one-click's commit, so the unsubscribe was lost."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx
import pytest
import sqlalchemy.exc
from sqlalchemy import Connection

from bulletin.store.subscriptions import Subscriptions
from tests.test_web_oneclick import ONE_CLICK, WriteLock
from tests.waiting import SAFETY, wait_for
from tests.web_helpers import Web

pytestmark = pytest.mark.slow  # the real service and real SQLite locks

pytest_plugins = ["tests.web_fixtures"]


@contextmanager
def every_pooled_connection_taken(web: Web) -> Iterator[list[Connection]]:
    """Take every connection the store's pool will give, as requests waiting for the write
    lock do."""
    pool = web.store.engine.pool
    capacity = pool.size() + pool._max_overflow  # type: ignore[attr-defined]
    with ExitStack() as held:
        taken = [held.enter_context(web.store.engine.connect())
                 for _ in range(capacity - pool.checkedout())]
        assert pool.checkedout() == capacity
        yield taken


def test_a_one_click_is_answered_and_kept_while_every_pooled_connection_is_taken(
        web: Web) -> None:
    ann, bob = web.add("ann@example.org"), web.add("bob@example.org")
    lock = WriteLock(web.root / "bulletin.db")
    try:
        with every_pooled_connection_taken(web):
            answer = httpx.post(web.unsubscribe_url(ann), data=ONE_CLICK, timeout=SAFETY)
            assert answer.status_code == 200, answer.text[:200]
            assert web.app.state.service.one_click.is_owed(ann)
    finally:
        lock.release()
    wait_for(lambda: web.store.subscriber(ann).status == "unsubscribed",
             "the one-click to be applied once the lock was free")
    assert httpx.post(web.unsubscribe_url(bob), data=ONE_CLICK,
                      timeout=SAFETY).status_code == 200
    assert web.store.subscriber(bob).status == "unsubscribed"


def test_a_one_click_whose_commit_fails_unexpectedly_is_kept_and_applied_later(
        web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the commit raises (here the pool's TimeoutError, no StoreError), the
    unsubscribe stays journaled and owed, and a later one-click's commit does not erase it."""
    ann, bob = web.add("ann@example.org"), web.add("bob@example.org")
    failing = True
    real = Subscriptions.unsubscribe_many

    def flaky(self: Subscriptions, *args: object, **kwargs: object) -> int:
        if failing:
            raise sqlalchemy.exc.TimeoutError("QueuePool limit reached")
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Subscriptions, "unsubscribe_many", flaky)
    monkeypatch.setattr(web.store, "unsubscribe_many",  # bound when the store was made
                        lambda *args, **kwargs: flaky(web.store.subscriptions, *args, **kwargs))
    answer = web.http.post(web.unsubscribe_url(ann), data=ONE_CLICK)
    assert answer.status_code == 200, answer.text[:200]
    assert web.store.subscriber(ann).status == "active"
    failing = False
    assert web.http.post(web.unsubscribe_url(bob), data=ONE_CLICK).status_code == 200
    # bob's may come while ann's is still being caught up: then it is journaled and owed
    # too, and applied in the catch-up's next round, after ann's
    wait_for(lambda: web.store.subscriber(ann).status == "unsubscribed",
             "the kept one-click to be applied")
    wait_for(lambda: web.store.subscriber(bob).status == "unsubscribed",
             "the later one-click to be applied")


def test_a_page_that_cannot_get_a_pooled_connection_answers_503(
        web: Web, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The pool giving up (every connection waiting for the lock) is the database being
    busy: 503 with Retry-After, as for the lock itself, never 500."""
    ann = web.add("ann@example.org")

    def busy(*args: object, **kwargs: object) -> None:
        raise sqlalchemy.exc.TimeoutError("QueuePool limit of size 1 overflow 4 reached")

    monkeypatch.setattr(web.store, "subscriber", busy)
    with caplog.at_level(logging.ERROR, logger="bulletin.web"):
        page = web.http.get(web.preferences_url(ann))
    assert page.status_code == 503 and page.headers["retry-after"] == "60"
    assert "Traceback" not in caplog.text
    monkeypatch.setattr(web.store, "subscribe", busy)
    api = web.http.post("/api/subscribe/cohes3ion", json={"email": "new@example.org"})
    assert api.status_code == 503 and api.headers["retry-after"] == "60", api.text
