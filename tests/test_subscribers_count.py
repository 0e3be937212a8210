"""`bulletin subscribers count` shows paused subscribers apart: a pause leaves the lists for
a while (their memberships read unsubscribed), but the person has not unsubscribed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bulletin.cli import app
from bulletin.store import Store
from bulletin.store.models import now

pytest_plugins = ["tests.store_fixtures"]


def test_paused_are_counted_apart_from_unsubscribed(workspace: Path, database_url: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    with Store.open(database_url) as store:
        store.create_list("cohes3ion", newsletter="cohes3ion")
        store.create_list("cohes3ion-events", newsletter="cohes3ion")
        for who in ("ann", "bob", "cat", "dai"):
            store.subscribe(f"{who}@example.org", "cohes3ion", source="test")
        store.subscribe("bob@example.org", "cohes3ion-events", source="test")
        store.pause("bob@example.org", now() + timedelta(days=30), source="test")
        store.unsubscribe("cat@example.org", source="test")
        store.pause("dai@example.org", now() + timedelta(days=30), source="test")
        store.unsubscribe("dai@example.org", source="test")  # left while paused: left
        assert store.counts("cohes3ion") == {
            "active": 1, "paused": 1, "pending": 0, "unsubscribed": 2, "bounced": 0,
            "complained": 0, "suppressed": 0}
        assert store.counts("cohes3ion-events")["paused"] == 1
        assert store.counts() == {
            "active": 1, "paused": 1, "pending": 0, "unsubscribed": 2, "bounced": 0,
            "complained": 0, "suppressed": 0}
        assert store.count_active("cohes3ion") == 1

    monkeypatch.chdir(workspace)
    monkeypatch.setenv("BULLETIN_DATABASE_URL", database_url)
    result = CliRunner().invoke(app, ["subscribers", "count"])
    assert result.exit_code == 0, result.output
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert lines["cohes3ion"] == ("1 active · 1 paused · 0 pending · 2 unsubscribed · "
                                  "0 bounced · 0 complained · 0 suppressed")
    assert lines["everyone"].startswith("1 active · 1 paused · 0 pending · 2 unsubscribed")
