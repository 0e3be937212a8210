"""Scheduling: the time asked for (past, unknown zone, at a clock change) judged by pure
functions with `now` passed in; the store's claim, which one service alone wins, on SQLite
and PostgreSQL; `bulletin schedule`, `schedule list` and `schedule cancel` refusing bad input
in one line with nothing scheduled. The service that runs them: test_schedule_serve.py."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from bulletin.cli import app
from bulletin.schedule import timing
from bulletin.schedule.timing import Due, ScheduleError, due, parse_at, sleep_for
from bulletin.store.store import Store
from tests.conftest import EXAMPLE

pytest_plugins = ["tests.store_fixtures"]

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def bulletin(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


# The time asked for.

def test_a_local_time_becomes_the_instant_it_names() -> None:
    assert parse_at("2026-12-01 09:00", "Europe/London", NOW) == \
        datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # GMT
    assert parse_at("2026-07-01 09:00", "Europe/London", NOW) == \
        datetime(2026, 7, 1, 8, 0, tzinfo=UTC)  # BST
    assert parse_at(" 2026-07-01   09:00 ", "UTC", NOW) == datetime(2026, 7, 1, 9, tzinfo=UTC)
    assert parse_at("2026-7-1 9:05", "UTC", NOW) == datetime(2026, 7, 1, 9, 5, tzinfo=UTC)
    assert timing.shown(datetime(2026, 7, 1, 8, tzinfo=UTC), "Europe/London") == \
        "2026-07-01 09:00 Europe/London"


@pytest.mark.parametrize(("at", "zone", "said"), [
    ("2026-05-31 09:00", "UTC", "that is in the past (it is now 2026-06-01 12:00 in UTC)"),
    ("2026-06-01 12:00", "UTC", "in the past"),
    ("2026-12-01 09:00", "Europe/Lundon", "unknown timezone; give an IANA name"),
    ("2026-10-25 01:30", "Europe/London", "happens twice in Europe/London (the clocks go back"),
    ("2026-03-29 01:30", "Europe/London", "does not happen in Europe/London (the clocks go "
                                          "forward"),
    ("2027-03-28 01:15", "Europe/London", "does not happen"),
    ("1 December 9am", "UTC", 'not a time; write it as YYYY-MM-DD HH:MM'),
    ("2026-12-01 09:00+01:00", "UTC", "without an offset"),
    ("2026-12-01", "UTC", "not a time; write it as YYYY-MM-DD HH:MM"),  # midnight? 09:00?
    ("0001-01-01 00:00", "Asia/Tokyo", "out of range"),
    ("9999-12-31 23:59", "America/New_York", "out of range"),
])
def test_impossible_times_are_refused(at: str, zone: str, said: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_at(at, zone, NOW)
    assert said in str(caught.value) and "\n" not in str(caught.value)


ZONES = ["UTC", "Europe/London", "Europe/Berlin", "America/New_York", "Australia/Sydney",
         "Asia/Kolkata"]


@given(st.datetimes(min_value=datetime(2026, 6, 2), max_value=datetime(2035, 1, 1)),
       st.sampled_from(ZONES))
def test_any_time_is_refused_or_means_that_wall_clock_time(local: datetime, zone: str) -> None:
    local = local.replace(second=0, microsecond=0)
    try:
        at = parse_at(f"{local:%Y-%m-%d %H:%M}", zone, NOW)
    except ScheduleError as exc:
        assert "happens twice" in str(exc) or "does not happen" in str(exc)
        return
    assert at.tzinfo is UTC and at > NOW
    assert at.astimezone(timing.zone(zone)).replace(tzinfo=None) == local


def test_due_waits_starts_or_gives_up_after_the_grace_period() -> None:
    at = NOW
    assert due(at, NOW - timedelta(seconds=1), 30) is Due.WAIT
    assert due(at, NOW, 30) is Due.START
    assert due(at, NOW + timedelta(minutes=30), 30) is Due.START
    assert due(at, NOW + timedelta(minutes=30, seconds=1), 30) is Due.MISSED
    assert due(at, NOW + timedelta(hours=9), 30) is Due.MISSED  # the service was down
    assert due(at, NOW + timedelta(seconds=1), 0) is Due.MISSED


def test_the_worker_wakes_for_the_soonest_schedule() -> None:
    assert sleep_for([], NOW, 15) == 15
    assert sleep_for([NOW + timedelta(seconds=2), NOW + timedelta(hours=1)], NOW, 15) == 2
    assert sleep_for([NOW - timedelta(seconds=5)], NOW, 15) == 0


def test_a_schedule_due_while_the_service_was_busy_is_started_late_not_missed(
        tmp_path: Path) -> None:
    from bulletin.schedule.worker import Scheduler

    with Store.open(f"sqlite:///{tmp_path / 'bulletin.db'}") as store:
        scheduler = Scheduler(store, tmp_path / "bulletin.toml")
        scheduler.look(NOW)  # the service is up; nothing is due
        gone = str(tmp_path / "gone.yaml")  # started, it fails at once: no such issue
        busy = store.schedules.add("news/x", gone, "news", NOW + timedelta(minutes=1),
                                   "at", grace=30, created_by="Ann")
        before = store.schedules.add("news/y", gone, "news", NOW - timedelta(minutes=40),
                                     "at", grace=30, created_by="Ann")
        # The next look two hours on: the service was sending another issue meanwhile.
        scheduler.look(NOW + timedelta(hours=2))
        scheduler.look(NOW + timedelta(hours=2))
        scheduler.wait_for_sends()
        assert store.schedules.get(busy).status == "failed"  # started (late), not missed
        assert store.schedules.get(before).status == "missed"  # due before it was up
    assert due(NOW, NOW + timedelta(hours=2), 30, up_since=NOW) is Due.START
    assert due(NOW, NOW + timedelta(hours=2), 30, up_since=NOW + timedelta(seconds=1)) \
        is Due.MISSED


def test_a_claim_left_by_an_earlier_process_with_this_pid_is_settled(tmp_path: Path) -> None:
    """A service restarted in a container is PID 1 again, on the same host name: a schedule
    its earlier life left running is not this one's."""
    import os
    import socket

    from bulletin.schedule.worker import Scheduler

    with Store.open(f"sqlite:///{tmp_path / 'bulletin.db'}") as store:
        number = store.schedules.add("news/x", "/x.yaml", "news", NOW, "then", grace=30,
                                     created_by="Ann")
        assert store.schedules.claim(number, f"{socket.gethostname()}:{os.getpid()}:1f")
        Scheduler(store, tmp_path / "bulletin.toml").look(NOW)
        record = store.schedules.get(number)
    assert record.status == "stopped" and "`bulletin send /x.yaml --list news` resumes it" \
        in (record.report or ""), record


def test_a_lease_runs_out_only_after_the_lease_period_without_a_heartbeat() -> None:
    from bulletin.schedule.timing import LEASE, lease_expired

    beat = NOW + timedelta(minutes=5)
    assert not lease_expired(NOW, None, NOW + LEASE)
    assert lease_expired(NOW, None, NOW + LEASE + timedelta(seconds=1))
    assert not lease_expired(NOW, beat, beat + LEASE)  # the heartbeat renews the claim
    assert lease_expired(NOW, beat, beat + LEASE + timedelta(seconds=1))
    assert lease_expired(None, None, NOW)


def test_a_schedule_whose_service_died_on_another_host_is_stopped_not_sent_again(
        database_url: str) -> None:
    """Service A (another host) claims and renews its lease, then is cut off; service B
    leaves it alone while the lease holds, then marks it stopped with how to resume it,
    and starts no send of it by itself."""
    from bulletin.schedule.timing import LEASE
    from bulletin.schedule.worker import Scheduler

    a_store, b_store = Store.open(database_url), Store.open(database_url)
    try:
        number = a_store.schedules.add("news/lease", "/lease.yaml", "news", NOW, "then",
                                       grace=30, created_by="Ann")
        other = "elsewhere.example:4242:ab"
        assert a_store.schedules.claim(number, other)
        beat = datetime.now(UTC) + timedelta(minutes=1)
        assert a_store.schedules.beat(number, other, beat)
        assert not a_store.schedules.beat(number, "someone-else", beat)  # only its holder
        b = Scheduler(b_store, None)
        b.look(beat + LEASE - timedelta(seconds=1))
        assert b_store.schedules.get(number).status == "running"
        seen = b_store.schedules.get(number)
        assert a_store.schedules.beat(number, other, beat + LEASE)  # A is alive after all
        assert not b_store.schedules.expire(seen, "stopped", "dead?")  # the heartbeat wins
        b.look(beat + LEASE * 2 + timedelta(seconds=1))
        b.wait_for_sends()
        record = b_store.schedules.get(number)
        assert record.status == "stopped", record
        assert "`bulletin send /lease.yaml --list news` resumes it" in (record.report or "")
        assert not a_store.schedules.beat(number, other)  # A, back, finds it settled
        assert [r.id for r in b_store.schedules.all(statuses=("running", "scheduled"))
                if r.issue == "news/lease"] == []
        assert b_store.issue_audit("news/lease")[-1].action == "schedule-finished"
    finally:
        a_store.close()
        b_store.close()


# The store's claim.

def test_one_claim_wins_among_many_services(database_url: str) -> None:
    stores = [Store.open(database_url) for _ in range(4)]
    try:
        number = stores[0].schedules.add("news/x", "/x.yaml", "news", NOW, "now UTC",
                                         grace=30, created_by="Ann")
        start = threading.Barrier(len(stores))
        won: list[bool] = []

        def claim(store: Store, name: str) -> None:
            start.wait()
            won.append(store.schedules.claim(number, name))

        threads = [threading.Thread(target=claim, args=(store, f"service-{n}"))
                   for n, store in enumerate(stores)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(won) == [False, False, False, True]
        record = stores[0].schedules.get(number)
        assert record.status == "running" and record.claimed_by is not None
        assert not stores[1].schedules.miss(number)  # a running schedule is not missed
        assert stores[2].schedules.cancel(number, "Bob") == "running"
        assert stores[3].schedules.finish(number, "stopped", "10 sent") == "cancelled"
        with pytest.raises(Exception, match="not waiting or running: nothing to cancel"):
            stores[0].schedules.cancel(number, "Bob")
        actions = [row.action for row in stores[0].issue_audit("news/x")]
        assert actions == ["scheduled", "schedule-started", "schedule-cancelled",
                           "schedule-finished"]
        assert stores[0].issue_audit("news/x")[-1].detail == f"#{number} cancelled: 10 sent"
    finally:
        for store in stores:
            store.close()


def test_a_cancel_after_the_last_message_went_leaves_it_sent(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'bulletin.db'}") as store:
        number = store.schedules.add("news/x", "/x.yaml", "news", NOW, "now UTC", grace=30,
                                     created_by="Ann")
        assert store.schedules.claim(number, "service")
        assert store.schedules.cancel(number, "Bob") == "running"  # too late: all went
        assert store.schedules.finish(number, "sent", "5 sent, 0 failed") == "sent"
        record = store.schedules.get(number)
    assert record.status == "sent" and record.report == \
        "5 sent, 0 failed; the cancel came after the last message had gone", record


# The command line.

@pytest.fixture
def ready(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from tests.smtp_server import ready_to_send

    ready_to_send(workspace, 2525, monkeypatch)  # nothing is sent by these tests
    monkeypatch.setenv("BULLETIN_APPROVER", "Ann Sender")
    monkeypatch.chdir(workspace)
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:
        store.create_list("cohes3ion", newsletter="cohes3ion")
    return workspace / "issues" / EXAMPLE.name


def schedules(workspace: Path) -> list[object]:
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:
        return list(store.schedules.all())


@pytest.mark.parametrize(("args", "said"), [
    (["--at", "2020-01-01 09:00"], "--at 2020-01-01 09:00: that is in the past"),
    (["--at", "2099-01-01 09:00", "--timezone", "Mars/Olympus"], "unknown timezone"),
    (["--at", "2099-10-25 01:30", "--timezone", "Europe/London"], "happens twice"),
    (["--at", "2099-03-29 01:30", "--timezone", "Europe/London"], "does not happen"),
    (["--at", "2099-01-01 09:00", "--list", "nobody"], "no list named 'nobody'"),
    (["--at", "9999-12-31 23:59", "--timezone", "America/New_York"], "out of range"),
    (["--at", "2099-01-01 09:00", "--grace", "-5"], "--grace -5: give minutes, from 0"),
    (["--at", "2099-01-01 09:00", "--grace", "99999999999999999999"], "give minutes"),
])
def test_bad_input_is_one_line_and_nothing_is_scheduled(ready: Path, args: list[str],
                                                        said: str) -> None:
    code, output = bulletin("schedule", str(ready), *args)
    assert code == 1 and output.count("\n") == 1 and said in output, output
    assert schedules(ready.parent.parent) == []


def test_an_issue_that_fails_its_checks_or_lacks_approval_is_not_scheduled(
        ready: Path) -> None:
    workspace = ready.parent.parent
    text = ready.read_text()
    ready.write_text(text.replace("sections:\n", "sections:\n  - heading: Bad\n    image: "
                                  '{src: "https://example.org/a.jpg"}\n', 1))  # no alt: an error
    code, output = bulletin("schedule", str(ready), "--at", "2099-01-01 09:00")
    assert code == 1 and "not sent: `bulletin check` finds" in output, output
    ready.write_text(text)
    config = workspace / "bulletin.toml"
    config.write_text(config.read_text().replace(
        "[newsletters.cohes3ion]\n", "[newsletters.cohes3ion]\napprovals = 1\n", 1))
    code, output = bulletin("schedule", str(ready), "--at", "2099-01-01 09:00")
    assert code == 1 and output.count("\n") == 1 and "needs 1 approval" in output, output
    assert schedules(workspace) == []
    assert bulletin("approve", str(ready), "--as", "Bob Approver")[0] == 0
    code, output = bulletin("schedule", str(ready), "--at", "2099-01-01 09:00",
                            "--timezone", "Europe/London")
    assert code == 0 and "Scheduled #1" in output and "2099-01-01 09:00 Europe/London" \
        in output, output


def test_list_and_cancel(ready: Path) -> None:
    code, output = bulletin("schedule", "list")
    assert code == 0 and "No schedules" in output
    assert bulletin("schedule", str(ready), "--at", "2099-06-01 09:00",
                    "--timezone", "Europe/London")[0] == 0
    code, output = bulletin("schedule", "list")
    assert "#1 scheduled 2099-06-01 09:00 Europe/London (2099-06-01 08:00 UTC)" in output
    assert "cohes3ion/cohes3ion-04 to cohes3ion  by Ann Sender" in output, output
    code, output = bulletin("schedule", "cancel", "1")
    assert code == 0 and "Cancelled #1: it will not be sent." in output
    code, output = bulletin("schedule", "cancel", "1")
    assert code == 1 and output.count("\n") == 1 and "is cancelled, not waiting" in output
    code, output = bulletin("schedule", "cancel", "7")
    assert code == 1 and "no schedule #7" in output
    for number in ("0", "99999999999999999999999"):  # (before, the latter: OverflowError)
        code, output = bulletin("schedule", "cancel", number)
        assert code == 2 and "Invalid value for 'ID'" in output, output
    assert "#1 cancelled" in bulletin("schedule", "list")[1]


def test_the_zone_and_grace_default_to_the_newsletters(ready: Path) -> None:
    code, output = bulletin("schedule", str(ready), "--at", "2099-06-01 09:00")
    assert code == 0 and "2099-06-01 09:00 Europe/London (2099-06-01 08:00 UTC)" in output
    assert bulletin("schedule", "cancel", "1")[0] == 0
    config = ready.parent.parent / "bulletin.toml"
    text = config.read_text()
    config.write_text(text.replace("[newsletters.cohes3ion]\n", "[newsletters.cohes3ion]\n"
                                   'timezone = "America/New_York"\nschedule_grace = 5\n', 1))
    code, output = bulletin("schedule", str(ready), "--at", "2099-06-01 09:00")
    assert code == 0 and "09:00 America/New_York (2099-06-01 13:00 UTC)" in output, output
    assert bulletin("schedule", "cancel", "2")[0] == 0
    code, output = bulletin("schedule", str(ready), "--at", "2099-06-01 09:00", "--grace", "0")
    assert code == 0, output
    assert [s.grace for s in schedules(ready.parent.parent)] == [30, 5, 0]  # type: ignore
    config.write_text(text.replace("[newsletters.cohes3ion]\n", "[newsletters.cohes3ion]\n"
                                   'timezone = "Europe/Lundon"\n', 1))
    code, output = bulletin("schedule", str(ready), "--at", "2099-06-01 09:00")
    assert code == 1 and output.count("\n") == 1 and "bulletin.toml:" in output \
        and "unknown timezone 'Europe/Lundon'" in output, output


def test_an_issue_waiting_to_go_to_a_list_is_not_scheduled_twice(ready: Path) -> None:
    at = ["--at", "2099-06-01 09:00"]
    assert bulletin("schedule", str(ready), *at)[0] == 0
    code, output = bulletin("schedule", str(ready), "--at", "2099-06-02 09:00")
    assert code == 1 and output.count("\n") == 1, output
    assert "already scheduled to cohes3ion as #1 at 2099-06-01 09:00 Europe/London; " \
        "`bulletin schedule cancel 1` first" in output, output
    assert bulletin("schedule", "cancel", "1", "--as", "Bob Jones")[0] == 0
    assert bulletin("schedule", str(ready), "--at", "2099-06-02 09:00")[0] == 0
    with Store.open(f"sqlite:///{ready.parent.parent / 'bulletin.db'}") as store:
        cancelled = [row for row in store.issue_audit("cohes3ion/cohes3ion-04")
                     if row.action == "schedule-cancelled"]
    assert [row.actor for row in cancelled] == ["Bob Jones"]


def test_an_edit_after_scheduling_is_checked_again_at_the_time(ready: Path) -> None:
    from bulletin.schedule.worker import Scheduler

    workspace = ready.parent.parent
    config = workspace / "bulletin.toml"
    config.write_text(config.read_text().replace(
        "[newsletters.cohes3ion]\n", "[newsletters.cohes3ion]\napprovals = 1\n", 1))
    assert bulletin("approve", str(ready), "--as", "Bob Approver")[0] == 0
    assert bulletin("schedule", str(ready), "--at", "2099-06-01 09:00")[0] == 0
    ready.write_text(ready.read_text().replace("Eight Regional", "Nine Regional", 1))
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:
        scheduler = Scheduler(store, config)
        scheduler.look(datetime(2099, 6, 1, 8, 0, 1, tzinfo=UTC))
        scheduler.wait_for_sends()
        record = store.schedules.get(1)
    assert record.status == "failed" and record.report is not None
    assert "needs 1 approval" in record.report and "changed since an earlier approval: " \
        "the issue file" in record.report, record.report
    output = bulletin("schedule", "list")[1]
    assert "#1 failed" in output and "the issue file" in output, output


def test_options_may_come_before_the_issue(ready: Path) -> None:
    code, output = bulletin("schedule", "--at", "2099-06-01 09:00", "--timezone", "UTC",
                            str(ready))
    assert code == 0 and "Scheduled #1" in output and "09:00 UTC" in output, output
    code, output = bulletin("schedule", "--help")
    assert code == 0 and "cancel" in output, output
