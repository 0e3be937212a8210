"""The example in real Chromium: standards mode, no horizontal overflow, phone styles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bulletin.workflow import Prepared

pytestmark = pytest.mark.slow  # Chromium


@pytest.fixture(scope="module")
def page_file(example: Prepared, tmp_path_factory: pytest.TempPathFactory) -> Path:
    html, _ = example.rendered.personalise({
        "unsubscribe_url": "https://bulletins.example.gov.wales/unsubscribe/t",
        "preferences_url": "https://bulletins.example.gov.wales/preferences/t",
        "email": "subscriber@example.com"})
    path = tmp_path_factory.mktemp("page") / "email.html"
    path.write_text(html, encoding="utf-8")
    return path


def measure(browser: Any, path: Path, width: int) -> dict[str, Any]:
    page = browser.new_page(viewport={"width": width, "height": 900})
    # Offline: images fail to load, which is what a client with images off shows.
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
        "file:") else route.abort())
    page.goto(path.as_uri())
    result = page.evaluate("""() => {
        const box = el => el.getBoundingClientRect();
        const columns = [...document.querySelectorAll('.bulletin-footer-column')].map(box);
        return {
          mode: document.compatMode,
          scrollWidth: document.documentElement.scrollWidth,
          bodyScrollWidth: document.body.scrollWidth,
          innerWidth: window.innerWidth,
          h1: parseFloat(getComputedStyle(document.querySelector('h1')).fontSize),
          columns: columns.map(r => ({left: r.left, top: r.top, width: r.width})),
          widest: Math.max(...[...document.querySelectorAll('body *')].map(
            el => box(el).right)),
        };
    }""")
    page.close()
    return result


@pytest.mark.parametrize("width", [320, 375, 600])
def test_standards_mode_and_no_horizontal_overflow(browser: Any, page_file: Path,
                                                   width: int) -> None:
    m = measure(browser, page_file, width)
    assert m["mode"] == "CSS1Compat"
    assert m["innerWidth"] == width
    assert m["scrollWidth"] <= width and m["bodyScrollWidth"] <= width
    assert m["widest"] <= width + 0.5


@pytest.mark.parametrize("width", [320, 375])
def test_phone_styles_apply(browser: Any, page_file: Path, width: int) -> None:
    m = measure(browser, page_file, width)
    assert m["h1"] == 24
    first, second = m["columns"]
    assert first["left"] == second["left"] and second["top"] > first["top"]  # stacked
    assert first["width"] == pytest.approx(width, abs=1)


def test_desktop_layout_has_columns_side_by_side(browser: Any, page_file: Path) -> None:
    m = measure(browser, page_file, 600)
    assert m["h1"] == 30
    first, second = m["columns"]
    assert first["top"] == second["top"] and second["left"] > first["left"]
    assert first["width"] == pytest.approx(300, abs=1)
