"""`bulletin send`, `send-test` and `status` against a real SMTP server (aiosmtpd), with a
real store: every recipient once, failures recorded, resumable, uncertain left alone."""

from __future__ import annotations

import email
import re
from collections import Counter
from email import policy
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bulletin import links
from bulletin.cli import app
from bulletin.store.store import Store
from tests.conftest import EXAMPLE
from tests.smtp_server import SECRET_KEY, SmtpServer, ready_to_send

pytestmark = pytest.mark.slow  # whole sends through a real SMTP server


@pytest.fixture
def setup(workspace: Path, server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The workspace, sending to the test server; its store in the workspace."""
    return ready_to_send(workspace, server.port, monkeypatch, connections=3,
                         retry_delays=[0.2, 0.2], max_consecutive_failures=8)


def subscribe(workspace: Path, addresses: list[str], list_name: str = "cohes3ion") -> None:
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:
        store.create_list(list_name, newsletter="cohes3ion")
        for address in addresses:
            store.subscribe(address, list_name, source="test")


def bulletin(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), input=stdin)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def issue(workspace: Path) -> str:
    return str(workspace / "issues" / EXAMPLE.name)


def delivered(server: SmtpServer) -> Counter[str]:
    return Counter(r for message in server.received for r in message.rcpt_tos)


def test_send_reaches_everyone_once_and_resumes(setup: Path, server: SmtpServer) -> None:
    people = [f"reader{n}@example.org" for n in range(40)]
    subscribe(setup, people)
    code, output = bulletin("send", issue(setup), "--yes")
    assert code == 0, output
    assert "To send:    40" in output and "40 sent, 0 failed" in output
    assert delivered(server) == Counter(list(people))

    code, output = bulletin("send", issue(setup), "--yes")
    assert code == 0 and "Nothing to send." in output
    assert len(server.received) == 40

    subscribe(setup, ["latecomer@example.org"])
    code, output = bulletin("send", issue(setup), "--yes")
    assert code == 0 and "To send:    1" in output
    assert delivered(server)["latecomer@example.org"] == 1 and len(server.received) == 41


def test_each_message_is_personal_and_signed(setup: Path, server: SmtpServer) -> None:
    subscribe(setup, ["ann@example.org", "bob@example.org"])
    assert bulletin("send", issue(setup), "--yes")[0] == 0
    key = SECRET_KEY.encode()
    with Store.open(f"sqlite:///{setup / 'bulletin.db'}") as store:
        ids = {info.email: info.id for info in map(store.subscriber, ["ann@example.org",
                                                                      "bob@example.org"])}
    for received in server.received:
        message = email.message_from_bytes(received.content, policy=policy.default)
        address = received.rcpt_tos[0]
        assert message["To"] == address
        assert received.mail_from == "cohes3ion@example.gov.wales"
        header = message["List-Unsubscribe"]
        assert address not in header
        token = re.search(r"/unsubscribe/([A-Za-z0-9_.-]+)>", header).group(1)
        assert links.verify(token, "unsubscribe", key, now=0) == str(ids[address])
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        text = message.get_body(("plain",)).get_content()
        assert f"This email was sent to {address} by Welsh Government." in text


def test_failures_are_recorded_and_retried(setup: Path, server: SmtpServer) -> None:
    people = ["ok1@example.org", "reject-me@example.org", "ok2@example.org",
              "tempfail@example.org"]
    subscribe(setup, people)
    code, output = bulletin("send", issue(setup), "--yes")
    # The temporary failure is tried on every pass, then left pending for a later run.
    assert code == 1, output
    assert "still failing for now" in output
    assert delivered(server) == Counter(["ok1@example.org", "ok2@example.org"])
    code, output = bulletin("status", issue(setup))
    assert code == 0
    assert "2 sent" in output and "1 failed" in output and "1 pending" in output
    assert "1 x 550 5.1.1 <reject-me@example.org>: no such user here" in output


def test_too_many_failures_in_a_row_stops(setup: Path, server: SmtpServer) -> None:
    subscribe(setup, [f"reject{n}@example.org" for n in range(30)])
    code, output = bulletin("send", issue(setup), "--yes")
    assert code == 1
    assert "failures in a row" in output
    with Store.open(f"sqlite:///{setup / 'bulletin.db'}") as store:
        counts = store.ledger.counts("cohes3ion/cohes3ion-04")
    assert counts["failed"] < 30 and counts["pending"] > 0 and counts["sending"] == 0


def test_uncertain_messages_are_not_resent_unless_asked(setup: Path,
                                                        server: SmtpServer) -> None:
    subscribe(setup, ["one@example.org", "vanish@example.org", "two@example.org"])
    code, output = bulletin("send", issue(setup), "--yes")
    assert "1 uncertain" in output
    code, output = bulletin("status", issue(setup))
    assert "Uncertain (1)" in output and "vanish@example.org" in output
    before = len(server.received)
    code, output = bulletin("send", issue(setup), "--yes")
    assert "will NOT be sent again" in output and len(server.received) == before
    code, output = bulletin("send", issue(setup), "--yes", "--resend-uncertain")
    assert code == 0 and "will be sent again" in output and "To send:    0" in output
    assert "1 uncertain" in output  # the server vanished again


def test_dry_run_sends_and_records_nothing(setup: Path, server: SmtpServer) -> None:
    subscribe(setup, ["ann@example.org"])
    code, output = bulletin("send", issue(setup), "--dry-run")
    assert code == 0 and "Dry run" in output and "To send:    1" in output
    assert server.received == []
    with Store.open(f"sqlite:///{setup / 'bulletin.db'}") as store:
        assert sum(store.ledger.counts("cohes3ion/cohes3ion-04").values()) == 0


def test_without_confirmation_nothing_is_sent(setup: Path, server: SmtpServer) -> None:
    subscribe(setup, ["ann@example.org"])
    code, output = bulletin("send", issue(setup), stdin="n\n")
    assert code == 1 and "Not sent." in output
    assert server.received == []


def test_send_test(setup: Path, server: SmtpServer) -> None:
    subscribe(setup, ["reader@example.org"])
    code, output = bulletin("send-test", issue(setup), "--to", "me@example.org",
                            "--to", "boss@example.org")
    assert code == 0, output
    subjects = {r.rcpt_tos[0]: email.message_from_bytes(r.content, policy=policy.default)[
        "Subject"] for r in server.received}
    assert subjects == {"me@example.org": "[TEST] Cohes3ion Newsletter Issue 4",
                        "boss@example.org": "[TEST] Cohes3ion Newsletter Issue 4"}
    code, output = bulletin("send", issue(setup), "--dry-run")
    assert "Test sends: 2 (boss@example.org, me@example.org)" in output
    code, output = bulletin("send-test", issue(setup), "--to", "not an address")
    assert code == 1 and output.startswith("Error: --to not an address:")


def test_send_without_secret_key_refuses(setup: Path, server: SmtpServer,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    subscribe(setup, ["ann@example.org"])
    monkeypatch.delenv("BULLETIN_SECRET_KEY")
    code, output = bulletin("send", issue(setup), "--yes")
    assert code == 1 and "BULLETIN_SECRET_KEY" in output
    assert server.received == []


def test_server_down_is_a_clear_error(setup: Path, server: SmtpServer) -> None:
    subscribe(setup, ["ann@example.org"])
    server.stop()
    code, output = bulletin("send", issue(setup), "--yes")
    assert code == 1 and output.count("Error:") == 1
    with Store.open(f"sqlite:///{setup / 'bulletin.db'}") as store:
        counts = store.ledger.counts("cohes3ion/cohes3ion-04")
    assert counts["pending"] == 1 and counts["sending"] == 0


BILINGUAL = "cohes3ion-04-bilingual.yaml"


@pytest.mark.parametrize("delivery", ["each", "bilingual"])
def test_mixed_languages_each_get_one_correct_message(setup: Path, server: SmtpServer,
                                                      delivery: str) -> None:
    from tests.conftest import ROOT

    config = setup / "bulletin.toml"
    config.write_text(config.read_text().replace('delivery = "bilingual"',
                                                 f'delivery = "{delivery}"'))
    (setup / "issues" / BILINGUAL).write_text((ROOT / "issues" / BILINGUAL).read_text())
    people = {"gwen@example.org": "cy", "dai@example.org": "cy", "ann@example.org": "en",
              "someone@example.org": None}
    with Store.open(f"sqlite:///{setup / 'bulletin.db'}") as store:
        store.create_list("cohes3ion-bilingual", newsletter="cohes3ion-bilingual")
        for address, language in people.items():
            store.subscribe(address, "cohes3ion-bilingual", source="test", language=language)
    code, output = bulletin("send", str(setup / "issues" / BILINGUAL), "--yes")
    assert code == 0, output
    assert delivered(server) == Counter(list(people))
    for received in server.received:
        message = email.message_from_bytes(received.content, policy=policy.default)
        html = message.get_body(("html",)).get_content()
        language = people[received.rcpt_tos[0]]  # None: both (the default with Welsh)
        if delivery == "bilingual" or language is None:
            assert message["Subject"] == ("Cylchlythyr Cohes3ion Rhifyn 4 / "
                                          "Cohes3ion Newsletter Issue 4")
            assert "Dad-danysgrifio / Unsubscribe" in html
        elif language == "cy":
            assert message["Subject"] == "Cylchlythyr Cohes3ion Rhifyn 4"
            assert '<html lang="cy"' in html and "Regional Action Plans" not in html
        else:
            assert message["Subject"] == "Cohes3ion Newsletter Issue 4"
            assert '<html lang="en"' in html and "Cyhoeddi Cynlluniau" not in html


def test_one_language_at_a_time(setup: Path, server: SmtpServer) -> None:
    """`send --lang`: one edition to its own readers; the rest by a later run; nobody twice."""
    from tests.conftest import ROOT

    config = setup / "bulletin.toml"
    config.write_text(config.read_text().replace(
        '\ndelivery = "bilingual"\n', '\ndelivery = "each"\nunknown_language = "first"\n'))
    (setup / "issues" / BILINGUAL).write_text((ROOT / "issues" / BILINGUAL).read_text())
    people = {"gwen@example.org": "cy", "dai@example.org": "cy", "ann@example.org": "en",
              "someone@example.org": None, "pierre@example.org": "fr"}
    with Store.open(f"sqlite:///{setup / 'bulletin.db'}") as store:
        store.create_list("cohes3ion-bilingual", newsletter="cohes3ion-bilingual")
        for address, language in people.items():
            store.subscribe(address, "cohes3ion-bilingual", source="test", language=language)
    path = str(setup / "issues" / BILINGUAL)

    code, output = bulletin("send", path, "--lang", "en", "--yes")
    assert code == 0, output
    assert "Language:   en only" in output and "To send:    1" in output
    assert delivered(server) == Counter(["ann@example.org"])
    assert all(email.message_from_bytes(m.content, policy=policy.default)["Subject"]
               == "Cohes3ion Newsletter Issue 4" for m in server.received)

    code, output = bulletin("send", path, "--lang", "cy", "--yes")
    assert code == 0, output
    assert "To send:    4" in output
    welsh = [m for m in server.received if m.rcpt_tos[0] != "ann@example.org"]
    assert sorted(m.rcpt_tos[0] for m in welsh) == sorted(a for a, lang in people.items()
                                                          if lang != "en")
    assert all(email.message_from_bytes(m.content, policy=policy.default)["Subject"]
               == "Cylchlythyr Cohes3ion Rhifyn 4" for m in welsh)

    for extra in ([], ["--lang", "en"], ["--lang", "cy"]):
        code, output = bulletin("send", path, "--yes", *extra)
        assert code == 0 and "Nothing to send." in output, output
    assert delivered(server) == Counter(list(people))


def test_lang_needs_each_language_its_own_email(setup: Path, server: SmtpServer) -> None:
    from tests.conftest import ROOT

    (setup / "issues" / BILINGUAL).write_text((ROOT / "issues" / BILINGUAL).read_text())
    code, output = bulletin("send", str(setup / "issues" / BILINGUAL), "--lang", "cy",
                            "--yes")
    assert code == 1 and output.count("\n") == 1
    assert 'delivery = "bilingual"' in output and "--lang cy" in output
    subscribe(setup, ["reader@example.org"])
    code, output = bulletin("send", issue(setup), "--lang", "en", "--yes")
    assert code == 1 and "only in en; send it without --lang" in output, output
    assert server.received == []


def test_the_report_groups_failures_whatever_address_they_name(setup: Path,
                                                                server: SmtpServer) -> None:
    subscribe(setup, [f"reject{n}@example.org" for n in range(3)] + ["ok@example.org"])
    code, output = bulletin("send", issue(setup), "--yes")
    assert code == 0, output
    assert "3 x 550 5.1.1 <address>: no such user here" in output
    assert "reject0@example.org" not in output.split("Done in", 1)[1]
