"""An issue sent to a few people on a real store, and what comes back about it made into
inbound records through bulletin.inbound.process, for the tests of `bulletin status`,
`bulletin subscribers show` and `bulletin suppressions`."""

from __future__ import annotations

from dataclasses import dataclass

from bulletin import links
from bulletin.inbound.process import Processed, process
from bulletin.message import delivery_message_id
from bulletin.settings import Workspace
from bulletin.store import Store
from bulletin.store.outcomes import Outcome
from tests.inbound_mail import arf, dsn

KEY = "a-test-secret-key-of-some-length"
ENVELOPE = "cohes3ion@example.gov.wales"


@dataclass
class Sent:
    store: Store
    workspace: Workspace
    issue: str
    rows: dict[str, int]
    """address -> its ledger row of `issue`."""

    def message(self, address: str) -> bytes:
        """The headers of the message to `address`, as the dispatcher writes them."""
        token = links.sign_delivery(self.rows[address], KEY.encode())
        return (f"From: Welsh Government <{ENVELOPE}>\r\nTo: {address}\r\n"
                f"Subject: COHES3ION {self.issue}\r\n"
                f"Message-ID: {delivery_message_id(token, 'example.gov.wales')}\r\n\r\n"
                f"Hello\r\n").encode()

    def bounce(self, address: str, status: str = "5.1.1",
               diagnostic: str = "550 5.1.1 user unknown", **options: str) -> Processed:
        raw = dsn(self.message(address), ENVELOPE, address, status, diagnostic, **options)
        return process(self.store, self.workspace, raw, source="pipe")

    def complaint(self, address: str) -> Processed:
        raw = arf(self.message(address), "fbl@example.gov.wales", address)
        return process(self.store, self.workspace, raw, source="imap")


def send(store: Store, workspace: Workspace, issue: str, people: list[str],
         list_name: str = "cohes3ion") -> Sent:
    """Subscribe `people` to the list (if they are not on it) and record `issue` as sent to
    every active member: each ledger row sent, as the dispatcher records it."""
    for address in people:
        store.subscribe(address, list_name, source="test")
    store.ledger.create(issue, list_name)
    claims = store.ledger.claim(issue, 10_000)
    store.ledger.record([Outcome(claim.id, "sent", "250 2.0.0 Ok: queued") for claim in claims])
    return Sent(store, workspace, issue, {claim.email: claim.id for claim in claims})
