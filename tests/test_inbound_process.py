"""Processing what comes back, on a real store: each kind's effect with its evidence in the
audit trail, once only, and nothing for what is not ours; `bounces parse` and `bounces
receive` as the operator and the MTA run them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bulletin import links
from bulletin.cli import app
from bulletin.inbound.process import process
from bulletin.message import delivery_message_id, verp_address
from bulletin.settings import Workspace, load_workspace
from bulletin.store import Store
from tests.inbound_mail import arf, auto_reply, dsn, unsubscribe_request
from tests.inbound_store import issues_sent

KEY = "a-test-secret-key-of-some-length"
ENVELOPE = "cohes3ion@example.gov.wales"
MAILTO = "unsubscribe-cohes3ion@example.gov.wales"
PEOPLE = ["ann@example.org", "bob@example.org", "cat@example.org", "dan@example.org"]


@dataclass
class Setup:
    workspace: Workspace
    store: Store
    rows: dict[str, dict[str, int]]
    """issue -> address -> its ledger row."""

    def ids(self) -> dict[str, int]:
        return {a: self.store.subscriber(a).id for a in PEOPLE}

    def sent(self, issue: str, address: str) -> bytes:
        """The headers of the message of `issue` to `address`, as the dispatcher writes
        them."""
        token = links.sign_delivery(self.rows[issue][address], KEY.encode())
        return (f"From: Welsh Government <{ENVELOPE}>\r\nTo: {address}\r\n"
                f"Subject: COHES3ION {issue}\r\n"
                f"Message-ID: {delivery_message_id(token, 'example.gov.wales')}\r\n\r\n"
                f"Hello\r\n").encode()

    def verp(self, issue: str, address: str) -> str:
        return verp_address(ENVELOPE, links.sign_delivery(self.rows[issue][address],
                                                          KEY.encode()))

    def feed(self, raw: bytes) -> tuple[str, bool, bool, str]:
        done = process(self.store, self.workspace, raw, source="pipe")
        return done.kind, done.ours, done.duplicate, done.action


@pytest.fixture
def setup(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    monkeypatch.setenv("BULLETIN_SECRET_KEY", KEY)
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:
        rows = issues_sent(store, PEOPLE, 4, record=False)
        yield Setup(load_workspace(workspace / "bulletin.toml"), store, rows)


def test_a_hard_bounce_suppresses_with_its_evidence_once(setup: Setup) -> None:
    one = "cohes3ion/issue-1"
    raw = dsn(setup.sent(one, "ann@example.org"), setup.verp(one, "ann@example.org"),
              "ann@example.org", "5.1.1", "550 5.1.1 <ann@example.org>: no such user")
    done = process(setup.store, setup.workspace, raw, source="pipe")
    assert (done.kind, done.ours, done.duplicate, done.action, done.attribution) == \
        ("hard", True, False, "bounced", "verp")
    ann = setup.store.subscriber("ann@example.org")
    assert ann.status == "bounced" and ann.suppressed and done.subscriber_id == ann.id
    trail = [r for r in setup.store.audit("ann@example.org") if r.source == "bounce"]
    assert [r.action for r in trail] == ["bounced", "suppress"]
    for row in trail:
        assert row.detail is not None and row.actor == "pipe"
        assert "5.1.1 user-unknown" in row.detail and f"inbound #{done.inbound_id}" in row.detail
    assert done.inbound_id is not None
    assert setup.store.inbound.evidence(done.inbound_id) == raw
    [recorded] = setup.store.inbound.of(ann.id)
    assert (recorded.kind, recorded.status, recorded.reason, recorded.delivery_id,
            recorded.recipient) == ("hard", "5.1.1", "user-unknown",
                                    setup.rows[one]["ann@example.org"], "ann@example.org")

    again = process(setup.store, setup.workspace, raw, source="imap")
    assert (again.ours, again.duplicate, again.inbound_id) == (True, True, done.inbound_id)
    assert len(setup.store.audit("ann@example.org")) == len(trail) + 1  # + the subscribe
    assert len(setup.store.inbound.of(ann.id)) == 1


def test_the_message_id_attributes_without_verp(setup: Setup) -> None:
    one = "cohes3ion/issue-1"
    raw = dsn(setup.sent(one, "bob@example.org"), ENVELOPE, "bob@example.org", "5.1.1",
              "550 5.1.1 user unknown")
    done = process(setup.store, setup.workspace, raw, source="pipe")
    assert (done.attribution, done.action) == ("message-id", "bounced")
    [recorded] = setup.store.inbound.of(done.subscriber_id or 0)
    assert recorded.delivery_id == setup.rows[one]["bob@example.org"]


def test_soft_bounces_count_once_a_message_up_to_the_limit(setup: Setup) -> None:
    cat = "cat@example.org"

    def soft(issue: str, action: str = "failed", mta: str = "mx.example.org") -> bytes:
        return dsn(setup.sent(issue, cat), setup.verp(issue, cat), cat, "4.2.2",
                   "452 4.2.2 mailbox full", action=action, mta=mta)

    assert setup.feed(soft("cohes3ion/issue-1", "delayed"))[3] == "nothing"  # a delay
    assert setup.feed(soft("cohes3ion/issue-1"))[3] == "counted"
    # The same message again (a later notice about it): still one.
    assert setup.feed(soft("cohes3ion/issue-1", mta="mx2.example.org"))[3] == "counted"
    assert setup.feed(soft("cohes3ion/issue-2"))[3] == "counted"
    assert setup.store.subscriber(cat).status == "active"
    assert setup.feed(soft("cohes3ion/issue-3")) == ("soft", True, False, "bounced")
    info = setup.store.subscriber(cat)
    assert info.status == "bounced" and info.suppressed
    [bounced] = [r for r in setup.store.audit(cat) if r.action == "bounced"]
    assert bounced.detail is not None and bounced.detail.startswith("3 soft bounces in 30 days")


def test_a_complaint_unsubscribes_from_everything_and_suppresses(setup: Setup) -> None:
    one = "cohes3ion/issue-2"
    raw = arf(setup.sent(one, "dan@example.org"), "fbl@example.gov.wales", "dan@example.org")
    done = process(setup.store, setup.workspace, raw, source="imap")
    assert (done.kind, done.attribution, done.action) == ("complaint", "message-id",
                                                          "complained")
    dan = setup.store.subscriber("dan@example.org")
    assert dan.status == "complained" and dan.suppressed  # the status: from everything
    assert any(r.source == "complaint" and r.actor == "imap" and
               f"inbound #{done.inbound_id}" in (r.detail or "")
               for r in setup.store.audit("dan@example.org"))


def test_an_auto_reply_changes_nothing(setup: Setup) -> None:
    one = "cohes3ion/issue-1"
    raw = auto_reply(setup.sent(one, "bob@example.org"), setup.verp(one, "bob@example.org"),
                     "bob@example.org")
    assert setup.feed(raw) == ("auto-reply", True, False, "nothing")
    assert setup.store.subscriber("bob@example.org").status == "active"
    assert len(setup.store.audit("bob@example.org")) == 1


def test_an_emailed_unsubscribe_needs_a_valid_token(setup: Setup) -> None:
    ids = setup.ids()
    token = links.sign("unsubscribe", str(ids["bob@example.org"]), KEY.encode())
    # No token, a forged one, another purpose's: nobody is unsubscribed by their From.
    for bad in ("", links.sign("unsubscribe", str(ids["bob@example.org"]), b"x" * 32),
                links.sign("preferences", str(ids["bob@example.org"]), KEY.encode())):
        raw = unsubscribe_request(MAILTO, "bob@example.org", bad)
        assert setup.feed(raw)[1:] == (False, False, "ignored")
    assert setup.store.subscriber("bob@example.org").status == "active"
    done = process(setup.store, setup.workspace,
                   unsubscribe_request(MAILTO, "someone.else@example.net", token), source="pipe")
    assert (done.kind, done.ours, done.action, done.subscriber_id) == \
        ("unsubscribe", True, "unsubscribed", ids["bob@example.org"])
    bob = setup.store.subscriber("bob@example.org")
    assert bob.status == "unsubscribed" and not bob.suppressed
    [row] = [r for r in setup.store.audit("bob@example.org") if r.source == "mailto"]
    assert row.action == "unsubscribe" and f"inbound #{done.inbound_id}" in (row.detail or "")


def test_mail_that_is_not_ours_is_not_recorded(setup: Setup) -> None:
    personal = b"From: a@example.net\r\nTo: b@example.org\r\nSubject: lunch?\r\n\r\nAt one?\r\n"
    assert setup.feed(personal) == ("not-bounce", False, False, "ignored")
    stranger = dsn(b"Message-ID: <abc@elsewhere.example>\r\nSubject: hi\r\n\r\nhi\r\n",
                   "someone@elsewhere.example", "nobody@example.com", "5.1.1", "550 unknown")
    assert setup.feed(stranger) == ("hard", False, False, "ignored")
    assert all(setup.store.inbound.of(i) == [] for i in setup.ids().values())


def test_a_suppression_is_lifted_with_an_audit_row(setup: Setup) -> None:
    store = setup.store
    store.suppressions.add("Eve@example.org", reason="asked", source="cli")
    assert store.suppressions.remove("eve@example.org", source="cli", actor="tester",
                                     reason="she wrote to us")
    assert not store.is_suppressed("eve@example.org")
    assert not store.suppressions.remove("eve@example.org", source="cli")
    rows = store.audit("eve@example.org")
    assert [r.action for r in rows] == ["suppress", "unsuppress"]
    assert rows[1].actor == "tester" and rows[1].detail == "was: asked; she wrote to us"


HARD = dsn(b"Message-ID: <abc@elsewhere.example>\r\nSubject: hi\r\n\r\nhi\r\n",
           "someone@elsewhere.example", "nobody@example.com", "5.1.1",
           "550 5.1.1 user unknown")


def test_parse_prints_one_json_object(tmp_path: Path) -> None:
    path = tmp_path / "bounce.eml"
    path.write_bytes(HARD)
    result = CliRunner().invoke(app, ["bounces", "parse", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"kind": "hard", "recipients": ["nobody@example.com"],
                                         "status": "5.1.1", "reason": "user-unknown"}
    result = CliRunner().invoke(app, ["bounces", "parse", str(path)])
    assert result.exit_code == 0 and "hard" in result.stdout and "5.1.1" in result.stdout
    path.write_bytes(unsubscribe_request(MAILTO, "a@example.org", "tok"))
    result = CliRunner().invoke(app, ["bounces", "parse", str(path), "--json"])
    assert json.loads(result.stdout)["kind"] == "not-bounce"
    path.write_bytes(b"\x00\x01\x02binary")
    result = CliRunner().invoke(app, ["bounces", "parse", str(path), "--json"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.count("\n") == 1 and str(path) in result.stderr


def receive(workspace: Path, raw: bytes, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BULLETIN_SECRET_KEY": KEY, **environment}
    env.pop("BULLETIN_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "bulletin", "bounces", "receive"],
                          input=raw.decode("latin-1"), cwd=workspace, env=env,
                          capture_output=True, text=True, encoding="latin-1", check=False)


@pytest.mark.slow
def test_receive_says_tempfail_when_the_store_is_unavailable(workspace: Path) -> None:
    from tests.smtp_server import free_port

    for url in (f"postgresql+psycopg://bulletin@127.0.0.1:{free_port()}/bulletin",
                "postgresql+psycopg://postgres@127.0.0.1:5432/no_such_database_here"):
        done = receive(workspace, HARD, BULLETIN_DATABASE_URL=url)
        assert done.returncode == 75, done.stderr
        assert done.stderr.count("\n") == 1 and "try again later" in done.stderr
        assert "Traceback" not in done.stderr
    assert not (workspace / "bulletin.db").exists()  # nothing recorded anywhere else either


@pytest.mark.slow
def test_receive_refuses_what_is_not_an_email(workspace: Path) -> None:
    done = receive(workspace, b"\x00\x01 not mail")
    assert done.returncode == 65 and done.stderr.count("\n") == 1


def test_a_forged_token_naming_a_subscriber_changes_nothing(setup: Setup) -> None:
    one = "cohes3ion/issue-1"
    forged = links.sign_delivery(setup.rows[one]["ann@example.org"], b"x" * 32)
    by_verp = dsn(setup.sent(one, "ann@example.org"), verp_address(ENVELOPE, forged),
                  "ann@example.org", "5.1.1", "550 5.1.1 no such user")
    # Our From, but a Message-ID in our format whose token does not verify.
    sent = (f"From: Welsh Government <{ENVELOPE}>\r\nTo: bob@example.org\r\n"
            f"Message-ID: {delivery_message_id(forged, 'example.gov.wales')}\r\n\r\nHi\r\n")
    by_id = dsn(sent.encode(), ENVELOPE, "bob@example.org", "5.1.1", "550 5.1.1 no such user")
    for raw in (by_verp, by_id):
        assert setup.feed(raw) == ("hard", False, False, "ignored")
    for person in ("ann@example.org", "bob@example.org"):
        assert setup.store.subscriber(person).status == "active"
        assert setup.store.inbound.of(setup.ids()[person]) == []


def test_a_complaint_without_a_token_changes_nothing(setup: Setup) -> None:
    # Anyone can send a feedback report naming anyone, about any message.
    sent = (f"From: Welsh Government <{ENVELOPE}>\r\nTo: cat@example.org\r\n"
            f"Subject: Hello\r\n\r\nHi\r\n").encode()
    assert setup.feed(arf(sent, ENVELOPE, "cat@example.org")) == \
        ("complaint", False, False, "ignored")
    cat = setup.store.subscriber("cat@example.org")
    assert cat.status == "active" and not cat.suppressed


def test_a_bounce_of_mail_not_ours_changes_nothing(setup: Setup) -> None:
    foreign = (b"From: someone@elsewhere.example\r\nTo: dan@example.org\r\n"
               b"Message-ID: <a.b@elsewhere.example>\r\n\r\nHi\r\n")
    raw = dsn(foreign, "someone@elsewhere.example", "dan@example.org", "5.1.1",
              "550 5.1.1 no such user")
    assert setup.feed(raw) == ("hard", False, False, "ignored")
    assert setup.store.subscriber("dan@example.org").status == "active"
    # The same report about a message of ours (our From, no token) is attributed by address.
    ours = (f"From: Welsh Government <{ENVELOPE}>\r\nTo: dan@example.org\r\n"
            f"Message-ID: <1.2@example.gov.wales>\r\n\r\nHi\r\n").encode()
    done = process(setup.store, setup.workspace,
                   dsn(ours, ENVELOPE, "dan@example.org", "5.1.1", "550 5.1.1 no such user"),
                   source="pipe")
    assert (done.attribution, done.action) == ("address", "bounced")


def test_delay_notices_change_nothing(setup: Setup) -> None:
    cat = "cat@example.org"
    for number in range(1, 5):
        issue = f"cohes3ion/issue-{number}"
        raw = dsn(setup.sent(issue, cat), setup.verp(issue, cat), cat, "4.7.1",
                  "450 4.7.1 greylisted, try again later", action="delayed")
        assert setup.feed(raw) == ("soft", True, False, "nothing")
    assert setup.store.subscriber(cat).status == "active"
    assert setup.store.inbound.of_issue("cohes3ion/issue-1").soft == 0


def test_a_feedback_loop_opt_out_unsubscribes(setup: Setup) -> None:
    one = "cohes3ion/issue-3"
    raw = arf(setup.sent(one, "bob@example.org"), ENVELOPE, "bob@example.org") \
        .replace(b"Feedback-Type: abuse", b"Feedback-Type: opt-out")
    done = process(setup.store, setup.workspace, raw, source="imap")
    assert (done.kind, done.ours, done.action, done.attribution) == \
        ("unsubscribe", True, "unsubscribed", "message-id")
    bob = setup.store.subscriber("bob@example.org")
    assert bob.status == "unsubscribed" and not bob.suppressed
    [row] = [r for r in setup.store.audit("bob@example.org") if r.action == "unsubscribe"]
    assert row.source == "feedback-loop"


def test_an_auto_reply_matched_by_address_keeps_no_copy(setup: Setup) -> None:
    reply = (b"From: ann@example.org\r\nTo: cohes3ion@example.gov.wales\r\n"
             b"Subject: Out of Office: hello\r\nAuto-Submitted: auto-replied\r\n"
             b"Message-ID: <r1@example.org>\r\n\r\nI am away, my new number is 0123.\r\n")
    done = process(setup.store, setup.workspace, reply, source="pipe")
    assert (done.kind, done.attribution, done.action) == ("auto-reply", "address", "nothing")
    assert done.inbound_id is not None
    assert setup.store.inbound.evidence(done.inbound_id) == b""


def test_a_complaint_outranks_a_later_bounce_either_way(setup: Setup) -> None:
    # Store.record_complaint/record_bounce follow the same rule as what comes back by mail.
    setup.store.record_complaint("ann@example.org")
    setup.store.record_bounce("ann@example.org", reply="550 5.1.1 no such user")
    assert setup.store.subscriber("ann@example.org").status == "complained"


def test_receive_keeps_personal_data_out_of_an_unexpected_failure(
        workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bulletin.inbound.process

    def fails(*args: object, **kwargs: object) -> None:
        raise RuntimeError("cannot handle <ann@example.org>")

    monkeypatch.setenv("BULLETIN_SECRET_KEY", KEY)
    monkeypatch.chdir(workspace)
    monkeypatch.setattr(bulletin.inbound.process, "process", fails)
    result = CliRunner().invoke(app, ["bounces", "receive"], input=HARD)
    assert result.exit_code == 75
    assert "try again later" in result.output and "RuntimeError" in result.output
    assert "ann@example.org" not in result.output


@pytest.mark.slow
def test_a_token_that_does_not_verify_is_named_as_the_reason(setup: Setup,
                                                             workspace: Path) -> None:
    bob = setup.ids()["bob@example.org"]
    forged = links.sign("unsubscribe", str(bob), b"x" * 32)
    cut = links.sign("unsubscribe", str(bob), KEY.encode())[:-6]
    for token in (forged, cut):
        raw = unsubscribe_request(MAILTO, "bob@example.org", token)
        done = process(setup.store, setup.workspace, raw, source="pipe")
        assert (done.ours, done.action) == (False, "ignored")
        assert "token does not verify" in done.note
        said = receive(workspace, raw)
        assert said.returncode == 0 and "token does not verify" in said.stdout, said.stdout
    verp = dsn(setup.sent("cohes3ion/issue-1", "ann@example.org"),
               verp_address(ENVELOPE, links.sign_delivery(1, b"x" * 32)), "ann@example.org",
               "5.1.1", "550 5.1.1 no such user")
    assert "token does not verify" in process(setup.store, setup.workspace, verp,
                                              source="pipe").note
    assert setup.store.subscriber("bob@example.org").status == "active"
