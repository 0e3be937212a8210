"""What `bulletin render` keeps between commands (bulletin.usercache: compiled templates,
processed local images) makes the same files as a render without it, follows every change
of a template or an image, and is never needed. Each render runs in a fresh interpreter, as
the command does, with its own cache folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLE
from tests.waiting import SAFETY

RENDER = """
import sys
from typer.testing import CliRunner
from bulletin.cli import app
result = CliRunner().invoke(app, ["render", sys.argv[1], "--out", sys.argv[2]])
assert result.exit_code == 0, result.output
print("PIL.Image" in sys.modules)
"""


def render(issue: Path, out: Path, cache: Path) -> tuple[bool, str, str]:
    """(whether Pillow's image module was loaded, the .html, the .txt)."""
    done = subprocess.run([sys.executable, "-c", RENDER, str(issue), str(out)],
                          capture_output=True, text=True, timeout=SAFETY,
                          env={**os.environ, "XDG_CACHE_HOME": str(cache),
                               "BULLETIN_SECRET_KEY": "k" * 32})  # the same links each time
    assert done.returncode == 0, done.stderr
    return (done.stdout.strip() == "True", (out / f"{issue.stem}.html").read_text(),
            (out / f"{issue.stem}.txt").read_text())


def example(workspace: Path) -> Path:
    issue = workspace / "issues" / EXAMPLE.name
    issue.write_text(EXAMPLE.read_text())
    return issue


def test_a_second_render_uses_the_images_kept_and_makes_the_same_files(
        workspace: Path, tmp_path: Path) -> None:
    issue = example(workspace)
    pillow, html, text = render(issue, tmp_path / "first", tmp_path / "cache")
    assert pillow and "data:image/png;base64," in html  # the logo, processed
    assert render(issue, tmp_path / "again", tmp_path / "cache") == (False, html, text)


def test_a_changed_image_or_template_is_made_again(workspace: Path, tmp_path: Path) -> None:
    issue = example(workspace)
    first = render(issue, tmp_path / "first", tmp_path / "cache")
    logo = workspace / "brand" / "llywodraeth-cymru-welsh-government.png"
    shutil.copy(logo.with_name(logo.stem + "-dark.png"), logo)  # other pixels, kept already
    template = workspace / "templates" / "default" / "email.txt.j2"
    template.write_text(template.read_text() + "A line the theme gained\n")
    kept = render(issue, tmp_path / "kept", tmp_path / "cache")
    fresh = render(issue, tmp_path / "fresh", tmp_path / "fresh-cache")
    assert kept[1:] == fresh[1:] and kept[1] != first[1]
    assert "A line the theme gained" in fresh[2]


def test_a_cache_folder_that_cannot_be_made_costs_only_time(workspace: Path,
                                                             tmp_path: Path) -> None:
    issue = example(workspace)
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a folder")
    assert render(issue, tmp_path / "one", in_the_way)[1:] == render(
        issue, tmp_path / "two", tmp_path / "cache")[1:]
