"""A relay that goes away in the middle of a send: the relay's state, not the recipients'.
The dispatcher reconnects with backoff, counts none of those attempts as anyone's failure,
and carries on when the relay is back; it stops only once the relay has been unreachable for
smtp.max_outage seconds. Against the real test server (tests/smtp_server.py), stopped and
started again; every wait is for progress (messages taken, attempts made), not for time."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from bulletin.send import campaign
from bulletin.send.config import DispatchSettings
from bulletin.send.dispatch import Dispatcher
from bulletin.send.outgoing import render_here
from bulletin.send.report import Report
from bulletin.send.smtp import SmtpSettings, SmtpTransport
from bulletin.store.store import Store
from tests.conftest import EXAMPLE
from tests.smtp_server import SECRET_KEY, SmtpServer, ready_to_send
from tests.waiting import SAFETY, wait_for

pytestmark = pytest.mark.slow  # real servers stopped and started, whole sends
ISSUE = "cohes3ion/cohes3ion-04"
PEOPLE = 300


def subscribe(workspace: Path, count: int) -> list[str]:
    people = [f"reader{n}@example.org" for n in range(count)]
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:
        store.create_list("cohes3ion", newsletter="cohes3ion")
        for address in people:
            store.subscribe(address, "cohes3ion", source="test")
    return people


def test_a_relay_that_goes_away_and_comes_back(workspace: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    with SmtpServer(pipelining=True) as server:
        setup = ready_to_send(workspace, server.port, monkeypatch)
        people = subscribe(setup, PEOPLE)
        outgoing = render_here(setup / "issues" / EXAMPLE.name)
        templates = campaign.templates(outgoing, SECRET_KEY.encode())
        transport = SmtpSettings("127.0.0.1", server.port, security="none", timeout=SAFETY)
        reports: list[Report] = []
        # Failures in a row stop it after 20: the drop itself costs a few (the messages on
        # the wire then), the attempts to reconnect must cost none.
        settings = DispatchSettings(connections=2, max_consecutive_failures=20,
                                    max_outage=SAFETY, retry_delays=(0.05, 0.05, 0.05),
                                    reconnect_delay=0.01, reconnect_delay_max=0.1)
        with Store.open(f"sqlite:///{setup / 'bulletin.db'}") as store:
            store.ledger.create(ISSUE, "cohes3ion")
            dispatcher = Dispatcher(store.ledger, ISSUE, templates, outgoing.first.language,
                                    "cohes3ion@example.gov.wales",
                                    lambda: SmtpTransport(transport), settings,
                                    progress=reports.append)
            done: list[Report] = []
            thread = threading.Thread(target=lambda: done.append(asyncio.run(dispatcher.run())))
            thread.start()
            try:
                wait_for(lambda: len(server.received) >= 20, "the first messages to arrive")
                server.stop()
                taken = len(server.received)
                wait_for(lambda: getattr(dispatcher.report, "unreachable", 0) >= 40
                         or dispatcher.stop.is_set(), "40 attempts to reach the relay")
                assert not dispatcher.stop.is_set(), dispatcher.report.stopped
                assert len(server.received) == taken
                server.start()
                wait_for(lambda: not thread.is_alive(), "the send to finish")
            finally:
                if thread.is_alive():  # the test failed: let the send end
                    dispatcher.halt("the test failed")
                    thread.join(SAFETY)
            report = done[0]
            counts = store.ledger.counts(ISSUE)
    assert report.stopped is None, report.stopped
    assert report.failed == 0 and counts["failed"] == counts["pending"] == 0, counts
    assert counts["sent"] + counts["sending"] == PEOPLE
    assert counts["sending"] == report.uncertain <= 2 * 2  # what was on the wire at the drop
    got = Counter(r for message in server.received for r in message.rcpt_tos)
    assert set(got) <= set(people) and max(got.values()) == 1
    assert len(got) >= PEOPLE - report.uncertain


def test_a_relay_that_stays_away_stops_the_send_after_max_outage(
        workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through `bulletin send` and bulletin.toml's smtp.max_outage: the send stops, saying
    why; nobody has failed; the unsent wait for the next run."""
    with SmtpServer(pipelining=True) as server:
        setup = ready_to_send(workspace, server.port, monkeypatch, connections=2,
                              max_consecutive_failures=20, max_outage=0.5)
        subscribe(setup, PEOPLE)
        env = dict(os.environ)
        env.pop("BULLETIN_DATABASE_URL", None)
        process = subprocess.Popen(
            [sys.executable, "-m", "bulletin", "send", str(setup / "issues" / EXAMPLE.name),
             "--yes"], cwd=setup, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)
        try:
            wait_for(lambda: len(server.received) >= 5 or process.poll() is not None,
                     "the first messages to arrive")
            server.stop()
            output, _ = process.communicate(timeout=SAFETY)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == 1, output
    assert "Traceback" not in output
    assert "the SMTP relay has been unreachable for" in " ".join(output.split())
    with Store.open(f"sqlite:///{setup / 'bulletin.db'}") as store:
        counts = store.ledger.counts(ISSUE)
    assert counts["failed"] == 0, counts
    assert counts["pending"] > 0 and counts["sent"] >= 5
