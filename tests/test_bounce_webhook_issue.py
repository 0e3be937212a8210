"""A provider's event (the generic webhook, /webhooks/events) without a Message-ID but with
its recipient and the issue it was about: traced to that issue's ledger row when the issue
was sent to that address, and not ours otherwise; an address alone never unsubscribes
anyone for a complaint. A real store (SQLite); the events parsed as the route parses them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bulletin.inbound.process import Processed, process_classified
from bulletin.inbound.webhooks import events
from bulletin.inbound.webhooks.model import Malformed
from bulletin.settings import Workspace, load_workspace
from bulletin.store import Store
from bulletin.store.outcomes import Outcome

KEY = "a-test-secret-key-of-some-length"
SENT = "cohes3ion/issue-1"
PEOPLE = ["ann@example.org", "bob@example.org", "cat@example.org"]


@pytest.fixture
def setup(workspace: Path, monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[tuple[Store, Workspace]]:
    """Issue 1 sent to ann and bob; cat subscribed after it went."""
    monkeypatch.setenv("BULLETIN_SECRET_KEY", KEY)
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:
        store.create_list("cohes3ion", newsletter="cohes3ion")
        for address in PEOPLE[:2]:
            store.subscribe(address, "cohes3ion", source="test")
        store.ledger.create(SENT, "cohes3ion")
        claims = store.ledger.claim(SENT, 100)
        store.ledger.record([Outcome(c.id, "sent", "250 2.0.0 Ok") for c in claims])
        store.subscribe(PEOPLE[2], "cohes3ion", source="test")
        yield store, load_workspace(workspace / "bulletin.toml")


def post(setup: tuple[Store, Workspace], **event: str) -> Processed:
    store, workspace = setup
    body = json.dumps({"events": [event]}).encode()
    [parsed] = events.events(body)
    return process_classified(store, workspace, parsed.classification, parsed.key, body,
                              source="webhook")


def test_a_bounce_names_its_issue_and_is_traced_to_the_ledger_row(setup) -> None:
    store, _ = setup
    done = post(setup, type="bounce", recipient="Ann@example.org", bounce_type="hard",
                status="5.1.1", issue=SENT, id="b1")
    assert (done.ours, done.attribution, done.action) == (True, "issue", "bounced")
    [row] = store.inbound.of(store.subscriber("ann@example.org").id)
    assert (row.issue, row.attribution) == (SENT, "issue")
    assert row.delivery_id is not None


def test_a_complaint_with_its_issue_unsubscribes_and_suppresses(setup) -> None:
    store, _ = setup
    done = post(setup, type="complaint", recipient="bob@example.org", issue=SENT, id="c1")
    assert (done.ours, done.action) == (True, "complained")
    info = store.subscriber("bob@example.org")
    assert info.status == "complained" and info.suppressed


def test_an_issue_not_sent_to_that_address_is_not_ours(setup) -> None:
    store, _ = setup
    for event in ({"issue": SENT, "recipient": "cat@example.org"},  # joined after it went
                  {"issue": "cohes3ion/issue-9", "recipient": "ann@example.org"},  # no such
                  {"issue": "other/issue-1", "recipient": "bob@example.org"}):
        for kind in ("complaint", "bounce"):
            done = post(setup, type=kind, bounce_type="hard", id=f"{kind}{event}", **event)
            assert (done.ours, done.action) == (False, "ignored"), event
    assert [store.subscriber(a).status for a in PEOPLE] == ["active"] * 3


def test_a_complaint_by_address_alone_changes_nothing(setup) -> None:
    store, _ = setup
    done = post(setup, type="complaint", recipient="ann@example.org", id="c2")
    assert (done.ours, done.action) == (False, "ignored")
    assert store.subscriber("ann@example.org").status == "active"


def test_an_issue_that_is_not_an_issue_name_is_refused() -> None:
    for bad in ("issue-1", "/x", "a b/c", "x" * 201):
        body = json.dumps({"events": [{"type": "bounce", "recipient": "a@b.org",
                                       "issue": bad}]}).encode()
        with pytest.raises(Malformed):
            events.events(body)
