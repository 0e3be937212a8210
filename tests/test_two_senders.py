"""Several `bulletin send` processes for one issue, as users run them: one per core on one
host (SQLite or PostgreSQL), or one per host sharing PostgreSQL. All start (each queues the
issue, the others finding the rows the first one made), share the work, exit 0, and every
subscriber gets exactly one message; each prints its own part ("Done in ...: N sent" counts
what it sent), the parts add up to the list, and `bulletin status` shows the whole. A sender
started after the others have finished finds nothing to send.

Each sender has a workspace of its own (its own bulletin.toml, as on a host of its own)
sending to an SMTP server of its own, so that what each server took is what that sender
sent; they share the database (BULLETIN_DATABASE_URL) and, on one host, the journals.

They are made to start together by progress, not by the clock: either the test holds a lock
on the ledger table that blocks inserts and lets them go once all their inserts wait for it
(PostgreSQL), or each is left at its confirmation prompt and all are answered once every one
is waiting there (both databases)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import text

from bulletin.store.ledger import QUEUEING_LOCKS
from bulletin.store.store import Store
from tests.conftest import EXAMPLE
from tests.smtp_server import SECRET_KEY, SmtpServer, ready_to_send, use_server
from tests.waiting import SAFETY, wait_for

pytest_plugins = ["tests.store_fixtures"]
pytestmark = pytest.mark.slow  # real senders

RECIPIENTS = 400
ISSUE = "cohes3ion/cohes3ion-04"
PROMPT = "recipients now? [y/N]"
DONE = re.compile(r"Done in [\d.]+ s: (\d+) sent, (\d+) failed, (\d+) uncertain")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_senders_started_together_send_everyone_once(
        workspace: Path, monkeypatch: pytest.MonkeyPatch, server: SmtpServer,
        database_url: str) -> None:
    setup = ready_to_send(workspace, server.port, monkeypatch, connections=2,
                          timeout=SAFETY)
    people = [f"reader{n:04d}@example.org" for n in range(RECIPIENTS)]
    csv = setup / "people.csv"
    csv.write_text("email\n" + "\n".join(people) + "\n")
    env = {**os.environ, "BULLETIN_DATABASE_URL": database_url,
           "XDG_STATE_HOME": str(setup / "state")}  # the senders' journals
    with Store.open(database_url) as store:
        store.create_list("cohes3ion", newsletter="cohes3ion")
        store.import_csv(csv, "cohes3ion")
        with store.engine.connect() as gate:
            gate.execute(text("LOCK TABLE ledger IN SHARE MODE"))  # no inserts until commit
            outputs = [setup / f"sender-{n}.txt" for n in (1, 2)]
            processes = []
            for output in outputs:
                with output.open("wb") as sink:
                    processes.append(subprocess.Popen(
                        [sys.executable, "-m", "bulletin", "send",
                         str(setup / "issues" / EXAMPLE.name), "--yes"],
                        cwd=setup, env=env, stdout=sink, stderr=subprocess.STDOUT))
            try:
                def both_wait_to_queue() -> bool:
                    with store.engine.connect() as watcher:
                        waiting = watcher.scalar(text(
                            "SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted "
                            "AND database = (SELECT oid FROM pg_database "
                            "WHERE datname = current_database()) "
                            "AND (relation = 'ledger'::regclass OR locktype = 'advisory' "
                            f"AND classid = {QUEUEING_LOCKS})"))
                    return waiting == 2 or any(p.poll() is not None for p in processes)

                wait_for(both_wait_to_queue, "both senders to wait to queue the issue")
                gate.commit()  # both go at once
                codes = [process.wait(SAFETY) for process in processes]
            finally:
                for process in processes:
                    if process.poll() is None:
                        process.kill()
                        process.wait()
        said = [output.read_text() for output in outputs]
        counts = store.ledger.counts("cohes3ion/cohes3ion-04")
    assert codes == [0, 0], said
    assert not any("Traceback" in text_ for text_ in said), said
    received = Counter(r for message in server.received for r in message.rcpt_tos)
    assert received == Counter(people)  # everyone, once
    assert counts["sent"] == RECIPIENTS and counts["pending"] == counts["sending"] == 0


# -- several senders, each with its own workspace and SMTP server ---------------------------------

def sender_folder(workspace: Path, folder: Path, port: int, connections: int = 2) -> Path:
    """A copy of `workspace` (bulletin.toml with no [smtp] yet) sending to the server at
    `port` over `connections`, with the example issue."""
    folder.mkdir()
    shutil.copy(workspace / "bulletin.toml", folder / "bulletin.toml")
    for name in ("brand", "templates", "issues"):
        shutil.copytree(workspace / name, folder / name)
    use_server(folder, port, connections=connections, timeout=SAFETY)
    (folder / "issues" / EXAMPLE.name).write_text(EXAMPLE.read_text())
    return folder


def start(folder: Path, env: dict[str, str], output: Path,
          *options: str) -> subprocess.Popen[bytes]:
    """`bulletin send` of the example issue in `folder`, its output (stdout and stderr) to
    `output`; without --yes among `options`, it waits at its prompt for stdin."""
    with output.open("wb") as sink:
        return subprocess.Popen([sys.executable, "-m", "bulletin", "send",
                                 str(folder / "issues" / EXAMPLE.name), *options],
                                cwd=folder, env=env, stdin=subprocess.PIPE, stdout=sink,
                                stderr=subprocess.STDOUT)


def bulletin_status(folder: Path, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-m", "bulletin", "status",
                           str(folder / "issues" / EXAMPLE.name)], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=SAFETY)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
    return " ".join(done.stdout.split())


def delivered(servers: list[SmtpServer]) -> Counter[str]:
    return Counter(r for server in servers for message in server.received
                   for r in message.rcpt_tos)


def ended(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize(
    ("database_url", "senders", "hosts"),
    [("sqlite", 2, 1), ("sqlite", 3, 1), ("postgresql", 2, 1), ("postgresql", 3, 1),
     ("postgresql", 3, 3)],
    ids=["sqlite-2", "sqlite-3", "postgresql-2", "postgresql-3", "postgresql-3-hosts"],
    indirect=["database_url"])
def test_senders_started_together_share_the_work_and_each_reports_its_part(
        workspace: Path, tmp_path: Path, database_url: str, senders: int,
        hosts: int) -> None:
    people = [f"reader{n:04d}@example.org" for n in range(RECIPIENTS)]
    csv = tmp_path / "people.csv"
    csv.write_text("email\n" + "\n".join(people) + "\n")
    with Store.open(database_url) as store:
        store.create_list("cohes3ion", newsletter="cohes3ion")
        store.import_csv(csv, "cohes3ion")
    base = {k: v for k, v in os.environ.items() if not k.startswith("BULLETIN_")}
    base |= {"BULLETIN_DATABASE_URL": database_url, "BULLETIN_SECRET_KEY": SECRET_KEY}
    envs = [base | {"XDG_STATE_HOME": str(tmp_path / f"state-{n % hosts}")}  # journals
            for n in range(senders)]
    with ExitStack() as stack:
        servers = [stack.enter_context(SmtpServer(pipelining=True)) for _ in range(senders)]
        folders = [sender_folder(workspace, tmp_path / f"sender-{n}", server.port)
                   for n, server in enumerate(servers)]
        outputs = [tmp_path / f"sender-{n}.txt" for n in range(senders)]
        processes = [start(folder, env, output)
                     for folder, env, output in zip(folders, envs, outputs, strict=True)]
        try:
            def all_at_the_prompt() -> bool:
                return all(PROMPT in output.read_text() for output in outputs) or \
                    any(process.poll() is not None for process in processes)

            wait_for(all_at_the_prompt, "every sender to ask for confirmation")
            for process in processes:  # all go at once
                assert process.stdin is not None
                process.stdin.write(b"y\n")
                process.stdin.close()
            codes = [process.wait(SAFETY) for process in processes]
        finally:
            ended(processes)
        said = [output.read_text() for output in outputs]
        assert codes == [0] * senders, said
        assert not any("Traceback" in output for output in said), said
        assert delivered(servers) == Counter(people)  # everyone, once
        parts = [DONE.search(" ".join(output.split())) for output in said]
        assert all(parts), said
        for part, server, output in zip(parts, servers, said, strict=True):
            assert part is not None
            assert int(part[1]) == len(delivered([server]))  # its own part, no more
            assert part[2] == part[3] == "0"
            # Its progress bar ends whole, at its own part (not stopped at a share of all).
            bars = re.findall(r"Sending\s\S*\s*(\d+)/(\d+)\s+(\d+)%", output)
            assert bars and bars[-1] == (part[1], part[1], "100"), output
        assert sum(int(part[1]) for part in parts if part) == RECIPIENTS, said

        status = bulletin_status(folders[0], envs[0])  # the whole, from any of them
        assert f"{ISSUE}: 0 pending, 0 sending, {RECIPIENTS} sent, 0 failed" in status, status
        assert "Uncertain" not in status, status

        late = start(folders[-1], envs[-1], tmp_path / "late.txt", "--yes")
        try:
            assert late.wait(SAFETY) == 0
        finally:
            ended([late])
        assert "Nothing to send." in (tmp_path / "late.txt").read_text()
        assert delivered(servers) == Counter(people)
