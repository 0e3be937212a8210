"""Published images: `bulletin send` and `send-test` put an issue's local images in the store
before the first message, `bulletin serve` answers them (GET, HEAD, ETag, 304, long-lived
cache headers), `bulletin media export` writes them; a bad image sends nothing."""

from __future__ import annotations

import email
import io
import re
from email import policy
from pathlib import Path

import lxml.html
import pytest
from PIL import Image
from typer.testing import CliRunner

from bulletin.cli import app
from tests.smtp_server import SmtpServer, use_server
from tests.test_images import make_bad, photo
from tests.web_helpers import Web

pytest_plugins = ["tests.web_fixtures"]
pytestmark = pytest.mark.slow  # a real service, a real SMTP server, whole sends

ISSUE = """\
newsletter: cohes3ion
date: 2022-01-31
subject: Images
sections:
  - heading: A photo
    image: {{src: "{src}", alt: "The science park"}}
    body: Words.
"""


def bulletin(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    return result.exit_code, result.output


def image_urls(raw: bytes, alt: str = "The science park") -> list[str]:
    message = email.message_from_bytes(raw, policy=policy.default)
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    return [img.get("src") for img in lxml.html.document_fromstring(html).iter("img")
            if img.get("alt") == alt]


def test_a_sent_issue_s_images_are_served_with_cache_headers(web: Web) -> None:
    photo(web.root / "issues" / "park.jpg")
    issue = web.root / "issues" / "images.yaml"
    issue.write_text(ISSUE.format(src="park.jpg"))
    web.add("ann@example.org")
    code, output = bulletin("send", str(issue), "--yes")
    assert code == 0, output
    web.received(1)
    (url,) = [u for u in image_urls(web.smtp.received[0].content) if "/media/" in u]
    assert url.startswith(f"{web.url}/media/") and url.endswith(".jpg")
    path = url.removeprefix(web.url)

    got = web.http.get(path)
    assert got.status_code == 200
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["cache-control"] == "public, max-age=31536000, immutable"
    etag = got.headers["etag"]
    with Image.open(io.BytesIO(got.content)) as served:
        assert served.size == (1104, 736) and not served.getexif()

    head = web.http.head(path)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == etag
    assert int(head.headers["content-length"]) == len(got.content)

    again = web.http.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert web.http.get(path, headers={"If-None-Match": '"other"'}).status_code == 200

    logos = image_urls(web.smtp.received[0].content, "Llywodraeth Cymru / Welsh Government")
    assert len(logos) == 2  # the logo, and the one for dark mode
    for logo in logos:
        assert web.http.get(logo.removeprefix(web.url)).headers["content-type"] == "image/png"

    for missing in ("/media/" + "0" * 20 + ".jpg", "/media/../bulletin.db", "/media/x.svg"):
        assert web.http.get(missing).status_code == 404, missing
        assert web.http.head(missing).status_code == 404, missing

    out = web.root / "exported"
    code, output = bulletin("media", "export", str(out), "--config",
                            str(web.root / "bulletin.toml"))
    assert code == 0, output
    assert (out / path.rpartition("/")[2]).read_bytes() == got.content


def test_send_test_publishes_before_it_sends(web: Web) -> None:
    photo(web.root / "issues" / "park.png", (900, 300), "PNG")
    issue = web.root / "issues" / "images.yaml"
    issue.write_text(ISSUE.format(src="park.png"))
    code, output = bulletin("send-test", str(issue), "--to", "me@example.org")
    assert code == 0, output
    (url,) = [u for u in image_urls(web.smtp.received[0].content) if "/media/" in u]
    got = web.http.get(url.removeprefix(web.url))
    assert got.status_code == 200 and got.headers["content-type"] == "image/png"


@pytest.mark.parametrize("kind", ["missing", "text", "svg", "huge"])
def test_a_bad_image_sends_nothing(workspace: Path, monkeypatch: pytest.MonkeyPatch,
                                   kind: str) -> None:
    with SmtpServer() as server:
        use_server(workspace, server.port)
        monkeypatch.setenv("BULLETIN_SECRET_KEY", "k" * 32)
        monkeypatch.delenv("BULLETIN_DATABASE_URL", raising=False)
        src = make_bad(workspace / "issues", kind)
        issue = workspace / "issues" / "images.yaml"
        issue.write_text(ISSUE.format(src=src))
        for command in (["send-test", str(issue), "--to", "me@example.org"],
                        ["send", str(issue), "--yes"], ["check", str(issue)]):
            code, output = bulletin(*command)
            assert code == 1, output
            assert re.fullmatch(rf"Error: {re.escape(str(issue))}:6: {re.escape(src)}: .+\n",
                                output.replace("\n", " ").rstrip() + "\n"), output
            assert len(output.strip().splitlines()) <= 2, output  # one line (wrapped at most)
        assert server.received == []


def test_the_web_pages_show_the_logo_for_dark_backgrounds_from_media(web: Web) -> None:
    page = lxml.html.document_fromstring(web.http.get("/subscribe/cohes3ion").text)
    (logo,) = page.xpath("//header[contains(@class, 'banner')]//img")
    assert logo.get("alt") == "Llywodraeth Cymru / Welsh Government"
    assert logo.get("class") is None  # it has a logo of its own for dark backgrounds
    src = logo.get("src")
    assert src.startswith(f"{web.url}/media/") and src.endswith(".png")
    got = web.http.get(src.removeprefix(web.url))
    assert got.status_code == 200 and got.headers["content-type"] == "image/png"
    dark = Image.open(web.root / "brand" / "llywodraeth-cymru-welsh-government-dark.png")
    with Image.open(io.BytesIO(got.content)) as served:  # the light-lettered one
        assert served.size == (440, round(440 * dark.height / dark.width))
        raw = served.convert("RGBA").tobytes()
        opaque = [tuple(raw[i:i + 3]) for i in range(0, len(raw), 4) if raw[i + 3] > 200]
        assert opaque and not any(r + g + b < 150 for r, g, b in opaque)  # no dark ink
