"""`bulletin check` on images: alt text that is a file name, the weight of an issue's images
against [media] budget, and (with --fetch-images) a remote image far wider than shown,
measured from a real HTTP server on loopback."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from bulletin.cli import app
from bulletin.imagechecks import is_file_name
from tests.test_images import photo


def check(issue: Path, *options: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(app, ["check", str(issue), *options])
    assert "Traceback" not in result.output, result.output
    return result.exit_code, result.output.splitlines()


def findings(lines: list[str], code: str) -> list[str]:
    return [line for line in lines if f" {code} " in line]


@pytest.mark.parametrize("alt", ["IMG_2231.jpg", "photos/park.PNG", "DSC 0042", "Screenshot_2024"])
def test_alt_text_that_is_a_file_name_is_a_warning(write_issue: Callable[[str, str], Path],
                                                    alt: str) -> None:
    issue = write_issue(f"""
        newsletter: cohes3ion
        date: 2022-01-31
        subject: Alt text
        sections:
          - heading: A photo
            image:
              src: "https://example.org/park.jpg"
              alt: "{alt}"
        """)
    code, lines = check(issue)
    (line,) = findings(lines, "image-alt-file-name")
    assert line.startswith(f"warning image-alt-file-name {issue}:8: the alt text '{alt}'")
    assert code == 0


def test_a_logo_s_alt_text_that_is_a_file_name_is_a_warning_on_bulletin_toml_s_line(
        workspace: Path, write_issue: Callable[[str, str], Path]) -> None:
    config = workspace / "bulletin.toml"
    rows = config.read_text().split("\n")
    line = next(n for n, row in enumerate(rows, 1) if row.startswith("alt = "))
    rows[line - 1] = 'alt = "wg-logo.png"'
    config.write_text("\n".join(rows))
    issue = write_issue("""
        newsletter: cohes3ion
        date: 2022-01-31
        subject: Alt text
        sections:
          - heading: Words
            body: Words.
        """)
    code, lines = check(issue)
    (found,) = findings(lines, "image-alt-file-name")
    assert found.startswith(f"warning image-alt-file-name {config}:{line}: the logo's alt text "
                            "'wg-logo.png' is a file name")
    assert code == 0


@given(st.text(alphabet=st.characters(categories=["L", "Zs"]), min_size=1, max_size=40))
def test_words_are_not_a_file_name(words: str) -> None:
    assert not is_file_name(words)


def test_images_over_the_budget_are_a_warning(workspace: Path,
                                              write_issue: Callable[[str, str], Path]) -> None:
    config = workspace / "bulletin.toml"
    config.write_text(config.read_text() + "\n[media]\nbudget = 20000\n")
    photo(workspace / "issues" / "park.jpg")
    issue = write_issue("""
        newsletter: cohes3ion
        date: 2022-01-31
        subject: Heavy
        sections:
          - heading: A photo
            image: {src: park.jpg, alt: "The park"}
        """)
    code, lines = check(issue)
    (line,) = findings(lines, "image-weight")
    assert f"{issue}:6: the images weigh " in line and "over the 20 KB budget" in line
    assert code == 0
    config.write_text(config.read_text().replace("budget = 20000", "budget = 10000000"))
    assert findings(check(issue)[1], "image-weight") == []


@pytest.fixture
def image_server(tmp_path: Path) -> Iterator[str]:
    photo(tmp_path / "big.jpg", (2400, 1200))
    photo(tmp_path / "fine.jpg", (1104, 552))
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, *args: object) -> None:
            pass  # a client that stops reading once it has the image's size is no error

    # The server's thread writes to stderr, which the CLI runner takes as the command's.
    server = Server(("127.0.0.1", 0), partial(Quiet, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_remote_image_far_wider_than_shown_is_a_warning_when_fetched(
        image_server: str, write_issue: Callable[[str, str], Path]) -> None:
    issue = write_issue(f"""
        newsletter: cohes3ion
        date: 2022-01-31
        subject: Remote
        sections:
          - heading: Too wide
            image: {{src: "{image_server}/big.jpg", alt: "Big"}}
          - heading: Right
            image: {{src: "{image_server}/fine.jpg", alt: "Fine"}}
          - heading: Gone
            image: {{src: "{image_server}/missing.jpg", alt: "Gone"}}
        """)
    code, lines = check(issue, "--fetch-images")
    (line,) = findings(lines, "image-too-wide")
    assert line.startswith(f"warning image-too-wide {issue}:6: image {image_server}/big.jpg "
                           "is 2400 px wide but shown at 552 px")
    assert len(findings(lines, "insecure-image")) == 3  # plain http, each
    assert findings(check(issue)[1], "image-too-wide") == []  # not fetched unless asked
    assert code == 0


def test_an_animated_gif_with_a_blank_first_frame_is_a_warning(
        workspace: Path, write_issue: Callable[[str, str], Path]) -> None:
    from PIL import Image

    frames = [Image.new("RGB", (300, 150), "white"), Image.new("RGB", (300, 150), "red")]
    frames[1].paste((0, 0, 255), (0, 0, 100, 150))
    frames[0].save(workspace / "issues" / "anim.gif", "GIF", save_all=True,
                   append_images=frames[1:], duration=500, loop=0)
    issue = write_issue("""
        newsletter: cohes3ion
        date: 2022-01-31
        subject: Animated
        sections:
          - heading: An animation
            image: {src: anim.gif, alt: "Sales rising"}
        """)
    (line,) = findings(check(issue)[1], "gif-first-frame")
    assert line.startswith(f"warning gif-first-frame {issue}:6: an animated GIF's first frame")
    frames.reverse()
    frames[0].save(workspace / "issues" / "anim.gif", "GIF", save_all=True,
                   append_images=frames[1:], duration=500, loop=0)
    assert findings(check(issue)[1], "gif-first-frame") == []
