"""`bulletin subscribers show ADDRESS [--json]`, on SQLite and PostgreSQL: one person's
status, lists, language, consent, suppression, pause, the issues sent to them with each
outcome, and what came back with its evidence; nothing about anyone else; an unknown or
invalid address is one line and exit 1."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from bulletin.cli import app
from bulletin.settings import load_workspace
from bulletin.store import Store
from tests.sent_issue import KEY, send

pytest_plugins = ["tests.store_fixtures"]

PEOPLE = ["ann@example.org", "bob@example.org", "cat@example.org"]


@pytest.fixture
def shown(workspace: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Two issues sent to three people: Ann's first message bounced for good, the second
    was never sent (she was suppressed by then); Bob complained about the second; Cat had a
    soft bounce. Returns the inbound ids."""
    monkeypatch.chdir(workspace)
    monkeypatch.setenv("BULLETIN_DATABASE_URL", database_url)
    monkeypatch.setenv("BULLETIN_SECRET_KEY", KEY)
    setup = load_workspace(workspace / "bulletin.toml")
    with Store.open(database_url) as store:
        store.create_list("cohes3ion", newsletter="cohes3ion", title="Cohes3ion")
        store.create_list("topics", newsletter="cohes3ion")
        store.subscribe("ann@example.org", "topics", source="test", language="cy")
        store.unsubscribe("ann@example.org", "topics", source="page")
        first = send(store, setup, "cohes3ion/issue-1", PEOPLE)
        hard = first.bounce("ann@example.org")
        soft = first.bounce("cat@example.org", "4.2.2", "452 4.2.2 mailbox full")
        second = send(store, setup, "cohes3ion/issue-2", [])
        complaint = second.complaint("bob@example.org")
        store.pause("cat@example.org", datetime(2027, 3, 1, tzinfo=UTC), source="page")
    return {"hard": hard.inbound_id, "soft": soft.inbound_id,
            "complaint": complaint.inbound_id}


def _show(*args: str) -> Result:
    return CliRunner().invoke(app, ["subscribers", "show", *args], env={"COLUMNS": "300"})


def test_json_is_one_object_of_her_record(shown: dict) -> None:
    result = _show("ANN@example.org", "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert (found["email"], found["status"], found["language"]) == (
        "ann@example.org", "bounced", "cy")
    assert found["consent"]["source"] == "test" and found["consent"]["at"]
    assert found["lists"] == [{"list": "cohes3ion", "status": "active"},
                              {"list": "topics", "status": "unsubscribed"}]
    assert found["suppressed"]["source"] == "bounce"
    assert f"inbound #{shown['hard']}" in found["suppressed"]["reason"]
    assert found["paused_until"] is None
    assert [(i["issue"], i["state"], i["last_reply"]) for i in found["issues"]] == [
        ("cohes3ion/issue-1", "sent", "250 2.0.0 Ok: queued")]
    [back] = found["returns"]
    assert (back["inbound"], back["kind"], back["status"], back["reason"], back["issue"],
            back["action"], back["source"]) == (shown["hard"], "hard", "5.1.1", "user-unknown",
                                                "cohes3ion/issue-1", "bounced", "pipe")
    assert back["at"]


def test_others_complaint_and_pause(shown: dict) -> None:
    bob = json.loads(_show("bob@example.org", "--json").stdout)
    assert bob["status"] == "complained" and bob["suppressed"]["source"] == "complaint"
    assert [i["issue"] for i in bob["issues"]] == ["cohes3ion/issue-1", "cohes3ion/issue-2"]
    assert [(r["kind"], r["issue"], r["inbound"]) for r in bob["returns"]] == [
        ("complaint", "cohes3ion/issue-2", shown["complaint"])]
    cat = json.loads(_show("cat@example.org", "--json").stdout)
    assert (cat["status"], cat["suppressed"], cat["paused_until"][:10]) == (
        "active", None, "2027-03-01")
    assert cat["lists"] == [{"list": "cohes3ion", "status": "unsubscribed"}]
    assert [(r["kind"], r["status"], r["action"]) for r in cat["returns"]] == [
        ("soft", "4.2.2", "counted")]


def test_the_readable_form_and_nobody_elses_data(shown: dict) -> None:
    result = _show("ann@example.org")
    assert result.exit_code == 0, result.output
    text = result.stdout
    lines = text.splitlines()
    assert lines[0] == "ann@example.org"
    assert "  Status:      bounced" in lines
    assert "  Language:    cy" in lines
    assert "  Lists:       cohes3ion (active), topics (unsubscribed)" in lines
    assert any(line.startswith("  Suppressed:  yes, since ") and "(bounce): " in line
               for line in lines)
    assert "Issues (1):" in lines
    assert any(line.startswith("  cohes3ion/issue-1  sent  ") for line in lines)
    assert "Bounces and complaints (1):" in lines
    assert any(f"hard 5.1.1 user-unknown about cohes3ion/issue-1: bounced (evidence: inbound "
               f"#{shown['hard']}, from pipe)" in line for line in lines)
    for other in ("bob@", "cat@"):
        assert other not in text
        assert other not in _show("ann@example.org", "--json").stdout


@pytest.mark.parametrize(("address", "message"), [
    ("nobody@example.org", "Error: no subscriber nobody@example.org in the store\n"),
    ("ann@@example.org", None)])
def test_an_unknown_or_invalid_address_is_one_line(shown: dict, address: str,
                                                   message: str | None) -> None:
    for args in ((address,), (address, "--json")):
        result = _show(*args)
        assert (result.exit_code, result.stdout) == (1, "")
        [line] = result.stderr.splitlines()
        if message is None:
            assert line.startswith(f"Error: '{address}' is not a valid email address")
        else:
            assert result.stderr == message
