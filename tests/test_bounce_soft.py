"""Soft bounces on a real store: counted once per original message however many reports come
about it (retries, two relays), each traced to its ledger row and issue, and the two rules
that make them count as hard: `soft_limit` within `soft_days` days, and a soft bounce of each
of the last `soft_consecutive` issues sent to the subscriber."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bulletin import links
from bulletin.inbound.process import process
from bulletin.message import delivery_message_id, verp_address
from bulletin.settings import Workspace, load_workspace
from bulletin.store import Store
from tests.inbound_mail import dsn
from tests.inbound_store import issues_sent

pytest_plugins = ["tests.store_fixtures"]

KEY = "a-test-secret-key-of-some-length"
ENVELOPE = "cohes3ion@example.gov.wales"
PEOPLE = ["ann@example.org", "bob@example.org", "cat@example.org", "dan@example.org"]


@dataclass
class Sent:
    workspace: Workspace
    store: Store
    rows: dict[str, dict[str, int]]
    """issue -> address -> its ledger row (sent, in the order of the issues)."""

    def soft(self, issue: str, address: str, *, mta: str = "mx.example.org",
             verp: bool = True) -> str:
        """A soft bounce (mailbox full) of `issue`'s message to `address`, as `mta` reports
        it; what was done."""
        token = links.sign_delivery(self.rows[issue][address], KEY.encode())
        sent = (f"From: Welsh Government <{ENVELOPE}>\r\nTo: {address}\r\n"
                f"Subject: COHES3ION {issue}\r\n"
                f"Message-ID: {delivery_message_id(token, 'example.gov.wales')}\r\n\r\n"
                ).encode()
        raw = dsn(sent, verp_address(ENVELOPE, token) if verp else ENVELOPE, address,
                  "4.2.2", "452 4.2.2 mailbox full", mta=mta)
        return process(self.store, self.workspace, raw, source="pipe").action

    def soft_untraced(self, original: str, address: str, *, mta: str = "mx.example.org"
                      ) -> str:
        """A soft bounce quoting a message of ours by its From alone (its Message-ID not of
        our token format, no VERP): traced to the subscriber by the failed address."""
        sent = (f"From: Welsh Government <{ENVELOPE}>\r\nTo: {address}\r\n"
                f"Subject: COHES3ION\r\nMessage-ID: {original}\r\n\r\n").encode()
        raw = dsn(sent, ENVELOPE, address, "4.2.2", "452 4.2.2 mailbox full", mta=mta)
        return process(self.store, self.workspace, raw, source="pipe").action


@pytest.fixture
def sent(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sent]:
    """Four issues sent to four people; soft_limit 5, so that the window rule stays out of
    the way of the consecutive one unless a test says otherwise."""
    monkeypatch.setenv("BULLETIN_SECRET_KEY", KEY)
    with (workspace / "bulletin.toml").open("a") as toml:
        toml.write("\n[newsletters.cohes3ion.bounces]\nsoft_limit = 5\nsoft_consecutive = 3\n")
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:
        rows = issues_sent(store, PEOPLE, 4)
        yield Sent(load_workspace(workspace / "bulletin.toml"), store, rows)


def test_each_soft_bounce_keeps_its_ledger_row_and_issue(sent: Sent) -> None:
    assert sent.soft("cohes3ion/issue-2", "ann@example.org") == "counted"
    [row] = sent.store.inbound.of(sent.store.subscriber("ann@example.org").id)
    assert row.delivery_id == sent.rows["cohes3ion/issue-2"]["ann@example.org"]
    assert row.issue == "cohes3ion/issue-2"


def test_reports_about_one_message_count_once_even_traced_by_address(sent: Sent) -> None:
    bob = "bob@example.org"
    first, second, third = (f"<issue-{n}-0001@example.gov.wales>" for n in (1, 2, 3))
    for _ in range(2):  # two relays report each message: five reports, three messages
        assert sent.soft_untraced(first, bob, mta="mx1.example.org") == "counted"
        assert sent.soft_untraced(first, bob, mta="mx2.example.org") == "counted"
    assert sent.soft_untraced(second, bob) == "counted"
    assert sent.soft_untraced(second, bob, mta="mx3.example.org") == "counted"
    assert sent.store.subscriber(bob).status == "active"
    assert sent.soft_untraced(third, bob) == "counted"
    # The fourth and fifth messages reach soft_limit 5 (the window rule still works).
    assert sent.soft_untraced("<issue-4-0001@example.gov.wales>", bob) == "counted"
    assert sent.soft_untraced("<issue-5-0001@example.gov.wales>", bob) == "bounced"
    [audit] = [r for r in sent.store.audit(bob) if r.action == "bounced"]
    assert audit.detail is not None and audit.detail.startswith("5 soft bounces in 30 days")


def test_retries_of_one_message_through_verp_count_once(sent: Sent) -> None:
    cat = "cat@example.org"
    for mta in ("mx1.example.org", "mx2.example.org", "mx3.example.org"):
        assert sent.soft("cohes3ion/issue-4", cat, mta=mta) == "counted"
    for mta in ("mx1.example.org", "mx2.example.org"):
        assert sent.soft("cohes3ion/issue-3", cat, mta=mta, verp=False) == "counted"
    assert sent.store.subscriber(cat).status == "active"


def test_soft_bounces_of_the_last_k_issues_count_as_hard(sent: Sent) -> None:
    ann = "ann@example.org"
    assert sent.soft("cohes3ion/issue-2", ann) == "counted"
    assert sent.soft("cohes3ion/issue-4", ann) == "counted"
    assert sent.store.subscriber(ann).status == "active"
    # Issue 3 completes the last three issues sent to her (4, 3, 2): each bounced.
    assert sent.soft("cohes3ion/issue-3", ann, verp=False) == "bounced"
    info = sent.store.subscriber(ann)
    assert info.status == "bounced" and info.suppressed
    [audit] = [r for r in sent.store.audit(ann) if r.action == "bounced"]
    assert audit.detail is not None and audit.detail.startswith(
        "soft bounces of the last 3 issues sent (limit 3: cohes3ion/issue-4, "
        "cohes3ion/issue-3, cohes3ion/issue-2)")
    last = sent.store.inbound.of(info.id)[-1]
    assert f"inbound #{last.id}" in audit.detail
    assert sent.store.inbound.evidence(last.id).startswith(b"From: Mail Delivery System")


def test_a_gap_in_the_issues_keeps_the_count(sent: Sent) -> None:
    dan = "dan@example.org"
    for issue in ("cohes3ion/issue-1", "cohes3ion/issue-2", "cohes3ion/issue-4"):
        assert sent.soft(issue, dan) == "counted"  # issue 3 reached him: no streak of 3
    # Repeated reports about issue 4 make no streak either.
    assert sent.soft("cohes3ion/issue-4", dan, mta="mx9.example.org") == "counted"
    assert sent.store.subscriber(dan).status == "active"


def test_the_consecutive_rule_can_be_turned_off(workspace: Path, sent: Sent) -> None:
    text = (workspace / "bulletin.toml").read_text().replace("soft_consecutive = 3",
                                                             "soft_consecutive = 0")
    (workspace / "bulletin.toml").write_text(text)
    sent.workspace = load_workspace(workspace / "bulletin.toml")
    for issue in ("cohes3ion/issue-2", "cohes3ion/issue-3", "cohes3ion/issue-4"):
        assert sent.soft(issue, "ann@example.org") == "counted"
    assert sent.store.subscriber("ann@example.org").status == "active"



def test_migration_0008_traces_the_rows_recorded_before(database_url: str) -> None:
    """Upgrading from 0007 keeps every inbound row and gives those with a ledger row their
    issue and original message (SQLite and PostgreSQL)."""
    from datetime import UTC, datetime

    from sqlalchemy import create_engine, text

    from bulletin.store import migrate

    engine = create_engine(database_url)
    try:
        migrate.upgrade(engine, "0007")
        at = datetime(2026, 12, 1, tzinfo=UTC)
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO subscribers (id, email, email_key, status, created_at, updated_at)"
                " VALUES (7, 'ann@example.org', 'ann@example.org', 'active', :at, :at)"),
                {"at": at})
            connection.execute(text(
                "INSERT INTO ledger (id, issue, subscriber_id, state, attempts, created_at, "
                "updated_at) VALUES (41, 'cohes3ion/issue-1', 7, 'sent', 1, :at, :at)"),
                {"at": at})
            for key, delivery in (("a" * 64, 41), ("b" * 64, None)):
                connection.execute(text(
                    "INSERT INTO inbound (key, received_at, source, kind, subscriber_id, "
                    "delivery_id, attribution, action, evidence) VALUES (:key, :at, 'pipe', "
                    "'soft', 7, :delivery, 'verp', 'counted', :evidence)"),
                    {"key": key, "at": at, "delivery": delivery, "evidence": b""})
        migrate.upgrade(engine)
        with engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT delivery_id, issue, original FROM inbound ORDER BY id")).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [(41, "cohes3ion/issue-1", "delivery:41"),
                                        (None, None, None)]


def test_a_bounce_s_words_are_kept_as_one_plain_line(sent: Sent) -> None:
    """A remote server's reply may hold an escape sequence, which would work on the terminal
    of whoever lists the trail or the suppressions."""
    token = links.sign_delivery(sent.rows["cohes3ion/issue-1"]["ann@example.org"], KEY.encode())
    message = (f"From: Welsh Government <{ENVELOPE}>\r\nTo: ann@example.org\r\n"
               f"Message-ID: {delivery_message_id(token, 'example.gov.wales')}\r\n\r\n").encode()
    raw = dsn(message, verp_address(ENVELOPE, token), "ann@example.org", "5.1.1",
              "550 5.1.1 \x1b[2J\x1b]0;owned\x07 no such user")
    assert process(sent.store, sent.workspace, raw, source="pipe").action
    trail = sent.store.audit("ann@example.org")
    said = [row.detail or "" for row in trail] + [row.actor or "" for row in trail]
    assert any("no such user" in text for text in said), said
    assert not any("\x1b" in text or "\x07" in text for text in said), said
    found = sent.store.suppressions.get("ann@example.org")
    assert found is not None and "\x1b" not in found.reason
