"""`bulletin status ISSUE`: the bounces, complaints and unsubscribes since the issue was sent,
traced to its own messages, as counts and rates, and the warning at the newsletter's
thresholds (exactly at them, not a message later), on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bulletin.cli import app
from bulletin.send.run import percent, warnings
from bulletin.settings import load_workspace
from bulletin.store import Store
from bulletin.store.inbound import IssueReturns
from tests.conftest import ROOT
from tests.sent_issue import KEY, send

pytest_plugins = ["tests.store_fixtures"]

ISSUE = "cohes3ion/cohes3ion-04"


def _returns(sent: int, bounced: int = 0, complaints: int = 0) -> IssueReturns:
    return IssueReturns(sent, None, bounced, 0, bounced, complaints, 0)


@pytest.mark.parametrize(("sent", "complaints", "warned"), [
    (1000, 1, True), (1001, 1, False), (999, 1, True), (2000, 1, False), (2000, 2, True)])
def test_the_complaint_warning_starts_exactly_at_one_in_a_thousand(
        sent: int, complaints: int, warned: bool) -> None:
    found = warnings(_returns(sent, complaints=complaints), 0.001, 0.02)
    assert bool(found) is warned
    if warned:
        assert found[0].startswith("complaint rate ")
        assert "is at or above 0.1%" in found[0]


@pytest.mark.parametrize(("sent", "bounced", "warned"), [
    (100, 2, True), (101, 2, False), (150, 3, True), (149, 3, True), (151, 3, False),
    (1000, 19, False), (1000, 20, True)])
def test_the_bounce_warning_starts_exactly_at_two_percent(sent: int, bounced: int,
                                                           warned: bool) -> None:
    # 3 of 150 is 2% exactly; 0.02 * 150 in floating point is a little over 3.
    found = warnings(_returns(sent, bounced=bounced), 0.001, 0.02)
    assert bool(found) is warned
    assert all(line.startswith("bounce rate ") for line in found)


def test_nothing_sent_warns_of_nothing_and_percentages_read_well() -> None:
    assert warnings(_returns(0), 0.001, 0.02) == []
    from fractions import Fraction
    assert [percent(Fraction(n, d)) for n, d in ((1, 1000), (2, 100), (1, 3), (1, 10**6))] \
        == ["0.1%", "2%", "33.33%", "under 0.01%"]


@pytest.fixture
def issue_setup(workspace: Path, database_url: str,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Store]]:
    """The workspace with issues/cohes3ion-04.yaml, thresholds of 25% complaints and 50%
    bounces (so that a few messages reach them), and its store."""
    shutil.copy(ROOT / "issues" / "cohes3ion-04.yaml", workspace / "issues")
    with (workspace / "bulletin.toml").open("a", encoding="utf-8") as toml:
        toml.write("\n[newsletters.cohes3ion.bounces]\ncomplaint_warning = 0.25\n"
                   "bounce_warning = 0.5\n")
    monkeypatch.setenv("BULLETIN_SECRET_KEY", KEY)
    monkeypatch.setenv("BULLETIN_DATABASE_URL", database_url)
    monkeypatch.chdir(workspace)
    with Store.open(database_url) as store:
        store.create_list("cohes3ion", newsletter="cohes3ion")
        yield workspace / "issues" / "cohes3ion-04.yaml", store


def _status(path: Path) -> list[str]:
    result = CliRunner().invoke(app, ["status", str(path)], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def _came_back(lines: list[str]) -> str:
    """The counts of the line `Came back since DATE UTC (of N sent): ...`."""
    [line] = [line for line in lines if line.startswith("Came back since ")]
    return line.partition(" sent): ")[2]


def test_status_counts_what_came_back_about_this_issue_alone(
        issue_setup: tuple[Path, Store], workspace: Path) -> None:
    path, store = issue_setup
    people = [f"p{n}@example.org" for n in range(8)]
    setup = load_workspace(workspace / "bulletin.toml")
    earlier = send(store, setup, "cohes3ion/cohes3ion-03", people)
    sent = send(store, setup, ISSUE, people)
    before = _status(path)
    assert _came_back(before) == ("0 hard bounces (0%), 0 soft bounces (0%), 0 complaints "
                                  "(0%), 0 unsubscribed (0%)")
    assert not any(line.startswith("Warning:") for line in before)

    assert sent.bounce("p0@example.org").action == "bounced"
    # A delay notice counts nowhere; a soft bounce, and a second notice about the same
    # message: one message.
    assert sent.bounce("p1@example.org", "4.2.2", "452 4.2.2 mailbox full",
                       action="delayed").action == "nothing"
    assert sent.bounce("p1@example.org", "4.2.2", "452 4.2.2 mailbox full").action == \
        "counted"
    assert sent.bounce("p1@example.org", "4.2.2", "452 4.2.2 mailbox full",
                       mta="mx2.example.org").action == "counted"
    assert sent.complaint("p2@example.org").action == "complained"
    store.unsubscribe("p3@example.org", source="one-click")
    store.unsubscribe("p4@example.org", "cohes3ion", source="page")  # left the list
    # About the earlier issue: not this one's.
    assert earlier.bounce("p5@example.org").action == "bounced"
    # Someone this issue never went to.
    store.subscribe("late@example.org", "cohes3ion", source="test")
    store.unsubscribe("late@example.org", source="one-click")

    lines = _status(path)
    assert _came_back(lines) == ("1 hard bounce (12.5%), 1 soft bounce (12.5%), "
                                 "1 complaint (12.5%), 2 unsubscribed (25%)"), lines
    assert "(of 8 sent)" in "\n".join(lines)
    # 1 complaint of 8 is under 25%; 2 bounced messages of 8 under 50%.
    assert not any(line.startswith("Warning:") for line in lines)


def test_the_warning_appears_exactly_at_the_configured_thresholds(
        issue_setup: tuple[Path, Store], workspace: Path) -> None:
    path, store = issue_setup
    people = [f"p{n}@example.org" for n in range(4)]
    sent = send(store, load_workspace(workspace / "bulletin.toml"), ISSUE, people)
    sent.bounce("p0@example.org")
    assert not [line for line in _status(path) if line.startswith("Warning:")]
    sent.complaint("p1@example.org")  # 1 of 4: 25%, the threshold
    [warning] = [line for line in _status(path) if line.startswith("Warning:")]
    assert warning.startswith("Warning: complaint rate 25% (1 of 4 sent) is at or above 25%")
    sent.bounce("p2@example.org", "4.2.2", "452 4.2.2 mailbox full")  # 2 of 4 bounced: 50%
    found = [line for line in _status(path) if line.startswith("Warning:")]
    assert len(found) == 2
    assert found[1].startswith("Warning: bounce rate 50% (2 of 4 sent) is at or above 50%")


def test_a_threshold_out_of_range_names_its_line(issue_setup: tuple[Path, Store],
                                                 workspace: Path) -> None:
    path, _ = issue_setup
    toml = workspace / "bulletin.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("bounce_warning = 0.5",
                                                             "bounce_warning = 2"),
                    encoding="utf-8")
    result = CliRunner().invoke(app, ["status", str(path)])
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: {toml}:") and "bounce_warning" in line


def test_an_issue_not_sent_has_no_rates(issue_setup: tuple[Path, Store]) -> None:
    path, _ = issue_setup
    lines = _status(path)
    assert lines[0].startswith(f"{ISSUE}: 0 pending")
    assert not any(line.startswith(("Came back", "Warning:")) for line in lines)
