"""What a claim and a record of outcomes cost does not grow with the list, on SQLite and on
PostgreSQL; and queueing an issue is safe in several senders at once.

Costs are counted, never timed: on PostgreSQL, the rows the claim read from the tables
(pg_stat_xact_user_tables); on SQLite, the virtual machine steps its statements took
(a progress handler called at every step). A claim of 32 out of 10,000 pending must cost about
what it costs out of 1,000 (before, it read and sorted every pending row, or, on PostgreSQL
after ANALYZE, hashed the whole memberships table)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection, event, inspect, text

from bulletin.store import claims as claiming
from bulletin.store import ledger
from bulletin.store import outcomes as results
from bulletin.store.models import now
from bulletin.store.store import Store
from tests.waiting import SAFETY, wait_for

pytest_plugins = ["tests.store_fixtures"]

SMALL, LARGE, CLAIM = 1000, 10000, 32


def fill(store: Store, tmp_path: Path, size: int, name: str) -> None:
    """`size` new members of a new list `name`, queued for the issue `name`; statistics up
    to date."""
    csv = tmp_path / f"{name}.csv"
    csv.write_text("email,name\n" + "".join(f"{name}{n:06d}@example.org,Reader {n}\n"
                                           for n in range(size)))
    store.create_list(name, newsletter=name)
    store.import_csv(csv, name)
    assert store.ledger.create(name, name) == size
    with store.engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()


def work(store: Store, action: Callable[[Connection], object]) -> int:
    """How much work `action` made the database do, in one transaction (see the module's
    docstring)."""
    with store.engine.connect() as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            # The view holds what this backend has not yet reported, earlier transactions'
            # reads included; nothing is reported in the middle of a transaction.
            def read() -> int:
                return int(connection.scalar(text(
                    "SELECT coalesce(sum(seq_tup_read + coalesce(idx_tup_fetch, 0)), 0) "
                    "FROM pg_stat_xact_user_tables WHERE schemaname = current_schema()"))
                    or 0)

            before = read()
            action(connection)
            return read() - before
        raw = connection.connection.dbapi_connection
        assert raw is not None
        steps = [0]

        def step() -> int:
            steps[0] += 1
            return 0

        raw.set_progress_handler(step, 1)  # type: ignore[attr-defined]
        try:
            action(connection)
        finally:
            raw.set_progress_handler(None, 1)  # type: ignore[attr-defined]
        return steps[0]


def test_a_claim_costs_the_same_out_of_ten_times_the_rows(store: Store,
                                                           tmp_path: Path) -> None:
    """... and as much near the end of the queue as at its start, and whether or not an
    earlier issue's rows come first in the ledger."""
    def claim(issue: str, after: int = 0) -> int:
        return work(store, lambda connection: claiming.claim(connection, issue, CLAIM, now(),
                                                           after, run="r"))

    fill(store, tmp_path, SMALL, "small")
    costs = {"small": claim("small")}
    fill(store, tmp_path, LARGE, "large")
    with store.engine.connect() as connection:
        near_the_end = connection.scalar(text(
            f"SELECT id FROM ledger WHERE issue = 'large' ORDER BY id "
            f"LIMIT 1 OFFSET {LARGE - 2 * CLAIM}"))
    costs |= {"large": claim("large"), "large, near its end": claim("large", near_the_end)}
    assert all(0 < cost <= costs["small"] * 1.5 for cost in costs.values()), costs


def test_a_claim_still_skips_whoever_left_after_the_issue_was_queued(
        store: Store, tmp_path: Path) -> None:
    fill(store, tmp_path, 40, "left")
    store.unsubscribe("left000001@example.org", "left", source="test")
    store.suppress("left000003@example.org", reason="test", source="test")
    claims = store.ledger.claim("left", 5, run="r")
    assert [c.email for c in claims] == [f"left{n:06d}@example.org" for n in (0, 2, 4)]
    assert store.ledger.counts("left")["skipped"] == 2


def test_outcomes_are_written_a_statement_per_shared_reply_with_one_timestamp(
        store: Store, tmp_path: Path) -> None:
    fill(store, tmp_path, 70, "rec")
    claims = store.ledger.claim("rec", 70, run="r")
    outcomes = [results.Outcome(c.id, "sent", "250 ok") for c in claims[:60]]
    outcomes += [results.Outcome(c.id, "pending", "451 later") for c in claims[60:65]]
    outcomes += [results.Outcome(c.id, "sent", f"250 queued as Q{c.id}") for c in claims[65:]]
    parameter_sets: list[int] = []

    def count(_conn: object, _cursor: object, statement: str, parameters: object,
              _context: object, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("UPDATE"):
            parameter_sets.append(len(parameters) if executemany else 1)  # type: ignore[arg-type]

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        assert store.ledger.record(outcomes) == 70
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    # "250 ok" and "451 later" one statement each; the five replies of their own one
    # statement run with five sets of values on SQLite, and on PostgreSQL one statement
    # with their values as one JSON list
    each = 1 if store.engine.dialect.name == "postgresql" else 5
    assert sorted(parameter_sets) == [1, 1, each], parameter_sets
    with store.engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT state, last_reply, sent_at, updated_at, run FROM ledger "
            "WHERE issue = 'rec' ORDER BY id")).all()
    assert [r.state for r in rows] == ["sent"] * 60 + ["pending"] * 5 + ["sent"] * 5
    assert rows[-1].last_reply == f"250 queued as Q{claims[-1].id}"
    assert len({r.updated_at for r in rows}) == 1 and all(r.run is None for r in rows)
    assert all(r.sent_at is not None for r in rows[:60]) and rows[60].sent_at is None
    assert store.ledger.record(outcomes) == 0  # no longer sending: nothing changes



SEND_CHANGES = {"state", "attempts", "last_reply", "updated_at", "claimed_at", "sent_at", "run"}
"""The columns a claim and an outcome change."""


def test_no_index_of_the_ledger_holds_what_a_send_changes(store: Store,
                                                          tmp_path: Path) -> None:
    """... so that on PostgreSQL a claim's update (and an outcome's) keeps the row's new
    version on its page and adds no index entry (a HOT update), in the room the ledger's
    fill factor leaves."""
    schema = inspect(store.engine)
    indexed = {column for index in [*schema.get_indexes("ledger"),
                                    *schema.get_unique_constraints("ledger")]
               for column in index["column_names"]}
    assert indexed and not indexed & SEND_CHANGES, indexed
    if store.engine.dialect.name != "postgresql":
        return
    fill(store, tmp_path, 300, "hot")
    with store.engine.connect() as connection, connection.begin():
        assert len(claiming.claim(connection, "hot", 300, now(), run="r")) == 300
        updated, hot = connection.execute(text(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
            "WHERE schemaname = current_schema() AND relname = 'ledger'")).one()
    assert updated == hot == 300, (updated, hot)

def beside_a_queueing_sender(store: Store, tmp_path: Path,
                             action: Callable[[int], int]) -> tuple[int, int]:
    """`action` (given the id of a list of 200 members) run in a thread while another
    sender's transaction has queued the issue "together" for the list and not yet committed;
    the rows that one added and what `action` returned. Once `action` waits for a lock (or
    has ended), the other one commits."""
    fill(store, tmp_path, 200, "news")
    with store.engine.connect() as connection:
        list_id = connection.scalar(text("SELECT id FROM lists WHERE name = 'news'"))
    done: list[int] = []
    errors: list[BaseException] = []

    def act() -> None:
        try:
            done.append(action(list_id))
        except BaseException as error:
            errors.append(error)

    with store.engine.connect() as first, first.begin():
        added = ledger.create(first, "together", list_id, now())
        thread = threading.Thread(target=act)
        thread.start()
        wait_for(lambda: waiting(store) or not thread.is_alive(),
                 "the other sender to wait for the queueing one")
    thread.join(SAFETY)
    assert not errors, errors
    return added, done[0]


def waiting(store: Store) -> bool:
    """Whether a connection of the store's database waits for a lock."""
    with store.engine.connect() as watcher:
        return bool(watcher.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()")))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_senders_queueing_the_same_issue_at_once_queue_everyone_once(
        store: Store, tmp_path: Path) -> None:
    """Two senders queue one issue at the same moment: while the first one's rows are not yet
    committed, the second one waits for them; once they are, it adds none and is not an
    error (before, it failed on the unique constraint). On SQLite writers queue whole, so
    the second one simply finds the rows there."""

    def second(list_id: int) -> int:
        with store.engine.connect() as connection, connection.begin():
            return ledger.create(connection, "together", list_id, now())

    assert beside_a_queueing_sender(store, tmp_path, second) == (200, 0)
    assert store.ledger.counts("together")["pending"] == 200


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_who_is_not_yet_queued_is_counted_once_another_sender_has_queued_them(
        store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A sender counts who is not yet queued (its plan) while another one queues the issue:
    the count waits for the other's rows and then finds none left. Before, it ran beside the
    other's insert, planned for the ledger as it was (empty: a nested loop reading the whole
    ledger for each member) and read the ledger again for each member as it grew: with two
    senders of 100,000 started together, one sat minutes in its plan."""
    counted = beside_a_queueing_sender(
        store, tmp_path, lambda _list: store.ledger.unqueued("together", "news"))
    assert counted == (200, 0)
    # the wait is said (it is seconds at 1,000,000), once
    assert [r.getMessage() for r in caplog.records if r.name == "bulletin.store.ledger"] == \
        ["another sender is queueing together; waiting until it has"]
    assert store.ledger.unqueued("other", "news") == 200  # another issue's count: everyone
