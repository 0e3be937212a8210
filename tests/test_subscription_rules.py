"""The subscription rules (bulletin.store.rules): the pure function on its own."""

from __future__ import annotations

import pytest

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
    assert (decision.outcome, decision.filled, decision.audit) == ("unchanged", True, ())
    assert decision.after.subscriber == Person("active", "Ann", "cy")
    nothing = subscribe(before, Request(name="", language=""))
    assert (nothing.filled, nothing.after) == (False, before)


def test_joining_another_list() -> None:
    decision = subscribe(State(Person("active", None, None)), Request())
    assert (decision.outcome, decision.consent) == ("joined", False)
    assert decision.audit == (AuditRow("join", None, "active", True),)


def test_only_active_or_pending_can_be_requested() -> None:
    with pytest.raises(ValueError, match="active or pending"):
        subscribe(NOBODY, Request(status="unsubscribed"))
