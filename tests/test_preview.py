"""`bulletin preview` as a real server driven in Chromium, and `bulletin screenshot`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from bulletin.cli import app
from tests.waiting import SAFETY

pytestmark = pytest.mark.slow  # a real server and Chromium

WAIT = SAFETY * 1000  # Playwright's waits, in ms: a safety net; each waits for something

ISSUE = """
newsletter: cohes3ion
number: 9
date: 2022-05-01
subject: Preview test issue
preheader: Checking the preview.
sections:
  - heading: First heading
    body: The first body, with [a link](https://example.org/first).
  - image: {src: "https://example.org/photo.jpg", alt: "A photo on the web", width: 220}
"""


class Running:
    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process = process
        self.url = url


def start(issue: Path, *extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "BULLETIN_CONFIG"}
    return subprocess.Popen([sys.executable, "-m", "bulletin", "preview", str(issue), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=issue.parent)


@pytest.fixture
def server(write_issue: Callable[..., Path]) -> Iterator[Running]:
    issue = write_issue(ISSUE)
    process = start(issue, "--port", "0")
    line = process.stdout.readline() if process.stdout else ""
    assert "http://127.0.0.1:" in line, (line, process.stderr.read() if process.stderr else "")
    url = line.split(" at ", 1)[1].split(" ", 1)[0]
    running = Running(process, url)
    running.issue = issue  # type: ignore[attr-defined]
    yield running
    if process.poll() is None:
        process.kill()
        process.wait()


def open_page(browser: Any, url: str) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
        url) else route.abort())
    page.goto(url)
    return page


def test_both_frames_at_their_widths_and_the_text_tab(browser: Any, server: Running) -> None:
    page = open_page(browser, server.url)
    desktop = page.locator("#desktop").bounding_box()
    phone = page.locator("#phone").bounding_box()
    assert desktop["width"] >= 600
    assert phone["width"] == 375
    for frame in ("#desktop", "#phone"):
        heading = page.frame_locator(frame).get_by_role("heading", name="First heading")
        heading.wait_for(timeout=WAIT)
    phone_frame = page.frame_locator("#phone")
    assert phone_frame.locator("body").evaluate("() => window.innerWidth") == 375
    assert page.locator("#text").is_hidden()
    page.get_by_role("tab", name="Plain text").click()
    text = page.locator("#text").inner_text()
    assert "First heading\n-------------" in text
    assert "a link <https://example.org/first>" in text
    page.get_by_role("tab", name="Headers").click()
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in page.locator(
        "#headers").inner_text()
    page.get_by_role("tab", name="Checks").click()
    assert "0 errors" in page.get_by_role("tab", name="Checks").inner_text()
    page.close()


def test_images_that_cannot_load_keep_their_box_and_alt_text(browser: Any,
                                                            server: Running) -> None:
    page = open_page(browser, server.url)  # every request off the preview server fails
    alt = "A photo on the web"
    logo = page.frame_locator("#desktop").get_by_alt_text(alt)
    logo.wait_for(timeout=WAIT)
    # the page's script marks the image once its load has failed: wait for that, not 300 ms
    page.frame_locator("#desktop").locator(f'img.bulletin-preview-broken[alt="{alt}"]') \
        .wait_for(timeout=WAIT)
    assert "bulletin-preview-broken" in (logo.get_attribute("class") or "")
    box = logo.bounding_box()
    assert box["width"] == 220 and box["height"] >= 40
    # A local image (the logo) is in the preview itself: it loads with no server.
    local = page.frame_locator("#desktop").locator(".bulletin-logo-light img")
    assert local.evaluate("img => img.complete && img.naturalWidth") > 0
    page.close()


def test_editing_the_file_updates_the_open_page(browser: Any, server: Running) -> None:
    issue: Path = server.issue  # type: ignore[attr-defined]
    page = open_page(browser, server.url)
    page.frame_locator("#desktop").get_by_text("First heading").wait_for(timeout=WAIT)

    issue.write_text(issue.read_text().replace("First heading", "Edited heading"))
    page.frame_locator("#desktop").get_by_text("Edited heading").wait_for(timeout=WAIT)

    issue.write_text(issue.read_text().replace("  - heading:", "  - heding:"))
    error = page.locator("#error")
    error.wait_for(timeout=WAIT)
    assert f"{issue}:7: sections[0].heding: unknown key 'heding'" in error.inner_text()

    issue.write_text(issue.read_text().replace("  - heding: Edited heading",
                                               "  - heading: Fixed heading"))
    page.frame_locator("#desktop").get_by_text("Fixed heading").wait_for(timeout=WAIT)
    assert page.locator("#error").count() == 0
    page.close()


def test_template_change_is_picked_up(browser: Any, server: Running, workspace: Path) -> None:
    page = open_page(browser, server.url)
    page.frame_locator("#desktop").get_by_text("Share Bulletin").wait_for(timeout=WAIT)
    template = workspace / "templates" / "default" / "email.mjml.j2"
    heading = '<h3>{{ every("Share Bulletin") }}</h3>'
    assert heading in template.read_text()
    template.write_text(template.read_text().replace(heading, "<h3>Pass it on</h3>"))
    page.frame_locator("#desktop").get_by_text("Pass it on").wait_for(timeout=WAIT)
    page.close()


def test_ctrl_c_stops_cleanly_with_a_page_open(browser: Any, server: Running) -> None:
    page = open_page(browser, server.url)
    page.frame_locator("#desktop").get_by_text("First heading").wait_for(timeout=WAIT)
    server.process.send_signal(signal.SIGINT)
    out, err = server.process.communicate(timeout=SAFETY)
    assert server.process.returncode == 0
    # It stopped without waiting out the page's open event stream: uvicorn says when it had
    # to cut a response short after its graceful-shutdown timeout (a clock-free check, where
    # this used to assert that stopping took under 10 s).
    assert "timeout graceful shutdown exceeded" not in err, err
    assert "Traceback" not in err and "Traceback" not in out
    assert "Preview stopped." in out
    page.close()


def test_a_port_in_use_is_a_one_line_error(write_issue: Callable[..., Path]) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        process = start(write_issue(ISSUE), "--port", str(port))
        _, err = process.communicate(timeout=SAFETY)
    finally:
        taken.close()
    assert process.returncode == 1
    assert err.strip() == f"Error: port {port} on 127.0.0.1 is in use; choose another with --port"


def test_screenshots_are_pngs_of_the_email(tmp_path: Path) -> None:
    from tests.conftest import EXAMPLE
    result = CliRunner().invoke(app, ["screenshot", str(EXAMPLE), "--out", str(tmp_path),
                                      "--width", "600", "--width", "375", "--width", "320"])
    assert result.exit_code == 0, result.output
    for width in (600, 375, 320):
        path = tmp_path / f"cohes3ion-04-{width}.png"
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert image.width == width
            assert image.height > 1500  # full page, not the 800 px viewport
            rgb = image.convert("RGB")
            assert rgb.getpixel((5, 5)) == (0x32, 0x32, 0x32)  # the dark banner
            colours = rgb.getcolors(maxcolors=1 << 20) or []
            assert len(colours) > 50  # text and links, not a blank page


def test_screenshot_rejects_a_silly_width(tmp_path: Path) -> None:
    from tests.conftest import EXAMPLE
    result = CliRunner().invoke(app, ["screenshot", str(EXAMPLE), "--out", str(tmp_path),
                                      "--width", "5"])
    assert result.exit_code == 1
    assert "--width 5: choose a width from 200 to 2560 pixels" in result.output
