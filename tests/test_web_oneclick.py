"""One-click unsubscribes are never lost, even while another process holds SQLite's write
lock (a long import, a `BEGIN IMMEDIATE` left open): they are journaled to a file beside the
database, answered 200, and applied as soon as the lock is free, or, if the service stops
first, when it starts again. Real SQLite files, a real second connection holding the lock,
the real service under uvicorn."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bulletin.store import Store
from bulletin.store.addresses import normalise
from bulletin.store.rows import Row
from bulletin.web.service.oneclick import Journal, OneClick
from tests.waiting import SAFETY, wait_for
from tests.web_helpers import Web, csrf_of

pytestmark = pytest.mark.slow  # the real service, real SQLite locks and imports

pytest_plugins = ["tests.web_fixtures"]

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


class WriteLock:
    """Another connection to the same file holding the write lock until released."""

    def __init__(self, database: Path) -> None:
        self.connection = sqlite3.connect(database, isolation_level=None,
                                          check_same_thread=False)
        self.connection.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        self.connection.execute("COMMIT")
        self.connection.close()


def statuses(store: Store, ids: list[int]) -> set[str]:
    return {store.subscriber(i).status for i in ids}


def test_one_clicks_while_the_write_lock_is_held_get_200_and_are_applied_after(
        web: Web) -> None:
    ids = [web.add(f"reader{n}@example.org") for n in range(12)]
    lock = WriteLock(web.root / "bulletin.db")
    try:
        with ThreadPoolExecutor(max_workers=len(ids)) as pool:
            answers = list(pool.map(
                lambda i: httpx.post(web.unsubscribe_url(i), data=ONE_CLICK,
                                     timeout=SAFETY), ids))
        assert [a.status_code for a in answers] == [200] * len(ids)
        # Nothing could be committed yet (the lock is still held) ...
        assert statuses(web.store, ids) == {"active"}
        # ... but every one of them is on disk.
        journal = (web.root / "bulletin.db-oneclick").read_text()
        assert sorted(int(line.split()[0]) for line in journal.splitlines()) == sorted(ids)
        assert web.app.state.service.one_click.owed == len(ids)
    finally:
        lock.release()
    wait_for(lambda: statuses(web.store, ids) == {"unsubscribed"},
             "the journaled unsubscribes to be applied once the lock was released")
    for subscriber in ids:
        [audit] = [a for a in web.store.audit(subscriber) if a.action == "unsubscribe"]
        assert audit.source == "one-click"
    wait_for(lambda: (web.root / "bulletin.db-oneclick").read_text() == "",
             "the journal to be emptied")
    assert web.app.state.service.one_click.owed == 0


def test_the_page_button_is_journaled_too(web: Web) -> None:
    ann = web.add("ann@example.org")
    page = web.http.get(web.unsubscribe_url(ann))
    lock = WriteLock(web.root / "bulletin.db")
    try:
        done = web.http.post(web.unsubscribe_url(ann), data={"csrf": csrf_of(page.text)},
                             headers={"Origin": web.url})
        assert done.status_code == 200
        assert web.store.subscriber(ann).status == "active"
    finally:
        lock.release()
    wait_for(lambda: web.store.subscriber(ann).status == "unsubscribed",
             "the page's unsubscribe to be applied")
    assert web.store.audit(ann)[-1].source == "page"


def run(coroutine: object) -> None:
    asyncio.run(coroutine)  # type: ignore[arg-type]


def test_a_journal_left_by_a_service_that_stopped_is_applied_at_the_next_start(
        tmp_path: Path) -> None:
    database = tmp_path / "bulletin.db"
    journal = tmp_path / "bulletin.db-oneclick"
    with Store.open(f"sqlite:///{database}") as store:
        store.create_list("news")
        ids = []
        for n in range(5):
            store.subscribe(f"r{n}@example.org", "news", source="test")
            ids.append(store.subscriber(f"r{n}@example.org").id)

        async def while_locked() -> None:
            one_click = OneClick(store, journal)
            await one_click.start()
            await asyncio.gather(*(one_click.unsubscribe(i) for i in ids))
            assert one_click.owed == len(ids)
            await one_click.stop()  # as the service stops (or dies): nothing applied

        lock = WriteLock(database)
        try:
            run(while_locked())
        finally:
            lock.release()
        assert statuses(store, ids) == {"active"}
        # A crash can cut the last line short; that request was never answered.
        with journal.open("a") as stream:
            stream.write("12")

        async def restart() -> None:
            one_click = OneClick(store, journal)
            await one_click.start()
            await asyncio.to_thread(wait_for, lambda: one_click.owed == 0,
                                    "the journal to be replayed")
            await one_click.unsubscribe(ids[0])  # appends after the cut-off line
            await one_click.stop()

        run(restart())
        assert statuses(store, ids) == {"unsubscribed"}
        assert journal.read_text() == ""


def test_two_services_on_one_database_use_two_journals(tmp_path: Path) -> None:
    first = Journal(tmp_path / "bulletin.db-oneclick")
    second = Journal(tmp_path / "bulletin.db-oneclick")
    try:
        assert first.path != second.path
        first.append([(1, "one-click")])
        second.append([(2, "page")])
        assert first.read() == [(1, "one-click")] and second.read() == [(2, "page")]
    finally:
        first.close()
        second.close()


def test_one_clicks_during_a_long_import_are_answered_and_applied(web: Web) -> None:
    """An import holds the write lock while it runs; one-clicks arriving meanwhile get 200
    at once from the journal, and are applied no later than the import's end."""
    ids = [web.add(f"reader{n}@example.org") for n in range(5)]
    answered = threading.Event()

    def rows() -> Iterator[Row]:
        for n in range(3000):
            if n == 1500:  # half-way through the file, the import waits for the answers
                assert answered.wait(SAFETY)
            yield Row(n + 2, normalise(f"new{n}@example.org"), None, None)

    importing = threading.Thread(
        target=lambda: web.store.import_rows(rows(), "cohes3ion", source="big.csv",
                                             batch_size=500))
    importing.start()
    try:
        with ThreadPoolExecutor(max_workers=len(ids)) as pool:
            answers = list(pool.map(
                lambda i: httpx.post(web.unsubscribe_url(i), data=ONE_CLICK,
                                     timeout=SAFETY), ids))
        assert [a.status_code for a in answers] == [200] * len(ids)
    finally:
        answered.set()
        importing.join(SAFETY)
    wait_for(lambda: statuses(web.store, ids) == {"unsubscribed"},
             "the unsubscribes to be applied")
    assert web.store.counts("cohes3ion")["active"] == 3000


@pytest.mark.slow
def test_a_page_that_finds_the_database_locked_past_its_timeout_answers_503(web: Web) -> None:
    """Anything else that needs the write lock waits the store's busy timeout (30 s), then
    gets a page to try again later: 503 with Retry-After, never a 500."""
    ann = web.add("ann@example.org")
    url = web.preferences_url(ann)
    field = csrf_of(web.http.get(url).text)
    lock = WriteLock(web.root / "bulletin.db")
    try:
        response = web.http.post(url, data={"action": "pause", "months": "1", "csrf": field})
    finally:
        lock.release()
    assert response.status_code == 503, response.text[:300]
    assert response.headers["retry-after"] == "60"
    assert "Traceback" not in response.text
