"""What `bulletin send` shows before it sends, and what it refuses: the plan's counts agree
with `bulletin subscribers count` and are the chosen list's; a dry run and `send-test` keep
the rule on BULLETIN_SECRET_KEY that the send keeps."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from bulletin.store.store import Store
from tests.smtp_server import SmtpServer, ready_to_send
from tests.test_send import bulletin, delivered, issue

pytestmark = pytest.mark.slow  # whole sends through a real SMTP server

KEY = "cohes3ion/cohes3ion-04"


@pytest.fixture
def setup(workspace: Path, server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two lists of the same newsletter, with members in every state."""
    ready_to_send(workspace, server.port, monkeypatch, connections=2)
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:
        store.create_list("cohes3ion", newsletter="cohes3ion")
        store.create_list("other", newsletter="cohes3ion")
        for n in range(6):
            store.subscribe(f"a{n}@example.org", "cohes3ion", source="test")
        for n in range(3):
            store.subscribe(f"b{n}@example.org", "other", source="test")
        store.subscribe("a0@example.org", "other", source="test")  # on both
        store.subscribe("new@example.org", "cohes3ion", source="test", status="pending")
        store.suppress("a1@example.org", reason="test", source="test")
        store.unsubscribe("a2@example.org", "cohes3ion", source="test")
        store.pause("a3@example.org", dt.datetime.now(dt.UTC) + dt.timedelta(days=30),
                    source="test")
    return workspace


def active(workspace: Path, list_name: str) -> int:
    code, output = bulletin("subscribers", "count", "--list", list_name, "--config",
                            str(workspace / "bulletin.toml"))
    assert code == 0, output
    return int(re.search(r"([\d,]+) active", output)[1].replace(",", ""))  # type: ignore[index]


def shown(output: str, label: str) -> str:
    found = re.search(rf"^{label}:\s+(.*)$", output, re.MULTILINE)
    assert found, (label, output)
    return found[1]


def test_the_plan_counts_what_subscribers_count_counts(setup: Path) -> None:
    for list_name in ("cohes3ion", "other"):
        code, output = bulletin("send", issue(setup), "--list", list_name, "--dry-run")
        assert code == 0, output
        members = active(setup, list_name)
        assert shown(output, "List") == f"{list_name}: {members} active members after " \
            "suppression"
        assert shown(output, "To send") == str(members)
    assert active(setup, "cohes3ion") == 3  # a0, a4, a5: not the suppressed, the one who
    # left the list, the paused or the unconfirmed


def test_the_plan_counts_only_the_chosen_list(setup: Path, server: SmtpServer) -> None:
    code, output = bulletin("send", issue(setup), "--list", "other", "--yes")
    assert code == 0, output
    assert len(server.received) == 4
    code, output = bulletin("send", issue(setup), "--list", "cohes3ion", "--dry-run")
    assert code == 0, output
    assert "So far" not in output, output  # nothing was sent from this list yet
    assert shown(output, "To send") == "2", output  # a4, a5: a0 had it from the other list
    code, output = bulletin("send", issue(setup), "--list", "cohes3ion", "--yes")
    assert code == 0, output
    assert len(server.received) == 6
    code, output = bulletin("send", issue(setup), "--list", "cohes3ion", "--dry-run")
    assert shown(output, "So far").startswith("2 sent, 0 failed, 0 waiting"), output


def test_messages_waiting_from_another_list_are_counted_apart(setup: Path,
                                                              server: SmtpServer) -> None:
    with Store.open(f"sqlite:///{setup / 'bulletin.db'}") as store:
        assert store.ledger.create(KEY, "other") == 4  # queued, as by a run that stopped
    code, output = bulletin("send", issue(setup), "--list", "cohes3ion", "--dry-run")
    assert code == 0, output
    assert "So far" not in output, output
    assert shown(output, "To send") == "6", output  # a4, a5, and the 4 waiting
    assert "4 of the above still waiting from a send of this issue to another list" in output
    code, output = bulletin("send", issue(setup), "--list", "cohes3ion", "--yes")
    assert code == 0, output
    assert len(delivered(server)) == 6  # as the plan said


def test_a_dry_run_without_the_key_fails_as_the_send_does(
        setup: Path, server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for value in (None, "short-key"):
        if value is None:
            monkeypatch.delenv("BULLETIN_SECRET_KEY")
        else:
            monkeypatch.setenv("BULLETIN_SECRET_KEY", value)
        sent = bulletin("send", issue(setup), "--yes")
        dry = bulletin("send", issue(setup), "--dry-run")
        for code, output in (sent, dry):
            assert code == 1, output
            assert output.startswith("Error: set BULLETIN_SECRET_KEY to a random string of at "
                                     "least 16 characters"), output
        assert dry == sent
    assert server.received == []
    with Store.open(f"sqlite:///{setup / 'bulletin.db'}") as store:
        assert sum(store.ledger.counts(KEY).values()) == 0


@pytest.mark.parametrize("value", [None, "fifteen-chars!!", ""])
def test_send_test_refuses_a_short_or_missing_key(setup: Path, server: SmtpServer,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("BULLETIN_SECRET_KEY")
    else:
        monkeypatch.setenv("BULLETIN_SECRET_KEY", value)
    code, output = bulletin("send-test", issue(setup), "--to", "me@example.org")
    assert code == 1, output
    assert output.startswith("Error: set BULLETIN_SECRET_KEY"), output
    assert server.received == []
    monkeypatch.setenv("BULLETIN_SECRET_KEY", "sixteen-chars!!!")
    code, output = bulletin("send-test", issue(setup), "--to", "me@example.org")
    assert code == 0, output
    assert len(server.received) == 1
