"""Claims and recorded outcomes, on SQLite and PostgreSQL, against a model of the ledger in
plain Python: whatever the rows' states, runs and attempts, whoever has left, and whichever
audience, a claim returns and changes exactly the rows the rules say, and a record changes
only the rows still `sending` for its run. (Their statements are compiled once and run as the
driver's own SQL, their ids passed as one value: store/claims.py, store/outcomes.py.)"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from bulletin.store.claims import SKIPPED_REPLY
from bulletin.store.ledger import Audience
from bulletin.store.outcomes import Outcome
from bulletin.store.store import Store

pytest_plugins = ["tests.store_fixtures"]

RUN, OTHER = "r" * 32, "o" * 32
AUDIENCES = [None, Audience("cy"), Audience("en", ("cy",), default=True),
             Audience("en", ("cy", "fr"), default=True)]
_examples = itertools.count()


@dataclass(frozen=True)
class Person:
    language: str | None
    fate: str
    """What happened after the issue was queued: stays, left (the list), bounced,
    suppressed."""
    state: str
    attempts: int
    run: str | None


people = st.lists(st.builds(
    Person, st.sampled_from([None, "en", "cy", "fr"]),
    st.sampled_from(["stays", "stays", "left", "bounced", "suppressed"]),
    st.sampled_from(["pending", "pending", "pending", "sending", "sent", "failed"]),
    st.integers(0, 2), st.sampled_from([RUN, OTHER, None])), min_size=1, max_size=9)


@dataclass(frozen=True)
class Row:
    id: int
    email: str
    language: str | None
    sendable: bool
    state: str
    attempts: int
    run: str | None
    last_reply: str | None


def _in(audience: Audience | None, language: str | None) -> bool:
    if audience is None:
        return True
    if audience.default:
        return language is None or language not in audience.others
    return language == audience.language


def _claim(rows: dict[int, Row], limit: int, after: int,
           audience: Audience | None) -> list[tuple[int, str, int]]:
    """The rules: the next `limit` pending rows of the audience above `after`; those who may
    no longer be sent to are skipped, and if that was all of them, the next ones."""
    while True:
        picked = [row for key, row in sorted(rows.items()) if row.state == "pending"
                  and key > after and _in(audience, row.language)][:limit]
        if not picked:
            return []
        for row in picked:
            rows[row.id] = replace(row, state="sending", attempts=row.attempts + 1,
                                   run=RUN) if row.sendable else \
                replace(row, state="skipped", last_reply=SKIPPED_REPLY)
        claimed = [(row.id, row.email, row.attempts + 1) for row in picked if row.sendable]
        if claimed:
            return claimed
        after = picked[-1].id


def _queued(store: Store, everyone: list[Person]) -> tuple[str, dict[int, Row]]:
    """An issue queued for `everyone` on a list of their own; then what befell them."""
    number = next(_examples)
    name = f"l{number}"
    store.create_list(name, newsletter=name)
    emails = [f"p{number}-{n}@example.org" for n in range(len(everyone))]
    for email, person in zip(emails, everyone, strict=True):
        store.subscriptions.subscribe(email, name, source="test", language=person.language)
    assert store.ledger.create(name, name) == len(everyone)
    with store.engine.begin() as connection:
        ids = connection.scalars(text("SELECT l.id FROM ledger l JOIN subscribers s ON "
                                      "s.id = l.subscriber_id WHERE l.issue = :issue "
                                      "ORDER BY s.email_key"), {"issue": name}).all()
        by_email = dict(zip(sorted(emails), ids, strict=True))
        for email, person in zip(emails, everyone, strict=True):
            connection.execute(text("UPDATE ledger SET state = :state, attempts = :attempts, "
                                    "run = :run WHERE id = :id"),
                               {"state": person.state, "attempts": person.attempts,
                                "run": person.run, "id": by_email[email]})
            if person.fate == "bounced":
                connection.execute(text("UPDATE subscribers SET status = 'bounced' "
                                        "WHERE email_key = :email"), {"email": email})
    for email, person in zip(emails, everyone, strict=True):
        if person.fate == "left":
            store.unsubscribe(email, name, source="test")
        elif person.fate == "suppressed":
            store.suppress(email, reason="test", source="test")
    return name, {by_email[email]: Row(by_email[email], email, person.language,
                                       person.fate == "stays", person.state, person.attempts,
                                       person.run, None)
                  for email, person in zip(emails, everyone, strict=True)}


def _stored(store: Store, issue: str) -> dict[int, tuple[str, int, str | None, bool]]:
    with store.engine.connect() as connection:
        return {row.id: (row.state, row.attempts, row.run, row.claimed_at is not None)
                for row in connection.execute(text(
                    "SELECT id, state, attempts, run, claimed_at FROM ledger "
                    "WHERE issue = :issue"), {"issue": issue})}


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(everyone=people, limit=st.integers(1, 5), skip=st.integers(0, 4),
       audience=st.sampled_from(AUDIENCES), data=st.data())
def test_claims_and_outcomes_change_exactly_the_rows_the_rules_say(
        store: Store, everyone: list[Person], limit: int, skip: int,
        audience: Audience | None, data: st.DataObject) -> None:
    issue, rows = _queued(store, everyone)
    after = sorted(rows)[min(skip, len(rows)) - 1] if skip else 0
    before = dict(rows)
    expected = _claim(rows, limit, after, audience)
    claims = store.ledger.claim(issue, limit, after, audience, RUN)
    assert [(c.id, c.email, c.attempts) for c in claims] == expected
    assert all(c.issue == issue and c.reason is None for c in claims)
    stored = _stored(store, issue)
    assert {key: stored[key][:3] for key in stored} == \
        {key: (row.state, row.attempts, row.run) for key, row in rows.items()}
    assert all(stored[key][3] == (key in {c.id for c in claims}) or before[key] == rows[key]
               for key in rows)

    # Outcomes for any rows (claimed by this run or not): only its own `sending` rows change.
    chosen = data.draw(st.lists(st.sampled_from(sorted(rows)), unique=True))
    outcomes = [Outcome(key, data.draw(st.sampled_from(
        ["sent", "failed", "pending", "unsent", "uncertain"])),
        data.draw(st.sampled_from(["250 ok", "451 later", f"250 queued as Q{key}"])))
        for key in chosen]
    mine = [o for o in outcomes if rows[o.id].state == "sending" and rows[o.id].run == RUN]
    for outcome in mine:
        row = rows[outcome.id]
        rows[outcome.id] = replace(
            row, run=None, last_reply=outcome.reply,
            state={"uncertain": "sending", "unsent": "pending"}.get(outcome.state,
                                                                     outcome.state),
            attempts=row.attempts - (outcome.state == "unsent"))
    assert store.ledger.record(outcomes, RUN) == len(mine)
    with store.engine.connect() as connection:
        found = {row.id: (row.state, row.attempts, row.run, row.last_reply,
                          row.sent_at is not None)
                 for row in connection.execute(text(
                     "SELECT id, state, attempts, run, last_reply, sent_at FROM ledger "
                     "WHERE issue = :issue"), {"issue": issue})}
    sent = {o.id for o in mine if o.state == "sent"}
    assert found == {key: (row.state, row.attempts, row.run, row.last_reply, key in sent)
                     for key, row in rows.items()}
