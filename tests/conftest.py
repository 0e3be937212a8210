from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bulletin.workflow import Prepared, prepare

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "issues" / "cohes3ion-04.yaml"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]


@pytest.fixture(autouse=True)
def _no_config_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BULLETIN_CONFIG", raising=False)
    monkeypatch.delenv("BULLETIN_SECRET_KEY", raising=False)


@pytest.fixture(scope="session")
def example() -> Prepared:
    return prepare(EXAMPLE)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A copy of the repository's workspace (bulletin.toml, templates/) to change freely."""
    shutil.copy(ROOT / "bulletin.toml", tmp_path / "bulletin.toml")
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    (tmp_path / "issues").mkdir()
    return tmp_path


@pytest.fixture
def write_issue(workspace: Path) -> Callable[[str, str], Path]:
    def write(text: str, name: str = "test-issue.yaml") -> Path:
        path = workspace / "issues" / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path
    return write


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run .ci/install (Debian package chromium)")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
