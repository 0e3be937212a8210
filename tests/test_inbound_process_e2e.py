"""End to end: an issue sent with VERP through a real SMTP server (aiosmtpd); what comes back
about it (a hard and a soft bounce, a complaint, an auto-reply, an emailed unsubscribe)
written from the messages the server took and fed to `bulletin bounces receive` as the MTA
runs it; the store's state and evidence, nothing changed by feeding it all again, and the
next issue skips those who left."""

from __future__ import annotations

import email
import os
import re
import subprocess
import sys
from email import policy
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bulletin import links
from bulletin.cli import app
from bulletin.store import Store
from tests.conftest import EXAMPLE
from tests.inbound_mail import arf, auto_reply, dsn, unsubscribe_request
from tests.smtp_server import SECRET_KEY, SmtpServer, ready_to_send

pytestmark = pytest.mark.slow  # a send through a real SMTP server, and subprocesses

PEOPLE = {"ann@example.org": "hard", "bob@example.org": "soft",
          "cat@example.org": "complaint", "dan@example.org": "auto-reply",
          "eve@example.org": "unsubscribe", "fay@example.org": "nothing"}


def receive(workspace: Path, raw: bytes) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "BULLETIN_SECRET_KEY": SECRET_KEY}
    for name in ("BULLETIN_CONFIG", "BULLETIN_DATABASE_URL"):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "bulletin", "bounces", "receive"], input=raw,
                          cwd=workspace, env=env, capture_output=True, check=False)


def state(workspace: Path) -> tuple[dict[str, tuple[str, bool]], int, int]:
    """Each person's (status, suppressed); the audit rows and inbound rows in all."""
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:
        people = {a: (store.subscriber(a).status, store.subscriber(a).suppressed)
                  for a in PEOPLE}
        audit = sum(len(store.audit(a)) for a in PEOPLE)
        inbound = sum(len(store.inbound.of(store.subscriber(a).id)) for a in PEOPLE)
    return people, audit, inbound


def test_what_comes_back_is_processed_once_and_the_next_send_skips_who_left(
        workspace: Path, server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    ready_to_send(workspace, server.port, monkeypatch, connections=2)
    config = workspace / "bulletin.toml"
    config.write_text(config.read_text().replace(
        "[newsletters.cohes3ion]\n", "[newsletters.cohes3ion]\nverp = true\n", 1))
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:
        store.create_list("cohes3ion", newsletter="cohes3ion")
        for address in PEOPLE:
            store.subscribe(address, "cohes3ion", source="test")
        ids = {a: store.subscriber(a).id for a in PEOPLE}
    issue = workspace / "issues" / EXAMPLE.name
    result = CliRunner().invoke(app, ["send", str(issue), "--yes"])
    assert result.exit_code == 0, result.output

    # Each message's envelope sender names its own ledger row, as does its Message-ID.
    sent = {m.rcpt_tos[0]: m for m in server.received}
    assert set(sent) == set(PEOPLE)
    key = SECRET_KEY.encode()
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:
        for address, message in sent.items():
            local, _, domain = message.mail_from.rpartition("@")
            assert domain == "example.gov.wales" and local.startswith("cohes3ion+")
            row = links.verify_delivery(local.partition("+")[2], key)
            delivery = store.inbound.delivery(row)
            assert delivery is not None and delivery.subscriber_id == ids[address]
            parsed = email.message_from_bytes(message.content, policy=policy.default)
            token = re.fullmatch(r"<([a-z2-7]+)\.[0-9a-f]+@example\.gov\.wales>",
                                 parsed["Message-ID"])
            assert token is not None and links.verify_delivery(token[1], key) == row
    assert len({m.mail_from for m in sent.values()}) == len(PEOPLE)

    def content(address: str) -> bytes:
        return sent[address].content

    def envelope(address: str) -> str:
        return sent[address].mail_from

    unsubscribe = email.message_from_bytes(content("eve@example.org"),
                                           policy=policy.default)["List-Unsubscribe"]
    mailto = re.search(r"<mailto:([^?>]+)\?subject=unsubscribe%20([^>]+)>", unsubscribe)
    assert mailto is not None
    inbound = [
        dsn(content("ann@example.org"), envelope("ann@example.org"), "ann@example.org",
            "5.1.1", "550 5.1.1 <ann@example.org>: Recipient address rejected: User unknown"),
        dsn(content("bob@example.org"), envelope("bob@example.org"), "bob@example.org",
            "4.2.2", "452 4.2.2 <bob@example.org>: Mailbox full"),
        arf(content("cat@example.org"), "fbl@example.gov.wales", "cat@example.org"),
        auto_reply(content("dan@example.org"), envelope("dan@example.org"), "dan@example.org"),
        unsubscribe_request(mailto[1], "eve@example.org", mailto[2]),
    ]
    outputs = []
    for raw in inbound:
        done = receive(workspace, raw)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout.decode())
    assert [line.split(":")[0] for line in outputs] == \
        ["hard", "soft", "complaint", "auto-reply", "unsubscribe"]

    people, audit, recorded = state(workspace)
    assert people == {"ann@example.org": ("bounced", True), "bob@example.org": ("active", False),
                      "cat@example.org": ("complained", True),
                      "dan@example.org": ("active", False),
                      "eve@example.org": ("unsubscribed", False),
                      "fay@example.org": ("active", False)}
    assert recorded == 5
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:
        [hard] = store.inbound.of(ids["ann@example.org"])
        assert (hard.kind, hard.status, hard.attribution, hard.source) == \
            ("hard", "5.1.1", "verp", "pipe")
        assert store.inbound.evidence(hard.id) == inbound[0]
        trail = {(r.action, r.source): r.detail for r in store.audit("ann@example.org")}
        assert f"inbound #{hard.id}" in (trail[("bounced", "bounce")] or "")
        assert "5.1.1" in (trail[("suppress", "bounce")] or "")
        [soft] = store.inbound.of(ids["bob@example.org"])
        assert (soft.kind, soft.action) == ("soft", "counted")
        [complaint] = store.inbound.of(ids["cat@example.org"])
        assert complaint.attribution == "message-id"
        assert any(r.source == "complaint" and f"inbound #{complaint.id}" in (r.detail or "")
                   for r in store.audit("cat@example.org"))
        [request] = store.inbound.of(ids["eve@example.org"])
        assert (request.attribution, request.action) == ("token", "unsubscribed")
        [row] = [r for r in store.audit("eve@example.org") if r.source == "mailto"]
        assert row.action == "unsubscribe" and f"inbound #{request.id}" in (row.detail or "")

    # Fed again (the MTA retried, or the mailbox was read twice): nothing changes.
    for raw in inbound:
        done = receive(workspace, raw)
        assert done.returncode == 0 and b"already processed" in done.stdout
    assert state(workspace) == (people, audit, recorded)

    # The next issue goes to those still here.
    server.received.clear()
    (workspace / "issues" / "cohes3ion-05.yaml").write_text(EXAMPLE.read_text())
    result = CliRunner().invoke(app, ["send", str(workspace / "issues" / "cohes3ion-05.yaml"),
                                      "--yes"])
    assert result.exit_code == 0, result.output
    assert sorted(r for m in server.received for r in m.rcpt_tos) == \
        ["bob@example.org", "dan@example.org", "fay@example.org"]
