"""End to end with a real MTA writing the bounces: an issue sent with VERP through a private
Postfix (tests/postfix_server.py), which relays it to a server (aiosmtpd) that refuses two
of the six recipients with 550 5.1.1 after Postfix has taken the messages; Postfix itself
writes the two delivery status notifications to the VERP addresses and delivers them into a
real Dovecot's mailbox (tests/imap_server.py), which `bulletin bounces fetch` reads. The two
end bounced and suppressed, with the Postfix DSN as evidence, attributed by their VERP
address; the four others are untouched; reading the mailbox again changes nothing; and the
next issue goes to the four alone."""

from __future__ import annotations

import email
from collections.abc import Iterator
from email import policy
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from bulletin.cli import app
from bulletin.store import Store
from tests.conftest import EXAMPLE
from tests.postfix_server import Postfix
from tests.smtp_server import SmtpServer, ready_to_send

if TYPE_CHECKING:
    from tests.imap_server import Dovecot

pytest_plugins = ["tests.imap_server"]
pytestmark = pytest.mark.slow  # Postfix, Dovecot and aiosmtpd, all real

DOMAIN = "example.gov.wales"  # the example newsletter's envelope domain
# The relay refuses an address with "reject" in it (tests/smtp_server.py): 550 5.1.1 at RCPT.
REJECTED = ["reject-bob@example.org", "reject-dan@example.org"]
KEPT = ["ann@example.org", "cat@example.org", "eve@example.org", "fay@example.org"]


@pytest.fixture
def relay() -> Iterator[SmtpServer]:
    with SmtpServer(pipelining=True) as running:
        yield running


@pytest.fixture
def postfix(relay: SmtpServer, dovecot: Dovecot) -> Iterator[Postfix]:
    with Postfix(relay_port=relay.port, domain=DOMAIN, maildir=dovecot.maildir,
                 uid=dovecot.uid, gid=dovecot.gid) as running:
        yield running


def inbound_table(server: Dovecot) -> str:
    return (f'\n[inbound]\nhost = "{server.host}"\nport = {server.port}\nsecurity = "tls"\n'
            f'username = "{server.user}"\nca_file = "{server.ca_file}"\n')


def state(workspace: Path) -> tuple[dict[str, tuple[str, bool]], int, int]:
    """Each person's (status, suppressed); the audit rows and inbound rows in all."""
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:
        everyone = REJECTED + KEPT
        people = {a: (store.subscriber(a).status, store.subscriber(a).suppressed)
                  for a in everyone}
        audit = sum(len(store.audit(a)) for a in everyone)
        inbound = sum(len(store.inbound.of(store.subscriber(a).id)) for a in everyone)
    return people, audit, inbound


def test_postfix_bounces_end_bounced_and_suppressed_and_the_next_send_skips_them(
        workspace: Path, relay: SmtpServer, postfix: Postfix, dovecot: Dovecot,
        monkeypatch: pytest.MonkeyPatch) -> None:
    ready_to_send(workspace, postfix.port, monkeypatch, connections=2)
    config = workspace / "bulletin.toml"
    config.write_text(config.read_text().replace(
        "[newsletters.cohes3ion]\n", "[newsletters.cohes3ion]\nverp = true\n", 1)
        + inbound_table(dovecot))
    monkeypatch.chdir(workspace)
    monkeypatch.setenv("BULLETIN_IMAP_PASSWORD", dovecot.password)
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:
        store.create_list("cohes3ion", newsletter="cohes3ion")
        for address in REJECTED + KEPT:
            store.subscribe(address, "cohes3ion", source="test")
        ids = {a: store.subscriber(a).id for a in REJECTED + KEPT}

    result = CliRunner().invoke(app, ["send", str(workspace / "issues" / EXAMPLE.name),
                                      "--yes"])
    assert result.exit_code == 0, result.output  # Postfix took all six
    postfix.wait_until_empty()  # relayed or bounced, and the bounces delivered
    assert sorted(r for m in relay.received for r in m.rcpt_tos) == sorted(KEPT)

    # What Postfix wrote: one DSN for each refused recipient, to that message's VERP address.
    reports = {}
    for flags, raw in dovecot.contents("INBOX"):
        assert "\\Seen" not in flags
        report = email.message_from_bytes(raw, policy=policy.default)
        assert report["From"].addresses[0].addr_spec == f"MAILER-DAEMON@{postfix.hostname}"
        assert report.get_content_type() == "multipart/report"
        verp = report["X-Original-To"]
        assert verp.startswith("cohes3ion+") and verp.endswith(f"@{DOMAIN}")
        [status] = [part for part in report.walk()
                    if part.get_content_type() == "message/delivery-status"]
        assert "Status: 5.1.1" in status.as_string()
        [recipient] = [a for a in REJECTED if f"rfc822; {a}".encode() in raw]
        reports[recipient] = (verp, raw)
    assert sorted(reports) == REJECTED

    fetched = CliRunner().invoke(app, ["bounces", "fetch"])
    assert fetched.exit_code == 0, fetched.output
    people, audit, recorded = state(workspace)
    assert people == {**{a: ("bounced", True) for a in REJECTED},
                      **{a: ("active", False) for a in KEPT}}
    assert recorded == 2
    assert dovecot.contents("INBOX") == []  # both moved to the processed folder
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:
        for address in REJECTED:
            [bounce] = store.inbound.of(ids[address])
            assert (bounce.kind, bounce.status, bounce.attribution, bounce.source,
                    bounce.recipient) == ("hard", "5.1.1", "verp", "imap", address)
            assert bounce.delivery_id is not None
            delivery = store.inbound.delivery(bounce.delivery_id)
            assert delivery is not None and delivery.subscriber_id == ids[address]
            evidence = store.inbound.evidence(bounce.id)
            assert evidence is not None
            verp, raw = reports[address]
            assert evidence.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
            assert f"Reporting-MTA: dns; {postfix.hostname}".encode() in evidence
            assert f"To: {verp}".encode() in evidence
            trail = {(r.action, r.source): r.detail for r in store.audit(address)}
            assert f"inbound #{bounce.id}" in (trail[("bounced", "bounce")] or "")
            assert "5.1.1" in (trail[("suppress", "bounce")] or "")
        for address in KEPT:
            assert store.inbound.of(ids[address]) == []

    # The mailbox read again: nothing changes.
    again = CliRunner().invoke(app, ["bounces", "fetch"])
    assert again.exit_code == 0, again.output
    assert state(workspace) == (people, audit, recorded)

    # The next issue, through the same Postfix, goes to the four alone; nothing bounces.
    relay.received.clear()
    (workspace / "issues" / "cohes3ion-05.yaml").write_text(EXAMPLE.read_text())
    result = CliRunner().invoke(app, ["send", str(workspace / "issues" / "cohes3ion-05.yaml"),
                                      "--yes"])
    assert result.exit_code == 0, result.output
    postfix.wait_until_empty()
    assert sorted(r for m in relay.received for r in m.rcpt_tos) == sorted(KEPT)
    assert dovecot.contents("INBOX") == []
    assert state(workspace) == (people, audit, recorded)
