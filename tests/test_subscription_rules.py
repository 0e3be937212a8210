"""The subscription rules (bulletin.store.rules): the pure function on its own, and a property
test holding the two paths that use it together (one subscription at a time, and the bulk
import)."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulletin.store import NotSubscribedError, Store, SuppressedError, UnsubscribedError
from bulletin.store.addresses import normalise
from bulletin.store.rows import Row
from bulletin.store.rules import NOBODY, AuditRow, Person, Request, State, subscribe


def test_a_new_address_is_added_with_its_values_and_one_audit_row_on_the_list() -> None:
    decision = subscribe(NOBODY, Request(name="Ann", language="cy"))
    assert decision.outcome == "added" and decision.consent and not decision.filled
    assert decision.after == State(Person("active", "Ann", "cy"), "active", False)
    assert decision.audit == (AuditRow("subscribe", None, "active", True),)
    pending = subscribe(NOBODY, Request(status="pending"))
    assert pending.after.subscriber == Person("pending", None, None)
    assert pending.audit == (AuditRow("subscribe", None, "pending", True),)


@pytest.mark.parametrize("before", [
    State(suppressed=True),
    State(Person("active", "Ann", None), "active", True),
    State(Person("unsubscribed", None, None), None, True)])
@pytest.mark.parametrize("resubscribe", [False, True])
def test_a_suppressed_address_is_never_subscribed(before: State, resubscribe: bool) -> None:
    decision = subscribe(before, Request(resubscribe=resubscribe, name="X"))
    assert (decision.outcome, decision.after, decision.audit) == ("suppressed", before, ())
    assert decision.refused


@pytest.mark.parametrize(("status", "membership", "how"), [
    ("unsubscribed", "active", "unsubscribed"), ("bounced", None, "bounced"),
    ("complained", "unsubscribed", "complained"), ("active", "unsubscribed", None),
    ("pending", "unsubscribed", None)])
def test_people_who_left_come_back_only_when_they_asked(status: str, membership: str | None,
                                                        how: str | None) -> None:
    before = State(Person(status, None, None), membership)
    refused = subscribe(before, Request(name="Ann"))
    assert (refused.outcome, refused.left_how, refused.after, refused.audit) == (
        "left", how, before, ())
    back = subscribe(before, Request(name="Ann", resubscribe=True))
    assert back.outcome == "resubscribed" and back.filled
    assert back.after == State(Person("active", "Ann", None), "active", False)
    status_row = () if status == "active" else (AuditRow(
        "confirm" if status == "pending" else "resubscribe", status, "active", False),)
    join_row = () if membership == "active" else (AuditRow("join", membership, "active", True),)
    assert back.audit == status_row + join_row
    assert back.consent == (status != "active")


def test_pending_becomes_active_on_an_active_request_only() -> None:
    before = State(Person("pending", None, None), "active")
    confirmed = subscribe(before, Request())
    assert confirmed.outcome == "activated" and confirmed.consent
    assert confirmed.audit == (AuditRow("confirm", "pending", "active", False),)
    again = subscribe(before, Request(status="pending"))
    assert (again.outcome, again.after, again.audit, again.consent) == (
        "unchanged", before, (), False)
    elsewhere = subscribe(State(Person("pending", None, None)), Request())
    assert elsewhere.outcome == "activated"
    assert elsewhere.audit == (AuditRow("confirm", "pending", "active", False),
                               AuditRow("join", None, "active", True))


def test_a_left_subscriber_asking_again_by_double_opt_in_is_pending() -> None:
    decision = subscribe(State(Person("unsubscribed", "Ann", None), "active"),
                         Request(status="pending", resubscribe=True))
    assert decision.outcome == "resubscribed"
    assert decision.after.subscriber == Person("pending", "Ann", None)
    assert decision.audit == (AuditRow("resubscribe", "unsubscribed", "pending", False),)


def test_blanks_are_filled_but_nothing_is_overwritten() -> None:
    before = State(Person("active", "Ann", None), "active")
    decision = subscribe(before, Request(name="Annie", language="cy"))
    assert (decision.outcome, decision.filled) == ("unchanged", True)
    assert decision.audit == (AuditRow("language", None, None, False),)  # the choice recorded
    assert decision.after.subscriber == Person("active", "Ann", "cy")
    named = subscribe(State(Person("active", None, "cy"), "active"), Request(name="Ann"))
    assert (named.filled, named.audit) == (True, ())  # a name filled in is not audited
    nothing = subscribe(before, Request(name="", language=""))
    assert (nothing.filled, nothing.after) == (False, before)


def test_joining_another_list() -> None:
    decision = subscribe(State(Person("active", None, None)), Request())
    assert (decision.outcome, decision.consent) == ("joined", False)
    assert decision.audit == (AuditRow("join", None, "active", True),)


def test_only_active_or_pending_can_be_requested() -> None:
    with pytest.raises(ValueError, match="active or pending"):
        subscribe(NOBODY, Request(status="unsubscribed"))


# -- the two paths held together ----------------------------------------------------------------
#
# The same random sequence of operations is run on two fresh stores. In the first, every
# subscription is made one at a time (Store.subscribe); in the second, each is made by whichever
# path the example chose: Store.subscribe, or Store.import_rows (a file of one row, or of several
# addresses at once). Both must end in the same stored state, and every subscription in the
# same outcome.

ADDRESSES = ("ann@example.org", "bo@example.org", "cy@example.org")
LISTS = ("news", "events")
names = st.sampled_from([None, "Ann", "Bo"])
languages = st.sampled_from([None, "en", "cy"])
Subscription = tuple[str, str, str | None, str | None, bool, bool]
"""address, list, name, language, pending (double opt-in), resubscribe"""
Outcomes = tuple[list[str], list[str]]

subscriptions = st.tuples(st.sampled_from(ADDRESSES), st.sampled_from(LISTS), names, languages,
                          st.booleans(), st.booleans())
operations = st.lists(st.one_of(
    st.tuples(st.just("subscribe"), subscriptions, st.sampled_from(["single", "import"])),
    st.tuples(st.just("import many"), st.sampled_from(LISTS), st.booleans(),
              st.lists(st.tuples(st.sampled_from(ADDRESSES), names, languages), min_size=1,
                       max_size=3, unique_by=lambda row: row[0])),
    st.tuples(st.just("unsubscribe"), st.sampled_from(ADDRESSES),
              st.sampled_from([None, *LISTS])),
    st.tuples(st.just("suppress"), st.sampled_from(ADDRESSES)),
    st.tuples(st.just("confirm"), st.sampled_from(ADDRESSES)),
    st.tuples(st.just("bounce"), st.sampled_from(ADDRESSES))), max_size=12)

REPORTED = {"added": "added", "joined": "joined", "activated": "activated",
            "resubscribed": "resubscribed", "unchanged": "unchanged",
            "suppressed": "suppressed", "unsubscribed": "left"}


@pytest.fixture(scope="module")
def empty_database() -> Iterator[Path]:
    """A store with its tables and lists, made once: each example starts from copies."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "empty.db"
        with Store.open(f"sqlite:///{path}") as store:
            for name in LISTS:
                store.create_list(name)
        yield path


def one_at_a_time(store: Store, subscription: Subscription) -> str:
    email, list_name, name, language, pending, resubscribe = subscription
    try:
        return store.subscribe(email, list_name, source="import", name=name,
                               language=language, status="pending" if pending else "active",
                               resubscribe=resubscribe)
    except SuppressedError:
        return "suppressed"
    except UnsubscribedError:
        return "left"


def imported(store: Store, list_name: str, resubscribe: bool,
             rows: list[tuple[str, str | None, str | None]]) -> Outcomes:
    """Rows of distinct addresses imported as one file."""
    report = store.import_rows(
        [Row(line, normalise(email), name, language)
         for line, (email, name, language) in enumerate(rows, start=2)],
        list_name, source="people.csv", resubscribe=resubscribe)
    assert report.bad == report.duplicates == 0
    refused = {note.line: note.kind for note in report.notes}
    each = ["left" if refused.get(line) == "unsubscribed" else refused.get(line, "subscribed")
            for line in range(2, len(rows) + 2)]
    kinds = sorted(kind for field, kind in REPORTED.items()
                   for _ in range(getattr(report, field)))
    return each, kinds


def outcomes_of(kinds: list[str]) -> Outcomes:
    """Subscriptions made one at a time, as an import reports them."""
    return ([kind if kind in ("suppressed", "left") else "subscribed" for kind in kinds],
            sorted(kinds))


def apply(store: Store, operation: tuple[Any, ...], bulk: bool) -> Outcomes:
    """Run one operation: how each subscription it made ended (refused or subscribed, row
    by row), and all their outcomes."""
    kind = operation[0]
    if kind == "subscribe":
        subscription: Subscription = operation[1]
        email, list_name, name, language, pending, resubscribe = subscription
        if bulk and operation[2] == "import" and not pending:  # an import cannot ask pending
            return imported(store, list_name, resubscribe, [(email, name, language)])
        return outcomes_of([one_at_a_time(store, subscription)])
    if kind == "import many":
        _, list_name, resubscribe, rows = operation
        if bulk:
            return imported(store, list_name, resubscribe, rows)
        return outcomes_of([one_at_a_time(store, (email, list_name, name, language, False,
                                                  resubscribe))
                            for email, name, language in rows])
    with contextlib.suppress(NotSubscribedError):
        if kind == "unsubscribe":
            store.unsubscribe(operation[1], operation[2], source="page")
        elif kind == "suppress":
            store.suppress(operation[1], reason="asked", source="cli")
        elif kind == "confirm":
            store.confirm(operation[1], source="confirm-link")
        elif kind == "bounce":
            store.record_bounce(operation[1], reply="550 no such user")
    return [], []


def stored(store: Store) -> dict[str, object]:
    """Everything the rules decide, for every address."""
    state: dict[str, object] = {}
    for email in ADDRESSES:
        suppressed = store.is_suppressed(email)
        try:
            info = store.subscriber(email)
        except NotSubscribedError:
            state[email] = (None, suppressed)
            continue
        trail = [(entry.action, entry.old_status, entry.new_status, entry.list_name,
                  entry.source) for entry in store.audit(email)]
        state[email] = ((info.status, info.name, info.language, info.consent_at is not None),
                        store.memberships(email), suppressed, trail)
    return state


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=operations)
def test_a_subscription_ends_the_same_whichever_path_made_it(
        empty_database: Path, steps: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        urls = []
        for name in ("single.db", "bulk.db"):
            shutil.copyfile(empty_database, Path(folder) / name)
            urls.append(f"sqlite:///{Path(folder) / name}")
        with Store.open(urls[0]) as single, Store.open(urls[1]) as bulk:
            for step in steps:
                assert apply(bulk, step, True) == apply(single, step, False), step
                assert stored(bulk) == stored(single), step
