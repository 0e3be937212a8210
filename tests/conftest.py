from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import signal
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from bulletin.workflow import Prepared, prepare
from tests.smtp_server import SmtpServer
from tests.waiting import SAFETY

# Hypothesis times each example (200 ms, then DeadlineExceeded) and the generation of data
# (HealthCheck.too_slow): both are clocks that a busy machine beats. What the tests check is
# what each example does, not how fast; so neither, in every test (loaded here, before the
# test modules are imported, so that their own @settings start from it).
settings.register_profile("bulletin", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("bulletin")

# bulletin keeps compiled templates and processed images in the user's cache folder: the
# tests (and the commands they start, which inherit this) use one of their own, made empty
# for each run, so that nothing a previous run kept can stand in for what this run makes.
_CACHE = tempfile.mkdtemp(prefix="bulletin-test-cache-")
os.environ["XDG_CACHE_HOME"] = _CACHE
atexit.register(shutil.rmtree, _CACHE, True)

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


@pytest.fixture(autouse=True)
def _no_event_loop_left_running(request: pytest.FixtureRequest) -> Iterator[None]:
    """Playwright's sync API (the session's `browser`, once a browser test has run) marks its
    event loop as running on the main thread between its calls, and asyncio.run() refuses to
    start under a running loop: so a test run after a browser test failed when run after it,
    and passed alone. Outside the browser tests, the mark is lifted for the test's length."""
    loop = asyncio._get_running_loop()
    if loop is None or "browser" in request.fixturenames:
        yield
        return
    asyncio._set_running_loop(None)
    try:
        yield
    finally:
        asyncio._set_running_loop(loop)


@pytest.fixture(autouse=True)
def _ctrl_c_reaches_the_processes_tests_start() -> Iterator[None]:
    """A process started ignoring SIGINT (a background job of a shell without job control,
    nohup) passes that on to every child it starts: a test's Ctrl-C (SIGINT) to a `bulletin`
    process would then be lost, and the test wait out its safety net. For the test's length,
    SIGINT is Python's default here, so that children start taking it."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.fixture(scope="session")
def example() -> Prepared:
    return prepare(EXAMPLE)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A copy of the repository's workspace (bulletin.toml, brand/, templates/) to change
    freely."""
    shutil.copy(ROOT / "bulletin.toml", tmp_path / "bulletin.toml")
    shutil.copytree(ROOT / "brand", tmp_path / "brand")
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    (tmp_path / "issues").mkdir()
    return tmp_path


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) offering PIPELINING, for tests that send to it (a test
    module may have a `server` of its own)."""
    with SmtpServer(pipelining=True) as running:
        yield running


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
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                    timeout=SAFETY * 1000)
        yield _PatientBrowser(browser)
        browser.close()


class _PatientBrowser:
    """Chromium whose new pages wait up to SAFETY for what they wait for (an element, a
    navigation, a URL) instead of Playwright's 30 s, which a busy machine can exceed: every
    wait is for something to happen, and the long default only matters when it never does."""

    def __init__(self, browser: Any) -> None:
        self._browser = browser

    def new_page(self, **options: Any) -> Any:
        page = self._browser.new_page(**options)
        page.set_default_timeout(SAFETY * 1000)
        page.set_default_navigation_timeout(SAFETY * 1000)
        return page

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)
