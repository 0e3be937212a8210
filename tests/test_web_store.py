"""The store's operations for the web service: the archive, languages, pauses, memberships;
on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bulletin.store import Store

pytest_plugins = ["tests.store_fixtures"]


def test_archive_put_is_idempotent_and_get_finds_a_language(store: Store) -> None:
    assert store.archive_put("news", "issue-1", "cy", "Pwnc", "<p>cy</p>", "cy")
    assert store.archive_put("news", "issue-1", "en", "Subject", "<p>en</p>", "en")
    assert not store.archive_put("news", "issue-1", "en", "Subject 2", "<p>en 2</p>", "en 2")
    got = store.archive_get("news", "issue-1", "en")
    assert got is not None and (got.subject, got.html, got.text) == ("Subject 2", "<p>en 2</p>",
                                                                     "en 2")
    first = store.archive_get("news", "issue-1")
    assert first is not None and first.language == "cy"
    assert store.archive_get("news", "issue-1", "fr") is None
    assert store.archive_get("news", "issue-2") is None
    assert store.archive_get("other", "issue-1") is None


def test_archive_index_is_newest_first(store: Store) -> None:
    store.archive_put("news", "one", "en", "One", "1", "1")
    store.archive_put("news", "two", "en", "Two", "2", "2")
    store.archive_put("other", "three", "en", "Three", "3", "3")
    assert [(e.issue, e.subject) for e in store.archive_index("news")] == [("two", "Two"),
                                                                           ("one", "One")]
    assert store.archive_index("nothing") == []


def test_language_changes_are_audited(store: Store, news: str) -> None:
    store.subscribe("ann@example.org", news, source="test", language="en")
    assert store.set_language("ann@example.org", "cy", source="page")
    assert not store.set_language("ann@example.org", "cy", source="page")
    assert store.subscriber("ann@example.org").language == "cy"
    last = store.audit("ann@example.org")[-1]
    assert (last.action, last.source, last.detail) == ("language", "page", "en -> cy")


def test_a_pause_leaves_the_lists_until_it_ends(store: Store, news: str) -> None:
    store.create_list("news-events", newsletter="news")
    store.subscribe("ann@example.org", news, source="test")
    store.subscribe("ann@example.org", "news-events", source="test")
    store.unsubscribe("ann@example.org", "news-events", source="test")
    ann = store.subscriber("ann@example.org").id
    until = datetime.now(UTC) + timedelta(days=30)

    assert store.pause(ann, until, source="page") == [news]
    assert store.memberships(ann) == {news: "unsubscribed", "news-events": "unsubscribed"}
    assert [m.email for m in store.iter_active_members(news)] == []
    paused = store.paused_until(ann)
    assert paused is not None and abs(paused - until) < timedelta(seconds=1)

    assert store.resume_due() == 0
    assert store.resume_due(until + timedelta(seconds=1)) == 1
    assert store.memberships(ann) == {news: "active", "news-events": "unsubscribed"}
    assert store.paused_until(ann) is None
    actions = [(a.action, a.list_name, a.source) for a in store.audit(ann)][-2:]
    assert actions == [("pause", news, "page"), ("resume", news, "pause-ended")]


def test_resume_now_and_a_list_left_while_paused_stays_left(store: Store, news: str) -> None:
    store.create_list("news-events", newsletter="news")
    for name in (news, "news-events"):
        store.subscribe("bob@example.org", name, source="test")
    bob = store.subscriber("bob@example.org").id
    assert store.pause(bob, datetime.now(UTC) + timedelta(days=1), source="page") == [
        news, "news-events"]
    # pausing again only moves the date
    later = datetime.now(UTC) + timedelta(days=90)
    assert store.pause(bob, later, source="page") == [news, "news-events"]
    assert abs(store.paused_until(bob) - later) < timedelta(seconds=1)  # type: ignore[operator]
    assert store.resume(bob, source="page") == [news, "news-events"]
    assert store.resume(bob, source="page") == []
    assert store.subscriber(bob).lists == (news, "news-events")


def test_unsubscribe_many_in_one_go(store: Store, news: str) -> None:
    ids = [store.subscriber(store.subscribe(f"r{n}@example.org", news, source="test") and
                            f"r{n}@example.org").id for n in range(4)]
    store.unsubscribe(ids[0], source="test")
    assert store.unsubscribe_many([*ids, 999999, ids[1]], source="one-click") == 3
    assert store.unsubscribe_many(ids, source="one-click") == 0
    assert [store.subscriber(i).status for i in ids] == ["unsubscribed"] * 4
    last = store.audit(ids[2])[-1]
    assert (last.action, last.old_status, last.new_status, last.source) == (
        "unsubscribe", "active", "unsubscribed", "one-click")
    assert [a.source for a in store.audit(ids[0])] == ["test", "test"]
