"""Scheduled sends run by the real `bulletin serve` (or `bulletin worker`) process, to a real
SMTP server (aiosmtpd): a schedule starts at its time; one missed by more than its grace
period while nothing ran is not sent by itself, and `bulletin schedule list` says how to send
it now; two services on one PostgreSQL store send it once; a cancel mid-send stops it, the
report says how many went before, and `bulletin send` resumes. Every wait is by progress
(tests/waiting.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bulletin.cli import app
from bulletin.store.schedules import ScheduleRecord
from bulletin.store.store import Store
from tests.conftest import EXAMPLE
from tests.smtp_server import SmtpServer, ready_to_send
from tests.waiting import SAFETY, wait_for

pytest_plugins = ["tests.store_fixtures"]
pytestmark = pytest.mark.slow  # bulletin serve as a real process, sending

KEY = "cohes3ion/cohes3ion-04"


class Serving:
    """`bulletin serve` in the workspace, its output collected as it comes."""

    def __init__(self, workspace: Path, database_url: str | None = None,
                 command: tuple[str, ...] = ("serve", "--port", "0")) -> None:
        env = {k: v for k, v in os.environ.items()
               if k not in ("BULLETIN_CONFIG", "BULLETIN_DATABASE_URL")}
        env["XDG_STATE_HOME"] = str(workspace / "state")
        if database_url:
            env["BULLETIN_DATABASE_URL"] = database_url
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bulletin", *command], cwd=workspace, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            self.lines.append(line)

    def said(self, text: str) -> int:
        return sum(text in line for line in self.lines)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        code = self.process.wait(SAFETY)
        self._reader.join(SAFETY)
        return code


def bulletin(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def prepare(workspace: Path, server: SmtpServer, monkeypatch: pytest.MonkeyPatch,
            people: list[str], url: str, **settings: object) -> Path:
    ready_to_send(workspace, server.port, monkeypatch, **settings)
    monkeypatch.setenv("BULLETIN_APPROVER", "Ann Sender")
    monkeypatch.chdir(workspace)
    with Store.open(url) as store:
        store.create_list("cohes3ion", newsletter="cohes3ion")
        for address in people:
            store.subscribe(address, "cohes3ion", source="test")
    return workspace / "issues" / EXAMPLE.name


def record(url: str, number: int = 1) -> ScheduleRecord:
    with Store.open(url) as store:
        return store.schedules.get(number)


def soon(seconds: float) -> str:
    return f"{datetime.now(UTC) + timedelta(seconds=seconds):%Y-%m-%d %H:%M:%S}"


def delivered(server: SmtpServer) -> Counter[str]:
    return Counter(r for message in server.received for r in message.rcpt_tos)


@pytest.mark.parametrize(("command", "first"), [
    (("serve", "--port", "0"), "schedule"),  # a schedule made while nothing runs
    (("worker",), "service"),  # one made while the service runs: seen within a cycle
], ids=["serve", "worker"])
def test_a_schedule_starts_at_its_time(workspace: Path, server: SmtpServer,
                                       monkeypatch: pytest.MonkeyPatch,
                                       command: tuple[str, ...], first: str) -> None:
    url = f"sqlite:///{workspace / 'bulletin.db'}"
    people = [f"reader{n}@example.org" for n in range(6)]
    issue = prepare(workspace, server, monkeypatch, people, url)
    if first == "service":
        serving = Serving(workspace, command=command)
        wait_for(lambda: serving.said("Sending scheduled issues"), "the service to start")
    code, output = bulletin("schedule", str(issue), "--at", soon(5), "--timezone", "UTC")
    assert code == 0 and "Scheduled #1" in output, output
    if first == "schedule":
        serving = Serving(workspace, command=command)
    try:
        done = wait_for(lambda: record(url).status == "sent" and record(url),
                        "the schedule to be sent")
    finally:
        assert serving.stop() == 0, "".join(serving.lines)
    assert done.claimed_at is not None and done.at <= done.claimed_at
    assert done.claimed_at - done.at < timedelta(seconds=60)
    assert delivered(server) == Counter(people) and done.report == "6 sent, 0 failed, " \
        "0 uncertain"
    assert "#1 sent" in bulletin("schedule", "list")[1]


def test_a_schedule_missed_while_nothing_ran_is_not_sent_by_itself(
        workspace: Path, server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{workspace / 'bulletin.db'}"
    issue = prepare(workspace, server, monkeypatch, ["ann@example.org"], url)
    assert bulletin("schedule", str(issue), "--at", soon(3600), "--timezone", "UTC")[0] == 0
    with Store.open(url) as store:  # the service was down for two hours past its time
        late = datetime.now(UTC) - timedelta(hours=2)
        with store.engine.begin() as connection:
            connection.exec_driver_sql("UPDATE schedules SET at = ?",
                                       (late.replace(tzinfo=None).isoformat(" "),))
    assert record(url).at.hour == late.hour
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    with Store.open(url) as store:  # #2: its service was killed while sending it
        store.schedules.add(KEY, str(issue), "cohes3ion", late, "then", grace=30,
                            created_by="Ann")
        assert store.schedules.claim(2, f"{socket.gethostname()}:{gone.stdout.strip()}:1")
    serving = Serving(workspace)
    try:
        wait_for(lambda: record(url).status == "missed", "the schedule to be marked missed")
        wait_for(lambda: record(url, 2).status == "stopped", "the dead service's to stop")
        wait_for(lambda: serving.said("missed: more than 30 minutes late; not sent"),
                 "the service to report it")
    finally:
        assert serving.stop() == 0, "".join(serving.lines)
    assert not server.received
    code, output = bulletin("schedule", "list")
    said = f"send it now with `bulletin send {issue} --list cohes3ion`"
    assert "#1 missed" in output and said in output, output
    assert "#2 stopped" in output and f"stopped; `bulletin send {issue} --list cohes3ion` " \
        "resumes it" in output, output
    code, output = bulletin("send", str(issue), "--list", "cohes3ion", "--yes")
    assert code == 0 and delivered(server) == Counter(["ann@example.org"]), output


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_services_on_one_store_send_a_schedule_once(
        workspace: Path, server: SmtpServer, monkeypatch: pytest.MonkeyPatch,
        database_url: str) -> None:
    people = [f"reader{n:03d}@example.org" for n in range(40)]
    issue = prepare(workspace, server, monkeypatch, people, database_url)
    monkeypatch.setenv("BULLETIN_DATABASE_URL", database_url)
    assert bulletin("schedule", str(issue), "--at", soon(6), "--timezone", "UTC")[0] == 0
    services = [Serving(workspace, database_url) for _ in range(2)]
    try:
        for service in services:  # (so that neither is stopped while it starts)
            wait_for(lambda: service.said("Sending scheduled issues"),  # noqa: B023
                     "both services to start")
        wait_for(lambda: record(database_url).status == "sent", "the schedule to be sent")
    finally:
        codes = [service.stop() for service in services]
    assert codes == [0, 0], [("".join(s.lines)) for s in services]
    assert delivered(server) == Counter(people)  # each once
    assert sum(service.said("schedule #1 (cohes3ion/cohes3ion-04 to cohes3ion at")
               and service.said(": starting") for service in services) == 1


def test_a_schedule_due_during_another_send_starts_at_its_time(
        workspace: Path, server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{workspace / 'bulletin.db'}"
    people = [f"reader{n:03d}@example.org" for n in range(60)]
    issue = prepare(workspace, server, monkeypatch, people, url, connections=1,
                    rate_per_second=5)  # each send takes 12 s at least
    other = issue.with_name("cohes3ion-05.yaml")
    other.write_text(issue.read_text())
    assert bulletin("schedule", str(issue), "--at", soon(2), "--timezone", "UTC")[0] == 0
    assert bulletin("schedule", str(other), "--at", soon(3), "--timezone", "UTC")[0] == 0
    serving = Serving(workspace)
    try:
        wait_for(lambda: record(url, 1).status == "sent" and record(url, 2).status == "sent",
                 "both scheduled sends to end")
    finally:
        assert serving.stop() == 0, "".join(serving.lines)
    assert delivered(server) == Counter(people * 2)
    with Store.open(url) as store:
        first = {row.action: row.at for row in store.issue_audit(KEY)}
        second = {row.action: row.at for row in store.issue_audit("cohes3ion/cohes3ion-05")}
    assert second["schedule-started"] < first["schedule-finished"]  # not after it


def test_a_cancel_mid_send_stops_it_and_send_resumes(workspace: Path, server: SmtpServer,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{workspace / 'bulletin.db'}"
    people = [f"reader{n:03d}@example.org" for n in range(60)]
    issue = prepare(workspace, server, monkeypatch, people, url, connections=1,
                    rate_per_second=10)
    assert bulletin("schedule", str(issue), "--at", soon(2), "--timezone", "UTC")[0] == 0
    serving = Serving(workspace)
    try:
        wait_for(lambda: len(server.received) >= 5, "the scheduled send to be under way")
        code, output = bulletin("schedule", "cancel", "1")
        assert code == 0 and "while it was being sent" in output, output
        done = wait_for(lambda: (r := record(url)).report and r, "the send to stop")
    finally:
        assert serving.stop() == 0, "".join(serving.lines)
    went = len(server.received)
    assert done.status == "cancelled" and 5 <= went < len(people)
    assert done.report == (f"cancelled during the send: {went} sent before the cancel; "
                           f"`bulletin send {issue} --list cohes3ion` resumes it")
    code, output = bulletin("send", str(issue), "--list", "cohes3ion", "--yes")
    assert code == 0, output
    assert delivered(server) == Counter(people)  # the rest, and nobody twice
