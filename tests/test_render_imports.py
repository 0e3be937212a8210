"""`bulletin render` imports only what a render needs: premailer's requests (a third of the
command's time, there only to fetch remote stylesheets, which a render never does) is not
imported; anything that does use requests still gets the real module. Each case runs in a
fresh interpreter, so what this process has imported cannot hide anything."""

from __future__ import annotations

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
print(sorted(name for name in sys.modules if name == "requests" or name.startswith("requests.")))
"""
UNNEEDED = ("bulletin.checks", "bulletin.parity", "bulletin.imagechecks")
RENDER_LOADS = (RENDER.rsplit("print(", 1)[0]
                + f"print(sorted(set({UNNEEDED!r}) & set(sys.modules)))")


def run(code: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=SAFETY)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_render_does_not_import_requests(workspace: Path, tmp_path: Path) -> None:
    issue = workspace / "issues" / EXAMPLE.name
    issue.write_text(EXAMPLE.read_text())
    assert run(RENDER, str(issue), str(tmp_path / "out")) == "[]"
    assert (tmp_path / "out" / f"{EXAMPLE.stem}.html").stat().st_size > 10_000


def test_a_render_does_not_import_the_checks(workspace: Path, tmp_path: Path) -> None:
    """The pre-send checks (parity's rules, the image checks, lxml parsing) load only where
    checks run: `bulletin check`, send, the preview."""
    issue = workspace / "issues" / EXAMPLE.name
    issue.write_text(EXAMPLE.read_text())
    assert run(RENDER_LOADS, str(issue), str(tmp_path / "out")) == "[]"
    assert (tmp_path / "out" / f"{EXAMPLE.stem}.eml").is_file()


def test_requests_is_the_real_module_to_everyone_after_premailer_is_loaded() -> None:
    code = """
import sys
from bulletin import render
render._inliner()
assert "requests" not in sys.modules
import premailer.premailer as loaded
import requests
from requests.adapters import HTTPAdapter
assert type(requests).__name__ == "module" and sys.modules["requests"] is requests
assert loaded.requests.get is requests.get and loaded.requests.Session is requests.Session
print("ok")
"""
    assert run(code) == "ok"


def test_requests_already_imported_is_left_as_it_is() -> None:
    code = """
import sys, requests
from bulletin import render
render._inliner()
import premailer.premailer as loaded
assert loaded.requests is requests is sys.modules["requests"]
print("ok")
"""
    assert run(code) == "ok"
