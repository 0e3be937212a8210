"""Full-page PNGs of an email at given widths, taken with Chromium (Debian's, through
Playwright; no browser is downloaded)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .errors import BrowserError
from .workflow import output_dir

CHROMIUM_VARIABLE = "BULLETIN_CHROMIUM"
# A closed network: Chromium's own background connections would only fail.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic", "--hide-scrollbars"]


def chromium_path() -> str:
    """BULLETIN_CHROMIUM, else chromium on the PATH, else /usr/bin/chromium."""
    candidates = [os.environ.get(CHROMIUM_VARIABLE), shutil.which("chromium"),
                  "/usr/bin/chromium"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    raise BrowserError("Chromium not found: install Debian's chromium package "
                       f"(apt-get install chromium) or set {CHROMIUM_VARIABLE}")


def screenshots(html: str, widths: Iterable[int], out_dir: Path, stem: str,
                timeout_ms: int = 15000) -> list[Path]:
    """DIR/<stem>-<width>.png for each width; images that cannot load show their alt text."""
    widths = list(widths)
    for width in widths:
        if not 200 <= width <= 2560:
            raise BrowserError(f"--width {width}: choose a width from 200 to 2560 pixels")
    executable = chromium_path()
    output_dir(out_dir)
    # Playwright's sync API refuses a thread with an event loop: use a thread of its own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_take, executable, html, widths, out_dir, stem, timeout_ms).result()


def _take(executable: str, html: str, widths: list[int], out_dir: Path, stem: str,
          timeout_ms: int) -> list[Path]:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    written = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable,
                                                 args=CHROMIUM_ARGS)
            try:
                for width in widths:
                    page = browser.new_page(viewport={"width": width, "height": 800})
                    page.set_content(html, wait_until="load", timeout=timeout_ms)
                    path = out_dir / f"{stem}-{width}.png"
                    page.screenshot(path=str(path), full_page=True)
                    page.close()
                    written.append(path)
            finally:
                browser.close()
    except PlaywrightError as exc:
        first = str(exc).strip().split("\n")[0]
        raise BrowserError(f"Chromium failed: {first}") from None
    return written
