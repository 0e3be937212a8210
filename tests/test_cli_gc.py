"""`bulletin render` runs without the cyclic garbage collector (nearly all it allocates is its
imports, kept to the end) and leaves it as it found it; the `bulletin` command freezes what
exists when it ends, so that shutdown does not walk it all again, and still writes every
file and runs its exit handlers."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bulletin import workflow
from bulletin.cli import app
from tests.conftest import EXAMPLE
from tests.waiting import SAFETY


def example(workspace: Path) -> Path:
    issue = workspace / "issues" / EXAMPLE.name
    issue.write_text(EXAMPLE.read_text())
    return issue


def test_a_render_runs_without_the_collector_and_leaves_it_on(
        workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writing = workflow.write_outputs
    enabled: list[bool] = []

    def write_outputs(*args: Any) -> list[Path]:
        enabled.append(gc.isenabled())
        return writing(*args)

    monkeypatch.setattr(workflow, "write_outputs", write_outputs)
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    result = CliRunner().invoke(app, ["render", str(example(workspace)), "--out",
                                      str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert enabled == [False]
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen  # only the command's own process freezes


def test_a_render_that_fails_leaves_the_collector_on(workspace: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["render", str(workspace / "issues" / "missing.yaml"),
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert gc.isenabled()


EXITING = """
import atexit, sys
done = sys.argv[2]
atexit.register(lambda: open(done, "w").write("exit handlers ran"))
sys.argv[1:] = ["render", sys.argv[1], "--out", sys.argv[3]]
from bulletin.cli import main
main()
"""


def test_the_command_writes_its_files_and_runs_its_exit_handlers(workspace: Path,
                                                                 tmp_path: Path) -> None:
    issue = example(workspace)
    done = subprocess.run([sys.executable, "-c", EXITING, str(issue), str(tmp_path / "atexit"),
                           str(tmp_path / "out")], capture_output=True, text=True,
                          timeout=SAFETY, env={**os.environ, "BULLETIN_SECRET_KEY": "k" * 32})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "atexit").read_text() == "exit handlers ran"
    assert (tmp_path / "out" / f"{issue.stem}.html").stat().st_size > 10_000
    assert (tmp_path / "out" / f"{issue.stem}.eml").read_bytes().endswith(b"\n")
    assert done.stdout.count("wrote ") == 3
