"""The store's operations for the web service: the archive, languages, pauses, memberships;
on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bulletin.store import Store

pytest_plugins = ["tests.store_fixtures"]


def test_archive_put_is_idempotent_and_get_finds_a_language(store: Store) -> None:
    assert store.archive.put("news", "issue-1", "cy", "Pwnc", "<p>cy</p>", "cy")
    assert store.archive.put("news", "issue-1", "en", "Subject", "<p>en</p>", "en")
    assert not store.archive.put("news", "issue-1", "en", "Subject 2", "<p>en 2</p>", "en 2")
    got = store.archive.get("news", "issue-1", "en")
    assert got is not None and (got.subject, got.html, got.text) == ("Subject 2", "<p>en 2</p>",
                                                                     "en 2")
    first = store.archive.get("news", "issue-1")
    assert first is not None and first.language == "cy"
    assert store.archive.get("news", "issue-1", "fr") is None
    assert store.archive.get("news", "issue-2") is None
    assert store.archive.get("other", "issue-1") is None


def test_archive_index_is_newest_first(store: Store) -> None:
    store.archive.put("news", "one", "en", "One", "1", "1")
    store.archive.put("news", "two", "en", "Two", "2", "2")
    store.archive.put("other", "three", "en", "Three", "3", "3")
    assert [(e.issue, e.subject) for e in store.archive.index("news")] == [("two", "Two"),
                                                                           ("one", "One")]
    assert store.archive.index("nothing") == []


def test_language_changes_are_audited(store: Store, news: str) -> None:
    store.subscriptions.subscribe("ann@example.org", news, source="test", language="en")
    assert store.subscriptions.set_language("ann@example.org", "cy", source="page")
    assert not store.subscriptions.set_language("ann@example.org", "cy", source="page")
    assert store.subscriptions.subscriber("ann@example.org").language == "cy"
    last = store.audit_trail.of("ann@example.org")[-1]
    assert (last.action, last.source, last.detail) == ("language", "page",
                                                       "en -> cy (preferences)")


def test_a_pause_leaves_the_lists_until_it_ends(store: Store, news: str) -> None:
    store.mailing_lists.create("news-events", newsletter="news")
    store.subscriptions.subscribe("ann@example.org", news, source="test")
    store.subscriptions.subscribe("ann@example.org", "news-events", source="test")
    store.subscriptions.unsubscribe("ann@example.org", "news-events", source="test")
    ann = store.subscriptions.subscriber("ann@example.org").id
    until = datetime.now(UTC) + timedelta(days=30)

    assert store.pauses.pause(ann, until, source="page") == [news]
    assert store.subscriptions.memberships(ann) == {news: "unsubscribed",
                                                    "news-events": "unsubscribed"}
    assert [m.email for m in store.mailing_lists.active_members(news)] == []
    paused = store.pauses.until(ann)
    assert paused is not None and abs(paused - until) < timedelta(seconds=1)

    assert store.pauses.resume_due() == 0
    assert store.pauses.resume_due(until + timedelta(seconds=1)) == 1
    assert store.subscriptions.memberships(ann) == {news: "active", "news-events": "unsubscribed"}
    assert store.pauses.until(ann) is None
    actions = [(a.action, a.list_name, a.source) for a in store.audit_trail.of(ann)][-2:]
    assert actions == [("pause", news, "page"), ("resume", news, "pause-ended")]


def test_resume_now_and_a_list_left_while_paused_stays_left(store: Store, news: str) -> None:
    store.mailing_lists.create("news-events", newsletter="news")
    for name in (news, "news-events"):
        store.subscriptions.subscribe("bob@example.org", name, source="test")
    bob = store.subscriptions.subscriber("bob@example.org").id
    assert store.pauses.pause(bob, datetime.now(UTC) + timedelta(days=1), source="page") == [
        news, "news-events"]
    # pausing again only moves the date
    later = datetime.now(UTC) + timedelta(days=90)
    assert store.pauses.pause(bob, later, source="page") == [news, "news-events"]
    assert abs(store.pauses.until(bob) - later) < timedelta(seconds=1)  # type: ignore[operator]
    assert store.pauses.resume(bob, source="page") == [news, "news-events"]
    assert store.pauses.resume(bob, source="page") == []
    assert store.subscriptions.subscriber(bob).lists == (news, "news-events")


def test_unsubscribe_many_in_one_go(store: Store, news: str) -> None:
    ids = [store.subscriptions.subscriber(
        store.subscriptions.subscribe(f"r{n}@example.org", news, source="test") and
        f"r{n}@example.org").id for n in range(4)]
    store.subscriptions.unsubscribe(ids[0], source="test")
    assert store.subscriptions.unsubscribe_many([*ids, 999999, ids[1]], source="one-click") == 3
    assert store.subscriptions.unsubscribe_many(ids, source="one-click") == 0
    assert [store.subscriptions.subscriber(i).status for i in ids] == ["unsubscribed"] * 4
    last = store.audit_trail.of(ids[2])[-1]
    assert (last.action, last.old_status, last.new_status, last.source) == (
        "unsubscribe", "active", "unsubscribed", "one-click")
    assert [a.source for a in store.audit_trail.of(ids[0])] == ["test", "test"]
