"""`bulletin serve` as a real process: it answers, stops cleanly on Ctrl-C, and refuses to
start without the key its links are signed with, or on a port in use, with one line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bulletin.store import Store
from tests.waiting import SAFETY
from tests.web_helpers import KEY

pytestmark = pytest.mark.slow  # bulletin serve as a real process


def serve(workspace: Path, *args: str, key: str | None = KEY) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("BULLETIN_CONFIG", "BULLETIN_SECRET_KEY", "BULLETIN_DATABASE_URL")}
    if key is not None:
        env["BULLETIN_SECRET_KEY"] = key
    return subprocess.Popen([sys.executable, "-m", "bulletin", "serve", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=workspace)


def test_serve_answers_and_stops_on_ctrl_c(workspace: Path) -> None:
    process = serve(workspace, "--port", "0")
    try:
        line = process.stdout.readline() if process.stdout else ""
        assert "Serving subscriber pages at http://127.0.0.1:" in line, (
            line, process.stderr.read() if process.stderr else "")
        url = line.split(" at ", 1)[1].split(" ", 1)[0]
        assert httpx.get(url + "health", timeout=SAFETY).json() == {"status": "ok"}
        page = httpx.get(url + "subscribe/cohes3ion", timeout=SAFETY)
        assert page.status_code == 200 and "Subscribe to Cohes3ion Newsletter" in page.text
        process.send_signal(signal.SIGINT)
        out, errors = process.communicate(timeout=SAFETY)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, errors
    assert "Stopped." in out
    assert "Traceback" not in errors
    # no [smtp] in the workspace: said once, and everything else works
    assert "Warning: subscribing is unavailable" in errors
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:  # a list each
        assert {"cohes3ion", "cohes3ion-bilingual"} <= set(store.list_names())


def test_serve_refuses_to_start_without_the_key(workspace: Path) -> None:
    process = serve(workspace, "--port", "0", key=None)
    _out, errors = process.communicate(timeout=SAFETY)
    assert process.returncode == 1
    assert errors.startswith("Error: set BULLETIN_SECRET_KEY")
    assert len(errors.strip().splitlines()) == 1 and "Traceback" not in errors
    process = serve(workspace, "--port", "0", key="short")
    _out, errors = process.communicate(timeout=SAFETY)
    assert process.returncode == 1 and "BULLETIN_SECRET_KEY" in errors


def test_serve_on_a_port_in_use_is_one_line(workspace: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        process = serve(workspace, "--port", str(port))
        _out, errors = process.communicate(timeout=SAFETY)
    assert process.returncode == 1
    assert f"Error: port {port} on 127.0.0.1 is in use" in errors
    assert "Traceback" not in errors
