"""A dispatch of thousands killed with SIGKILL at many points and resumed each time: in the end
everyone has exactly one message, except the uncertain (never more than the messages in flight
at each crash), who have at most one.

The kill points are chosen by progress, never by the clock: each run is killed once the test's
SMTP server has taken a chosen number of that run's messages (just after the first ones, part
way, when only a few remain, and after the last one was taken but perhaps before it was
recorded), however long the run takes to start and to get there."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from bulletin.store.store import Store
from tests.conftest import EXAMPLE
from tests.smtp_server import SmtpServer, use_server
from tests.waiting import SAFETY, wait_for

pytestmark = pytest.mark.slow

RECIPIENTS = 3000
CONNECTIONS = 3
WINDOW = 16 * CONNECTIONS  # DispatchSettings.in_flight for these settings
ISSUE = "cohes3ion/cohes3ion-04"

KillPoint = Callable[[random.Random, int], int]
"""How many of its messages a run is let send before it is killed, given how many it has."""
KILL_POINTS: list[tuple[str, KillPoint]] = [
    ("just after the first messages", lambda chance, left: chance.randint(1, 3)),
    ("part way", lambda chance, left: int(left * chance.uniform(0.2, 0.5))),
    ("just after the first message, again", lambda chance, left: 1),
    ("part way, again", lambda chance, left: int(left * chance.uniform(0.3, 0.7))),
    ("when only a few remain", lambda chance, left: left - chance.randint(2, 8)),
    ("after the last one was taken", lambda chance, left: left),
]


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
    output = workspace / "send-output.txt"

    def run(kill_at: int | None = None, what: str = "") -> bool:
        """`bulletin send`, killed once the server has taken `kill_at` messages in all, or let
        finish; whether it was killed."""
        with output.open("wb") as sink:  # a file, not a pipe nobody reads while it runs
            process = subprocess.Popen(command, cwd=workspace, env=env, stdout=sink,
                                       stderr=subprocess.STDOUT)
        try:
            if kill_at is None:
                process.wait(timeout=SAFETY)
            else:
                wait_for(lambda: len(server.received) >= kill_at or process.poll() is not None,
                         what)
            if process.poll() is not None:  # it finished (first, if it was to be killed)
                assert process.returncode == 0, output.read_text()[-2000:]
                return False
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        return True

    def counts() -> dict[str, int]:
        with Store.open(database) as store:
            return store.ledger.counts(ISSUE)

    def settled() -> int:
        """What the server has taken, once every connection of the last run has ended (so
        that nothing more of that run can arrive)."""
        wait_for(lambda: server.open_connections == 0, "the server's connections to close")
        return len(server.received)

    chance = random.Random(20221)
    kills, uncertain_after_kill, kill_points = 0, [], []
    for name, point in KILL_POINTS:
        now = counts()
        left = RECIPIENTS - now["sent"] - now["sending"] - now["failed"]  # this run's to send
        if left == 0:
            break
        taken = settled()
        target = min(left, max(1, point(chance, left)))
        if run(taken + target, f"the run to reach the kill point {name!r}: {target} of "
                               f"its {left} messages taken"):
            kills += 1
            kill_points.append((name, target, len(server.received) - taken, left))
            uncertain_after_kill.append(counts()["sending"])

    assert not run(), "killed"  # then to the end, with no kill
    out = output.read_text()
    finished = "Nothing to send." in out or "0 waiting" in out
    assert finished and kills >= 2, (kills, finished, out[-2000:])
    settled()

    counts_now = counts()
    with Store.open(database) as store:
        uncertain = {claim.email for claim in store.ledger.uncertain(ISSUE)}
    got = Counter(r for message in server.received for r in message.rcpt_tos)
    assert max(got.values()) == 1, [a for a, n in got.items() if n > 1][:5]  # never twice
    assert counts_now["sent"] + counts_now["sending"] == RECIPIENTS
    assert counts_now["pending"] == counts_now["failed"] == 0
    for address in people:
        if address not in uncertain:
            assert got[address] == 1, address
    # Each crash leaves at most the window uncertain; uncertain ones got at most one copy.
    growth = [b - a for a, b in zip([0, *uncertain_after_kill], uncertain_after_kill,
                                    strict=False)]
    assert all(0 <= g <= WINDOW for g in growth), (growth, kill_points)
    assert len(uncertain) == uncertain_after_kill[-1] <= kills * WINDOW
