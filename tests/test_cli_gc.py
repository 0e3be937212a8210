"""`bulletin render` runs without the cyclic garbage collector (nearly all it allocates is its
imports, kept to the end) and leaves it as it found it; the `bulletin` command freezes what
exists when it ends, so that shutdown does not walk it all again, and still writes every
file and runs its exit handlers."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
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


SERVING = """
import gc, json, sys
import bulletin.web.server as server
serving = server.serve
def serve(app, sock, on_exit=lambda: None):
    async def answering(scope, receive, send):  # the collector's state, while it serves
        if scope["type"] == "http" and scope["path"] == "/gc-state":
            body = json.dumps([gc.isenabled(), gc.get_freeze_count()]).encode()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})
            return
        await app(scope, receive, send)
    serving(answering, sock, on_exit)
server.serve = serve
from bulletin.cli import main
main()
"""


@pytest.mark.slow
@pytest.mark.parametrize("command", ["serve", "preview"])
def test_the_long_running_commands_keep_the_collector_and_freeze_nothing(
        command: str, workspace: Path) -> None:
    """`bulletin serve` and `bulletin preview` (which renders again and again) run for as long
    as they are left to, with the collector on and nothing frozen: only `render` goes without
    it, and only the command's end freezes."""
    args = ["serve", "--port", "0"] if command == "serve" else \
        ["preview", str(example(workspace)), "--port", "0"]
    process = subprocess.Popen([sys.executable, "-c", SERVING, *args], cwd=workspace,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "BULLETIN_SECRET_KEY": "k" * 32})
    try:
        line = process.stdout.readline() if process.stdout else ""
        assert " at http://127.0.0.1:" in line, (line, process.stderr and process.stderr.read())
        url = line.split(" at ", 1)[1].split(" ", 1)[0]
        first = httpx.get(url, timeout=SAFETY)  # a page: the preview renders the issue
        assert first.status_code in (200, 404)
        assert httpx.get(url + "gc-state", timeout=SAFETY).json() == [True, 0]
        process.send_signal(signal.SIGINT)
        _out, errors = process.communicate(timeout=SAFETY)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, errors


def test_a_render_that_breaks_leaves_the_collector_on(workspace: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def write_outputs(*args: Any) -> list[Path]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(workflow, "write_outputs", write_outputs)
    result = CliRunner().invoke(app, ["render", str(example(workspace)), "--out",
                                      str(tmp_path / "out")])
    assert isinstance(result.exception, RuntimeError)
    assert gc.isenabled()
