"""The send journal cannot be written (a real fault: the file-size limit, RLIMIT_FSIZE, makes
the journal's write fail with EFBIG, as a full disk would with ENOSPC) while PIPELINING
joins one message's end of data to the next message's commands: the message whose handover
could not be journaled is the one not sent (back to waiting, its attempt not counted), not
left uncertain as if its end had gone out; the send stops with a one-line error; nothing is
sent twice or left `sending`."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from bulletin.store.store import Store
from tests.conftest import EXAMPLE
from tests.smtp_server import SmtpServer, ready_to_send
from tests.waiting import SAFETY

pytest_plugins = ["tests.store_fixtures"]
pytestmark = pytest.mark.slow  # a whole send as a process

LIMIT = 8192  # bytes a file may grow to: the journal outgrows it, the rendered files do not


def _limited() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write(2), not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_journal_write_failure_is_the_message_being_handed_over(
        workspace: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    with SmtpServer(pipelining=True) as server:
        setup = ready_to_send(workspace, server.port, monkeypatch, connections=1)
        people = [f"reader{n:04d}@example.org" for n in range(400)]
        csv = setup / "people.csv"
        csv.write_text("email\n" + "\n".join(people) + "\n")
        env = {**os.environ, "BULLETIN_DATABASE_URL": database_url,  # no local store file
               "XDG_STATE_HOME": str(setup / "state")}  # the journal
        with Store.open(database_url) as store:
            store.create_list("cohes3ion", newsletter="cohes3ion")
            store.import_csv(csv, "cohes3ion")
        done = subprocess.run([sys.executable, "-m", "bulletin", "send",
                               str(setup / "issues" / EXAMPLE.name), "--yes"], cwd=setup,
                              env=env, capture_output=True, text=True, preexec_fn=_limited,
                              timeout=SAFETY, check=False)
        received = Counter(r for message in server.received for r in message.rcpt_tos)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Error: cannot write the send journal in " in done.stderr, done.stderr
    assert "File too large" in done.stderr and "Traceback" not in done.stderr
    with Store.open(database_url) as store, store.engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT ledger.id, state, attempts, last_reply, email FROM ledger JOIN subscribers "
            "ON subscribers.id = ledger.subscriber_id ORDER BY ledger.id")).all()
    sent = [row for row in rows if row.state == "sent"]
    assert 0 < len(sent) < len(people)
    assert received == Counter(row.email for row in sent)  # every one sent, once
    assert not [row for row in rows if row.state == "sending"]  # nothing uncertain
    first = rows[len(sent)]  # the one whose handover could not be written
    assert all(row.state == "sent" for row in rows[:len(sent)])
    assert (first.state, first.attempts) == ("pending", 0), first
    assert first.last_reply.startswith("not sent: cannot write the send journal"), first
