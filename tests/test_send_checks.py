"""`bulletin send` runs `bulletin check` on every edition it sends (in its render child) and
refuses on errors, naming each with its line, before anything is queued or sent; `--force
"reason"` sends anyway and puts the reason in the audit trail; warnings are in the plan."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bulletin.store.store import Store
from tests.conftest import EXAMPLE
from tests.smtp_server import SmtpServer, ready_to_send
from tests.test_send import bulletin, subscribe

pytestmark = pytest.mark.slow  # whole sends through a real SMTP server

BAD = """\
newsletter: cohes3ion
number: 5
date: 2022-02-28
subject: Cohes3ion Newsletter Issue 5
preheader: A short issue with two mistakes in it, for the checks to find before sending.
sections:
  - heading: Plans
    image: {src: "https://example.org/plan.jpg"}
    body: |
      Dear {{ first_name }}, the plans are [published](https://example.org/plans).
  - heading: More
    body: |
      Read [here](http://example.org/more).
"""
KEY = "cohes3ion/bad"


@pytest.fixture
def bad(workspace: Path, server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    ready_to_send(workspace, server.port, monkeypatch, connections=2)
    subscribe(workspace, ["ann@example.org", "bob@example.org"])
    path = workspace / "issues" / "bad.yaml"
    path.write_text(BAD)
    return path


def ledger(workspace: Path) -> dict[str, int]:
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:
        return {state: n for state, n in store.ledger.counts(KEY).items() if n}


@pytest.mark.parametrize("extra", [["--yes"], ["--dry-run"], []])
def test_errors_stop_the_send_naming_each_with_its_line(bad: Path, server: SmtpServer,
                                                        extra: list[str]) -> None:
    code, output = bulletin("send", str(bad), *extra)
    assert code == 1, output
    lines = output.splitlines()
    assert lines[0] == (f"Error: {bad}: not sent: `bulletin check` finds 2 errors; fix them, "
                        'or send anyway with --force "REASON" (the reason goes to the audit '
                        "trail)")
    # One line each, with the file and line, and the check's name.
    assert [(line.split(": ", 2)[1], line.rsplit(" ", 1)[1]) for line in lines[1:]] == [
        (f"{bad}:8", "[image-alt]"), (f"{bad}:10", "[template-syntax]")], output
    assert "has no alt text" in lines[1]
    assert server.received == []
    assert ledger(bad.parents[1]) == {}


def test_force_sends_and_the_reason_goes_to_the_audit_trail(bad: Path,
                                                            server: SmtpServer) -> None:
    code, output = bulletin("send", str(bad), "--yes", "--force", "  ")
    assert code == 1 and output.startswith("Error: --force: give the reason"), output
    code, output = bulletin("send", str(bad), "--dry-run", "--force", "the board said so")
    assert code == 0, output
    assert "Errors:     2 from `bulletin check`, sent anyway (--force: the board said so)" \
        in output
    with Store.open(f"sqlite:///{bad.parents[1] / 'bulletin.db'}") as store:
        assert store.issue_audit(KEY) == []  # a dry run records nothing
    code, output = bulletin("send", str(bad), "--yes", "--force", "the board said so")
    assert code == 0, output
    assert len(server.received) == 2
    with Store.open(f"sqlite:///{bad.parents[1] / 'bulletin.db'}") as store:
        [record] = store.issue_audit(KEY)
        assert store.audit("ann@example.org")[-1].action != "send-forced"
    assert (record.action, record.list_name, record.source) == ("send-forced", "cohes3ion",
                                                               "cli")
    assert record.actor
    reason, *overridden = (record.detail or "").splitlines()
    assert reason == "the board said so"
    assert [line.rsplit("[", 1)[1] for line in overridden] == [
        "image-alt]", "template-syntax]"]
    code, output = bulletin("status", str(bad))
    assert code == 0, output
    assert "Sent past 2 check error(s) to cohes3ion by" in output
    assert "(--force): the board said so" in output


def test_warnings_are_listed_in_the_plan(bad: Path, server: SmtpServer) -> None:
    bad.write_text(BAD.replace('{src: "https://example.org/plan.jpg"}',
                               '{src: "https://example.org/plan.jpg", alt: "The plan"}')
                   .replace("Dear {{ first_name }}", "Dear reader"))
    code, output = bulletin("send", str(bad), "--yes")
    assert code == 0, output
    assert "Warnings:   2 from `bulletin check`" in output
    assert f"  {bad}:13: link http://example.org/more is not https [insecure-link]" in output
    assert len(server.received) == 2


def test_every_edition_is_checked(workspace: Path, server: SmtpServer,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A bilingual newsletter sent as one email per language: an error in the English
    edition alone (the second) stops the send."""
    ready_to_send(workspace, server.port, monkeypatch)
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:
        store.create_list("cohes3ion-bilingual", newsletter="cohes3ion-bilingual")
        store.subscribe("ann@example.org", "cohes3ion-bilingual", source="test")
    path = workspace / "issues" / "two.yaml"
    path.write_text(textwrap.dedent("""\
        newsletter: cohes3ion-bilingual
        number: 1
        date: 2022-02-28
        subject: {en: The plans, cy: Y cynlluniau}
        preheader: {en: The eight regional plans are out now., cy: Mae'r wyth cynllun allan.}
        sections:
          - heading: {en: Plans, cy: Cynlluniau}
            body:
              cy: Mae'r cynlluniau wedi'u [cyhoeddi](https://example.org/plans).
              en: The plans {{ are }} [published](https://example.org/plans).
        """))
    code, output = bulletin("send", str(path), "--yes", "--delivery", "each")
    assert code == 1, output
    assert "finds 1 error;" in output and f"Error: {path}:10: " in output, output
    assert server.received == []


@pytest.mark.parametrize(("option", "said"), [
    (["--rate", "-1"], "Error: --rate -1: give the most messages a second as a finite number "
                       "above 0"),
    (["--rate", "0"], "Error: --rate 0: give the most messages a second"),
    (["--rate", "nan"], "Error: --rate nan: give the most messages a second"),
    (["--rate", "inf"], "Error: --rate inf: give the most messages a second"),
    (["--rate", "1e-300"], "Error: --rate 1e-300: that is under one message an hour, so a send "
                           "would wait over an hour between two messages; give at least "
                           "0.000278 (one an hour)"),
    (["--rate", "0.000277"], "Error: --rate 0.000277: that is under one message an hour"),
    (["--per-hour", "-5"], "Error: --per-hour -5: give the most messages an hour as a whole "
                           "number of at least 1"),
])
def test_a_limit_that_is_no_limit_stops_the_send_before_anything_is_queued(
        workspace: Path, server: SmtpServer, monkeypatch: pytest.MonkeyPatch,
        option: list[str], said: str) -> None:
    """Before, a negative limit failed with a traceback once the send was under way: the list
    queued and the issue in the public archive, sent to nobody; 0 and nan meant no limit; and a
    tiny one (1e-300) sent one message and then waited for ever, Ctrl-C or not."""
    ready_to_send(workspace, server.port, monkeypatch, connections=2)
    subscribe(workspace, ["ann@example.org", "bob@example.org"])
    code, output = bulletin("send", str(workspace / "issues" / EXAMPLE.name), "--yes", *option)
    assert code == 1 and output.startswith(said) and len(output.splitlines()) == 1, output
    assert server.received == []
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:
        assert not any(store.ledger.counts("cohes3ion/cohes3ion-04").values())
        assert store.archive.index("cohes3ion") == []


def test_a_test_address_with_a_line_break_is_one_line_naming_it(workspace: Path) -> None:
    code, output = bulletin("send-test", str(workspace / "issues" / EXAMPLE.name),
                            "--to", "a@example.org\r\nRCPT TO:<b@example.org>")
    assert code == 1 and len(output.splitlines()) == 1, output
    assert output.startswith("Error: --to 'a@example.org\\r\\nRCPT TO:<b@example.org>': ")
