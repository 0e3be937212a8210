"""What a process loads decides what it holds to its end: modules that only hold rendered
issues must not import the rendering stack, and the CLI must not import every command's
libraries to start one. Each probe runs in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.waiting import SAFETY

pytestmark = pytest.mark.slow  # a new Python process for each check

RENDERING = ("jinja2", "mjml", "premailer", "lxml", "cssutils", "requests", "babel",
             "markdown_it")
EXAMPLE = ROOT / "issues" / "cohes3ion-04.yaml"
STORE = ("sqlalchemy", "alembic", "psycopg")
WEB = ("fastapi", "starlette", "uvicorn", "watchfiles", "playwright")


def imported_by(statements: str) -> set[str]:
    """The top-level packages in sys.modules after running `statements` in a new process."""
    probe = (f"{statements}\nimport json, sys\n"
             "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=SAFETY, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize("module", ["bulletin.render", "bulletin.personalise",
                                    "bulletin.message"])
def test_holding_rendered_issues_does_not_import_the_renderer(module: str) -> None:
    assert imported_by(f"import {module}") & {*RENDERING, *STORE, *WEB} == set()


def test_rendering_still_imports_what_it_needs_when_it_runs() -> None:
    loaded = imported_by("from pathlib import Path\nfrom bulletin.workflow import prepare\n"
                         f"prepare(Path({str(EXAMPLE)!r}))")
    assert {"jinja2", "mjml", "premailer", "lxml", "babel", "markdown_it"} <= loaded
    assert loaded & {*STORE, *WEB} == set()


@pytest.mark.parametrize("module", ["bulletin.cli.subscribers", "bulletin.cli.send",
                                    "bulletin.cli.serve", "bulletin.cli.authoring",
                                    "bulletin.cli"])
def test_each_cli_module_imports_on_its_own(module: str) -> None:
    assert "bulletin" in imported_by(f"import {module}")


def test_starting_the_cli_loads_no_command_s_libraries() -> None:
    """What `bulletin send` holds while its render child runs: the CLI and no more."""
    assert imported_by("import bulletin.cli, bulletin.send.outgoing") & {
        *RENDERING, *STORE, *WEB, "pydantic", "yaml", "asyncio", "ssl"} == set()
