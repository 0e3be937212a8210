"""The example's logo in real Chromium, as a preview, a rendered .html file and a screenshot
show it (local images as data: URIs, no server): loaded, not its alt text, at phone and
desktop widths and in dark mode, where the logo for dark backgrounds takes its place (or,
without one, the logo sits on a light plate)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bulletin.workflow import local_view, prepare, sample

pytestmark = pytest.mark.slow  # Chromium

SHOWN_LOGOS = """() => [...document.querySelectorAll('img')]
    .filter(img => img.alt === 'Llywodraeth Cymru / Welsh Government')
    .map(img => {
        const box = img.getBoundingClientRect();
        let plate = getComputedStyle(img).backgroundColor;
        let under = img, background = 'rgba(0, 0, 0, 0)';
        while (under && background === 'rgba(0, 0, 0, 0)') {
            background = getComputedStyle(under).backgroundColor; under = under.parentElement;
        }
        return {complete: img.complete, natural: img.naturalWidth, width: box.width,
                height: box.height, visible: box.width > 0 && box.height > 0,
                dark: img.src.length > 0 && img.closest('.bulletin-logo-dark') !== null,
                plate: plate, background: background};
    })"""


def shown(browser: Any, html: str, width: int, scheme: str) -> list[dict[str, Any]]:
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
    # Offline: only what is in the page itself can show.
    page.route("**/*", lambda route: route.abort())
    page.set_content(html, wait_until="load")
    result: list[dict[str, Any]] = page.evaluate(SHOWN_LOGOS)
    page.close()
    return result


def email_as_previewed(issue: Path) -> str:
    prepared = prepare(issue)
    return local_view(prepared, sample(prepared).html)


@pytest.mark.parametrize("width", [375, 600])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_logo_is_loaded_not_its_alt_text(browser: Any, workspace: Path, width: int,
                                             scheme: str,
                                             write_issue: Callable[[str, str], Path]) -> None:
    issue = workspace / "issues" / "cohes3ion-04.yaml"
    issue.write_text((Path(__file__).parents[1] / "issues" / issue.name).read_text())
    logos = [logo for logo in shown(browser, email_as_previewed(issue), width, scheme)
             if logo["visible"]]
    assert len(logos) == 1, logos
    (logo,) = logos
    assert logo["complete"] and logo["natural"] > 0
    assert logo["width"] == 220 or logo["width"] <= width - 32
    assert logo["height"] == pytest.approx(logo["width"] * 67 / 220, abs=2)
    assert logo["dark"] == (scheme == "dark")
    if scheme == "dark":
        assert logo["background"] == "rgb(50, 50, 50)"  # the banner's colour


def test_without_a_dark_logo_the_logo_sits_on_a_light_plate_in_dark_mode(
        browser: Any, workspace: Path) -> None:
    config = workspace / "bulletin.toml"
    config.write_text(re.sub(r'(?m)^dark_src = .*\n', "", config.read_text()))
    issue = workspace / "issues" / "cohes3ion-04.yaml"
    issue.write_text((Path(__file__).parents[1] / "issues" / issue.name).read_text())
    html = email_as_previewed(issue)
    (logo,) = [logo for logo in shown(browser, html, 375, "dark") if logo["visible"]]
    assert logo["natural"] > 0 and not logo["dark"]
    assert logo["plate"] == "rgb(255, 255, 255)"
    (logo,) = [logo for logo in shown(browser, html, 375, "light") if logo["visible"]]
    assert logo["natural"] > 0 and logo["plate"] == "rgba(0, 0, 0, 0)"


def red_pixels(png: Path, box: tuple[int, int, int, int]) -> int:
    from PIL import Image

    with Image.open(png) as shot:
        raw = shot.convert("RGB").crop(box).tobytes()
    return sum(1 for i in range(0, len(raw), 3)
               if raw[i] > 170 and raw[i + 1] < 60 and raw[i + 2] < 90)


def test_the_example_s_screenshot_shows_the_logo_and_render_s_html_holds_it(
        workspace: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bulletin.cli import app

    issue = workspace / "issues" / "cohes3ion-04.yaml"
    issue.write_text((Path(__file__).parents[1] / "issues" / issue.name).read_text())
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["screenshot", str(issue), "--out", str(out),
                                      "--width", "600", "--width", "375"])
    assert result.exit_code == 0, result.output
    for width in (600, 375):
        # The logo's red square, top left, below the banner (its alt text would be grey).
        assert red_pixels(out / f"cohes3ion-04-{width}.png", (0, 40, 200, 200)) > 800, width
    result = CliRunner().invoke(app, ["render", str(issue), "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = (out / "cohes3ion-04.html").read_text()
    eml = (out / "cohes3ion-04.eml").read_bytes()
    assert html.count("data:image/png;base64,") == 2 and "/media/" not in html
    assert b"data:image" not in eml and b"https://bulletins.example.gov.wales/media/" in eml


def test_the_preview_shows_a_local_image_and_follows_its_file(
        browser: Any, write_issue: Callable[[str, str], Path]) -> None:
    from PIL import Image

    from tests.test_preview import WAIT, open_page, start
    from tests.waiting import wait_for

    folder = write_issue("", "placeholder.yaml").parent
    Image.new("RGB", (400, 200), "red").save(folder / "park.png")
    issue = write_issue("""
        newsletter: cohes3ion
        date: 2022-01-31
        subject: Preview images
        sections:
          - heading: A photo
            image: {src: park.png, alt: "The park"}
        """)
    process = start(issue, "--port", "0")
    try:
        line = process.stdout.readline() if process.stdout else ""
        assert "http://127.0.0.1:" in line, line
        page = open_page(browser, line.split(" at ", 1)[1].split(" ", 1)[0])
        photo = page.frame_locator("#desktop").get_by_alt_text("The park")
        photo.wait_for(timeout=WAIT)
        loaded = "img => img.complete ? img.naturalWidth : -1"
        wait_for(lambda: photo.evaluate(loaded) == 400, "the photo to load")
        Image.new("RGB", (300, 300), "blue").save(folder / "park.png")
        page.frame_locator("#desktop").locator('img[alt="The park"][height="300"]').wait_for(
            timeout=WAIT)
        wait_for(lambda: photo.evaluate(loaded) == 300, "the new photo to load")
        page.close()
    finally:
        process.kill()
        process.wait()
