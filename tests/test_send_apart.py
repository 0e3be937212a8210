"""`bulletin send` renders the issue in a child process (bulletin.send.outgoing), so that the
process that sends never holds the rendering stack: what that process imports, and that
nothing else changes for the user (one-line errors, exit codes, Ctrl-C)."""

from __future__ import annotations

import email
import json
import os
import signal
import subprocess
import sys
from email import policy
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bulletin.cli import app
from bulletin.errors import IssueError, RenderError
from bulletin.send import outgoing
from tests.conftest import EXAMPLE, ROOT
from tests.processes import child_processes
from tests.smtp_server import SmtpServer
from tests.waiting import SAFETY, wait_for

pytestmark = pytest.mark.slow  # bulletin send as real processes

NEVER_IN_THE_SENDER = {"jinja2", "mjml", "premailer", "lxml", "cssutils", "requests",
                       "babel", "markdown_it", "yaml", "alembic", "mako", "pygments",
                       "fastapi", "starlette", "uvicorn"}
# `python -m bulletin ...` with one addition: at exit, the modules it holds go to a file.
RUN_RECORDING_MODULES = """\
import atexit, json, os, runpy, sys
def record():
    with open(os.environ["RECORD_MODULES"], "w") as out:
        json.dump(sorted(sys.modules), out)
atexit.register(record)
sys.argv[0] = "bulletin"
runpy.run_module("bulletin", run_name="__main__", alter_sys=True)
"""


pytest_plugins = ["tests.send_fixtures"]


def environment() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("BULLETIN_CONFIG", None)
    return env


def test_the_sending_process_never_imports_the_renderer(setup: Path, server: SmtpServer,
                                                        tmp_path: Path) -> None:
    record = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", RUN_RECORDING_MODULES, "send",
         str(setup / "issues" / EXAMPLE.name), "--yes"],
        cwd=setup, env={**environment(), "RECORD_MODULES": str(record)},
        capture_output=True, text=True, timeout=SAFETY)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 sent, 0 failed" in done.stdout
    held = {name.split(".")[0] for name in json.loads(record.read_text())}
    assert "sqlalchemy" in held  # the record is the sender's
    assert held & NEVER_IN_THE_SENDER == set()
    # ... and the child did render: the messages are the whole issue.
    assert len(server.received) == 3
    message = email.message_from_bytes(server.received[0].content, policy=policy.default)
    html = message.get_body(("html",)).get_content()
    assert "Regional Action Plans Published" in html and "<!doctype html>" in html.lower()


def test_a_yaml_mistake_is_still_one_line_and_exit_1(setup: Path) -> None:
    bad = setup / "issues" / "bad.yaml"
    bad.write_text((ROOT / "tests" / "contract" / "bad" / "unclosed-quote.yaml").read_text())
    done = subprocess.run([sys.executable, "-m", "bulletin", "send", str(bad), "--yes"],
                          cwd=setup, env=environment(), capture_output=True, text=True,
                          timeout=SAFETY)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"Error: {bad}:4: invalid YAML: unclosed quote (found unexpected end of stream); "
        "close the quote"]
    assert done.stdout == ""


def test_a_theme_mistake_is_still_one_line_and_exit_1(setup: Path) -> None:
    template = setup / "templates" / "default" / "email.mjml.j2"
    template.write_text("<mjml>\n{% if %}\n</mjml>\n")
    result = CliRunner().invoke(app, ["send", str(setup / "issues" / EXAMPLE.name), "--yes"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"Error: {template}:2: template error: Expected an expression, got 'end of "
        "statement block'"]


def test_the_errors_of_the_child_cross_over_as_they_were(setup: Path) -> None:
    with pytest.raises(IssueError, match=r"missing\.yaml: no such file$"):
        outgoing.render_apart(setup / "issues" / "missing.yaml")
    sent = outgoing.render_apart(setup / "issues" / EXAMPLE.name)
    here = outgoing.render_here(setup / "issues" / EXAMPLE.name)
    assert sent.key == here.key == "cohes3ion/cohes3ion-04"
    assert [e.rendered.html for e in sent.editions] == [e.rendered.html for e in here.editions]
    assert sent.editions[0].public_html == here.editions[0].public_html


@pytest.mark.parametrize(("child", "said"), [
    ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n", "was killed by SIGKILL"),
    ("raise SystemExit(3)\n", r"stopped \(exit status 3\)"),
    ("import sys\nsys.path.insert(0, {root!r})\nimport bulletin.send.outgoing as o\n"
     "def boom(*args): raise ZeroDivisionError('boom')\no.render_here = boom\no._child()\n",
     r"failed: ZeroDivisionError: boom \(traceback above\)"),
])
def test_a_child_that_fails_is_one_error_naming_the_issue(
        child: str, said: str, setup: Path, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(outgoing, "_CHILD", child)
    issue = setup / "issues" / EXAMPLE.name
    with pytest.raises(RenderError, match=f"^{issue}: rendering, in a child process, {said}$"):
        outgoing.render_apart(issue)
    if "boom" in child:
        assert "ZeroDivisionError: boom" in capfd.readouterr().err  # the child's traceback


def test_ctrl_c_while_the_child_renders_stops_the_command_as_before(setup: Path) -> None:
    """SIGINT to the whole process group, as the terminal sends it, once the render child
    exists: the command exits 130 without a word (typer's way with KeyboardInterrupt, as
    when it rendered in-process), no traceback from either process, and the child is
    gone."""
    command = [sys.executable, "-m", "bulletin", "send", str(setup / "issues" / EXAMPLE.name),
               "--yes"]
    process = subprocess.Popen(command, cwd=setup, env=environment(), start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        children: list[int] = []

        def child_or_end() -> bool:
            children[:] = child_processes(process.pid)
            return bool(children) or process.poll() is not None

        wait_for(child_or_end, "the render child to appear")
        assert children, "the render child never appeared"
        os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=SAFETY)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 130
    assert err == "", err
    assert "To send" not in out  # it stopped before the plan
    for child in children:
        assert not Path(f"/proc/{child}").exists()
