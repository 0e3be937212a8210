"""Fixtures for tests that send a small list through a real SMTP server (conftest.py's
`server`): `setup`, the example workspace ready to send to it (two connections) with three
readers on the list `cohes3ion`.

Use from a test module with `pytest_plugins = ["tests.send_fixtures"]`."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulletin.store.store import Store
from tests.smtp_server import SmtpServer, ready_to_send


@pytest.fixture
def setup(workspace: Path, server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    ready_to_send(workspace, server.port, monkeypatch, connections=2)
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:
        store.create_list("cohes3ion", newsletter="cohes3ion")
        for n in range(3):
            store.subscribe(f"reader{n}@example.org", "cohes3ion", source="test")
    return workspace

