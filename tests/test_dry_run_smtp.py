"""A dry run refuses what the send would refuse about the SMTP relay's settings (no [smtp]
table, a username without BULLETIN_SMTP_PASSWORD), with the same one line, and never
connects to check them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulletin.store.store import Store
from tests.conftest import EXAMPLE
from tests.smtp_server import SECRET_KEY
from tests.test_send import bulletin


@pytest.fixture
def setup(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example issue in a workspace whose bulletin.toml has no [smtp] table, one
    subscriber, the key set."""
    monkeypatch.setenv("BULLETIN_SECRET_KEY", SECRET_KEY)
    monkeypatch.delenv("BULLETIN_DATABASE_URL", raising=False)
    monkeypatch.delenv("BULLETIN_SMTP_PASSWORD", raising=False)
    (workspace / "issues" / EXAMPLE.name).write_text(EXAMPLE.read_text())
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:
        store.create_list("cohes3ion", newsletter="cohes3ion")
        store.subscribe("ann@example.org", "cohes3ion", source="test")
    return workspace


def send(workspace: Path, *args: str) -> tuple[int, str]:
    return bulletin("send", str(workspace / "issues" / EXAMPLE.name), *args)


def test_a_dry_run_without_an_smtp_table_fails_as_the_send_does(setup: Path) -> None:
    assert "[smtp]" not in (setup / "bulletin.toml").read_text()
    sent, dry = send(setup, "--yes"), send(setup, "--dry-run")
    assert sent == dry, (sent, dry)
    code, output = dry
    assert code == 1
    assert output == f"Error: {setup / 'bulletin.toml'}: no [smtp] table; add one with at " \
        "least host = \"...\" (see README)\n", output


def test_a_dry_run_with_a_username_and_no_password_fails_as_the_send_does(
        setup: Path) -> None:
    # Port 9 (discard) on this machine: nothing answers, and nothing is asked to.
    config = setup / "bulletin.toml"
    config.write_text(config.read_text() + '\n[smtp]\nhost = "127.0.0.1"\nport = 9\n'
                      'security = "none"\nusername = "news"\n')
    sent, dry = send(setup, "--yes"), send(setup, "--dry-run")
    assert sent == dry, (sent, dry)
    code, output = dry
    assert code == 1 and output.startswith("Error: ") and output.count("\n") == 1, output
    assert "BULLETIN_SMTP_PASSWORD" in output, output


def test_a_dry_run_with_smtp_settings_does_not_connect(setup: Path) -> None:
    config = setup / "bulletin.toml"
    config.write_text(config.read_text() + '\n[smtp]\nhost = "127.0.0.1"\nport = 9\n'
                      'security = "none"\n')
    code, output = send(setup, "--dry-run")
    assert code == 0, output
    assert "To send:    1" in output, output
