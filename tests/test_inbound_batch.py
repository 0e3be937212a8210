"""The mailbox processed in batches: each fetched batch recorded in one store transaction (one
commit a batch, not one a message), with the same effects as one at a time (a message twice
in a batch recorded once, soft bounces adding up within the batch, a message that fails
left alone without holding up the rest), and nothing lost when the store fails mid-pass: a
batch is moved to the processed folder only after its transaction committed, and the next
pass finishes the job. A real store (SQLite) and a real Dovecot."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import event

from bulletin import links
from bulletin.inbound.imap import Account
from bulletin.inbound.mailbox import Outcome, fetch
from bulletin.inbound.process import Processed, process_many
from bulletin.message import delivery_message_id, verp_address
from bulletin.settings import Workspace, load_workspace
from bulletin.store import Store
from bulletin.store.errors import StoreError
from tests.inbound_mail import dsn
from tests.inbound_store import issues_sent

if TYPE_CHECKING:
    from tests.imap_server import Dovecot

pytest_plugins = ["tests.imap_server"]

KEY = "a-test-secret-key-of-some-length"
ENVELOPE = "cohes3ion@example.gov.wales"
PEOPLE = [f"reader{n}@example.org" for n in range(8)]


@dataclass
class Setup:
    workspace: Workspace
    store: Store
    rows: dict[str, dict[str, int]]

    def bounce(self, issue: str, address: str, status: str = "5.1.1",
               mta: str = "mx.example.org") -> bytes:
        token = links.sign_delivery(self.rows[issue][address], KEY.encode())
        sent = (f"From: Welsh Government <{ENVELOPE}>\r\nTo: {address}\r\n"
                f"Subject: COHES3ION\r\n"
                f"Message-ID: {delivery_message_id(token, 'example.gov.wales')}\r\n\r\n"
                ).encode()
        diagnostic = "550 5.1.1 user unknown" if status.startswith("5") else \
            "452 4.2.2 mailbox full"
        return dsn(sent, verp_address(ENVELOPE, token), address, status, diagnostic, mta=mta)

    def many(self, raws: list[bytes]) -> list[Processed | Exception]:
        return process_many(self.store, self.workspace, raws, source="imap")


@pytest.fixture
def setup(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    monkeypatch.setenv("BULLETIN_SECRET_KEY", KEY)
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:
        rows = issues_sent(store, PEOPLE, 3)
        yield Setup(load_workspace(workspace / "bulletin.toml"), store, rows)


def commits(store: Store) -> list[int]:
    """A counter of the store's commits from now on."""
    counted = [0]

    def count(connection: object) -> None:
        counted[0] += 1
    event.listen(store.engine, "commit", count)
    return counted


def test_a_batch_is_one_transaction_with_the_effects_of_one_at_a_time(setup: Setup) -> None:
    one, two, three = (f"cohes3ion/issue-{n}" for n in (1, 2, 3))
    hard = setup.bounce(one, PEOPLE[0])
    batch = [hard, hard,  # the same message twice: recorded once
             b"\x00\x01 not an email",  # fails alone
             b"From: someone@example.net\r\nSubject: hello\r\n\r\nnot a bounce\r\n",
             *(setup.bounce(issue, PEOPLE[1], "4.2.2") for issue in (one, two, three)),
             setup.bounce(one, PEOPLE[2], "4.2.2"),
             setup.bounce(one, PEOPLE[2], "4.2.2", mta="mx2.example.org")]
    counted = commits(setup.store)
    results = setup.many(batch)
    assert counted[0] == 1
    assert not isinstance(results[2], Processed)
    done = [r for r in results if isinstance(r, Processed)]
    assert [(r.ours, r.duplicate, r.action) for r in done] == [
        (True, False, "bounced"), (True, True, "bounced"), (False, False, "ignored"),
        (True, False, "counted"), (True, False, "counted"), (True, False, "bounced"),
        (True, False, "counted"), (True, False, "counted")]
    assert setup.store.subscriber(PEOPLE[0]).status == "bounced"
    assert setup.store.subscriber(PEOPLE[1]).status == "bounced"  # 3 soft in one batch
    assert setup.store.subscriber(PEOPLE[2]).status == "active"  # one message, reported twice
    assert len(setup.store.inbound.of(setup.store.subscriber(PEOPLE[0]).id)) == 1
    # Fed again, the whole batch changes nothing.
    again = setup.many(batch)
    assert all(r.duplicate for r in again if isinstance(r, Processed) and r.ours)


def account(server: Dovecot) -> Account:
    return Account(server.host, server.port, "tls", server.user, server.password,
                   server.ca_file)


@pytest.mark.slow
def test_a_pass_commits_once_a_batch_and_moves_only_what_committed(
        setup: Setup, dovecot: Dovecot) -> None:
    messages = [setup.bounce("cohes3ion/issue-1", address) for address in PEOPLE]
    dovecot.fill(messages)
    calls = [0]

    def failing(raws: list[bytes]) -> Sequence[Outcome | Exception]:
        calls[0] += 1
        if calls[0] == 2:
            raise StoreError("the store went away")
        return setup.many(raws)

    with pytest.raises(StoreError):
        fetch(account(dovecot), "INBOX", "processed", setup.many, batch=3, many=failing)
    assert len(dovecot.contents("INBOX")) == 5  # the first batch of 3 moved, no more
    assert len(dovecot.contents("processed")) == 3
    bounced = [a for a in PEOPLE if setup.store.subscriber(a).status == "bounced"]
    assert bounced == PEOPLE[:3]

    counted = commits(setup.store)
    tally = fetch(account(dovecot), "INBOX", "processed", setup.many, batch=3,
                  many=setup.many)
    assert (tally.processed, tally.duplicates, counted[0]) == (5, 0, 2)
    assert dovecot.contents("INBOX") == []
    assert all(setup.store.subscriber(a).status == "bounced" for a in PEOPLE)
