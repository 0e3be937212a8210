"""Relays' replies of any text are recorded as they came, on SQLite and PostgreSQL, whichever
way `record` sends them (a reply shared by several outcomes as one bound value; replies of
their own, on PostgreSQL, in one JSON list): quotes, backslashes, JSON and SQL look-alikes,
any Unicode, a long one. A NUL character, which PostgreSQL cannot store in text (and which
a relay's reply may hold: its bytes are decoded, not filtered), is recorded as U+FFFD on
both, rather than failing the record (and, through a journal's settling at the next open,
every later one)."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from bulletin.store.outcomes import Outcome
from bulletin.store.store import Store

pytest_plugins = ["tests.store_fixtures"]

RUN = "r" * 32
_lists = itertools.count()
replies = st.one_of(st.text(), st.text(st.sampled_from('\x00"\'\\{}[],:%?$\n\r\t é😀'),
                                       max_size=30),
                    st.sampled_from(['{"id": 1}', "%(at)s :at ? $1", "\\u0000", "x" * 100_000]))


def _queued(store: Store, count: int) -> list[int]:
    name = f"l{next(_lists)}"
    store.create_list(name, newsletter=name)
    for n in range(count):
        store.subscriptions.subscribe(f"{name}-{n}@example.org", name, source="test")
    store.ledger.create(name, name)
    return [claim.id for claim in store.ledger.claim(name, count, run=RUN)]


def _stored(store: Store, ids: list[int]) -> dict[int, tuple[str, str | None]]:
    with store.engine.connect() as connection:
        rows = connection.execute(text("SELECT id, state, last_reply FROM ledger"))
        return {row.id: (row.state, row.last_reply) for row in rows if row.id in ids}


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chosen=st.lists(st.tuples(st.sampled_from(["sent", "failed", "pending"]), replies),
                       min_size=1, max_size=6))
def test_replies_are_recorded_as_they_came(store: Store,
                                           chosen: list[tuple[str, str]]) -> None:
    shared = chosen[0]  # given to two rows: the grouped path, besides the single ones
    ids = _queued(store, len(chosen) + 1)
    outcomes = [Outcome(key, state, reply)
                for key, (state, reply) in zip(ids, [shared, *chosen], strict=True)]
    assert store.ledger.record(outcomes, RUN) == len(ids)
    assert _stored(store, ids) == {o.id: (o.state, o.reply.replace("\x00", "\ufffd"))
                                   for o in outcomes}


def test_a_reply_with_a_nul_is_recorded(store: Store) -> None:
    ids = _queued(store, 3)
    outcomes = [Outcome(ids[0], "sent", "250 ok\x00"), Outcome(ids[1], "failed", "550 \x00no"),
                Outcome(ids[2], "failed", "550 \x00no")]
    assert store.ledger.record(outcomes, RUN) == 3
    assert _stored(store, ids) == {ids[0]: ("sent", "250 ok\ufffd"),
                                   ids[1]: ("failed", "550 \ufffdno"),
                                   ids[2]: ("failed", "550 \ufffdno")}
