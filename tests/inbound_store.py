"""A store with issues sent, for the inbound processing tests: the list, its people and the
ledger rows whose delivery tokens the bounces, complaints and unsubscribe requests carry."""

from __future__ import annotations

from bulletin.store import Store
from bulletin.store.outcomes import Outcome


def issues_sent(store: Store, people: list[str], count: int, *,
                record: bool = True) -> dict[str, dict[str, int]]:
    """The list cohes3ion with `people` on it and issues 1 to `count` queued to them and
    claimed (with `record`, also answered as sent): issue -> address -> its ledger row."""
    store.create_list("cohes3ion", newsletter="cohes3ion")
    for address in people:
        store.subscribe(address, "cohes3ion", source="test")
    rows: dict[str, dict[str, int]] = {}
    for number in range(1, count + 1):
        issue = f"cohes3ion/issue-{number}"
        store.ledger.create(issue, "cohes3ion")
        claims = store.ledger.claim(issue, 100)
        if record:
            store.ledger.record([Outcome(c.id, "sent", "250 2.0.0 Ok") for c in claims])
        rows[issue] = {claim.email: claim.id for claim in claims}
    return rows
