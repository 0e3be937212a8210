"""A dispatch of thousands killed with SIGKILL at random points and resumed each time: in
the end everyone has exactly one message, except the uncertain (never more than the messages
in flight at each crash), who have at most one."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from bulletin.store.store import Store
from tests.conftest import EXAMPLE
from tests.smtp_server import SmtpServer, use_server

RECIPIENTS = 3000
CONNECTIONS = 3
WINDOW = 16 * CONNECTIONS  # DispatchSettings.in_flight for these settings


@pytest.fixture
def server() -> SmtpServer:
    with SmtpServer(pipelining=True) as running:
        yield running


def test_sigkill_and_resume_delivers_everyone_once(workspace: Path, server: SmtpServer) -> None:
    use_server(workspace, server.port, connections=CONNECTIONS)
    (workspace / "issues" / EXAMPLE.name).write_text(EXAMPLE.read_text())
    people = [f"reader{n:05d}@example.org" for n in range(RECIPIENTS)]
    csv = workspace / "people.csv"
    csv.write_text("email\n" + "\n".join(people) + "\n")
    database = f"sqlite:///{workspace / 'bulletin.db'}"
    with Store.open(database) as store:
        store.create_list("cohes3ion", newsletter="cohes3ion")
        store.import_csv(csv, "cohes3ion")

    env = {**os.environ, "BULLETIN_SECRET_KEY": "crash-test-secret-key-long-enough"}
    env.pop("BULLETIN_CONFIG", None)
    env.pop("BULLETIN_DATABASE_URL", None)
    command = [sys.executable, "-m", "bulletin", "send", str(workspace / "issues" /
                                                             EXAMPLE.name), "--yes"]
    chance = random.Random(20221)
    kills, uncertain_after_kill, finished = 0, [], False
    for _ in range(40):
        process = subprocess.Popen(command, cwd=workspace, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        try:
            process.wait(timeout=chance.uniform(1.0, 3.0))
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
            with Store.open(database) as store:
                uncertain_after_kill.append(
                    store.ledger_counts("cohes3ion/cohes3ion-04")["sending"])
            continue
        out, err = process.communicate()
        assert process.returncode == 0, (out + err).decode()[-2000:]
        if b"Nothing to send." in out or b"0 waiting" in out:
            finished = True
            break
    assert finished and kills >= 2, (kills, finished)

    with Store.open(database) as store:
        counts = store.ledger_counts("cohes3ion/cohes3ion-04")
        uncertain = {claim.email for claim in store.ledger_uncertain("cohes3ion/cohes3ion-04")}
    got = Counter(r for message in server.received for r in message.rcpt_tos)
    assert max(got.values()) == 1, [a for a, n in got.items() if n > 1][:5]  # never twice
    assert counts["sent"] + counts["sending"] == RECIPIENTS
    assert counts["pending"] == counts["failed"] == 0
    for address in people:
        if address not in uncertain:
            assert got[address] == 1, address
    # Each crash leaves at most the window uncertain; uncertain ones got at most one copy.
    growth = [b - a for a, b in zip([0, *uncertain_after_kill], uncertain_after_kill,
                                    strict=False)]
    assert all(0 <= g <= WINDOW for g in growth), growth
    assert len(uncertain) == uncertain_after_kill[-1] <= kills * WINDOW
