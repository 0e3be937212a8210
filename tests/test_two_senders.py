"""Two `bulletin send` processes started together for one issue on PostgreSQL: both start
(each queues the issue, the second finding the rows the first one made), share the work,
exit 0, and every subscriber gets exactly one message.

They are made to reach the queueing step at the same moment by progress, not by the clock:
the test holds a lock on the ledger table that blocks inserts, waits until both senders'
inserts are waiting for it, and only then lets them go together."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bulletin.store.store import Store
from tests.conftest import EXAMPLE
from tests.smtp_server import SmtpServer, ready_to_send
from tests.waiting import SAFETY, wait_for

pytest_plugins = ["tests.store_fixtures"]
pytestmark = pytest.mark.slow  # two real senders

RECIPIENTS = 400


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with SmtpServer(pipelining=True) as running:
        yield running


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
                            "SELECT count(DISTINCT pid) FROM pg_locks "
                            "WHERE relation = 'ledger'::regclass AND NOT granted"))
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
