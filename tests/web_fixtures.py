"""The subscriber web service running for real: uvicorn in a background thread on a free
loopback port, a SQLite store in the test's folder, confirmation emails to an aiosmtpd server.

Use from a test module with `pytest_plugins = ["tests.web_fixtures"]`: the `web` fixture is a
`tests.web_helpers.Web`; `smtp` the aiosmtpd server the service sends through."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.smtp_server import SmtpServer
from tests.web_helpers import Web, start_web


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def web(workspace: Path, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Web]:
    yield from start_web(workspace, smtp, monkeypatch, resend_after=0)
