"""Attribution's tokens: the delivery token (VERP and Message-ID) round-trips, is short and
case-proof, and a forged or altered one never verifies; and the pure policy."""

from __future__ import annotations

import re
from email.headerregistry import Address
from email.utils import parseaddr

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bulletin import links
from bulletin.errors import TokenError
from bulletin.inbound import Classification
from bulletin.inbound.attribute import (
    FORGED,
    NOBODY,
    Ours,
    attribute,
    delivery_id,
    message_id_tokens,
    verp_token,
)
from bulletin.inbound.policy import decide
from bulletin.message import delivery_message_id, verp_address
from bulletin.settings import Bounces
from bulletin.store.inbound import Delivery
from bulletin.store.softbounces import SoftCount

KEY = b"k" * 32
OTHER = b"o" * 32


@given(st.integers(min_value=1, max_value=2**63))
def test_a_delivery_token_names_its_row(row: int) -> None:
    token = links.sign_delivery(row, KEY)
    assert re.fullmatch(r"[a-z2-7]{17,29}", token)
    assert links.verify_delivery(token, KEY) == row
    assert links.verify_delivery(token.upper(), KEY) == row  # a mail system folded its case
    assert links.Signer(KEY).sign_delivery(row) == token
    with pytest.raises(TokenError):
        links.verify_delivery(token, OTHER)


def test_a_token_is_short() -> None:
    assert len(links.sign_delivery(1_000_000, KEY)) == 20


@given(st.integers(min_value=1, max_value=2**40), st.data())
def test_an_altered_token_never_verifies(row: int, data: st.DataObject) -> None:
    token = links.sign_delivery(row, KEY)
    position = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.characters(codec="utf-8"))
    assume(replacement.lower() != token[position])
    altered = token[:position] + replacement + token[position + 1:]
    with pytest.raises(TokenError):
        links.verify_delivery(altered, KEY)
    for cut in (token[:-1], token[1:], token + "a", "a" + token):
        with pytest.raises(TokenError):
            links.verify_delivery(cut, KEY)


@given(st.text(max_size=60))
def test_a_forged_token_never_verifies(text: str) -> None:
    with pytest.raises(TokenError):
        links.verify_delivery(text, KEY)
    assert delivery_id(text, KEY) is None


def test_an_unsubscribe_token_is_not_a_delivery_token() -> None:
    with pytest.raises(TokenError):
        links.verify_delivery(links.sign("unsubscribe", "7", KEY), KEY)


def test_verp_address_round_trip() -> None:
    token = links.sign_delivery(41, KEY)
    envelope = verp_address("bounces@news.example.org", token)
    assert envelope == f"bounces+{token}@news.example.org"
    assert Address(addr_spec=envelope).username == f"bounces+{token}"  # a valid address
    assert verp_token(envelope) == token
    assert verp_token(envelope.upper()) == token.upper()
    assert delivery_id(verp_token(envelope.upper()) or "", KEY) == 41
    assert verp_token("bounces@news.example.org") is None
    assert verp_token(None) is None


def test_message_id_round_trip() -> None:
    token = links.sign_delivery(99, KEY)
    first, second = (delivery_message_id(token, "example.gov.wales") for _ in range(2))
    assert first != second  # unique even for the same row sent again
    assert re.fullmatch(r"<[a-z2-7]+\.[0-9a-f]{10}@example\.gov\.wales>", first)
    assert parseaddr(first)[1] == first.strip("<>")  # a valid msg-id
    assert message_id_tokens(first) == [token]
    assert delivery_id(message_id_tokens(f"<x@y> {first}")[1], KEY) == 99
    assert message_id_tokens("<1234.abc@elsewhere.example>") == ["1234"]
    assert delivery_id("1234", KEY) is None


class Lookups:
    """The store's answers, for attribution alone."""

    def __init__(self) -> None:
        self.deliveries = {7: Delivery(7, "news/one", 70, "ann@example.org")}
        self.subscribers = {"bob@example.org": 80}

    def delivery(self, delivery_id: int) -> Delivery | None:
        return self.deliveries.get(delivery_id)

    def subscriber_id(self, email: str) -> int | None:
        return self.subscribers.get(email.lower())


def bounce(**fields: object) -> Classification:
    return Classification(**{"kind": "hard", "status": "5.1.1", "reason": "user-unknown",
                             **fields})  # type: ignore[arg-type]


def test_attribution_order() -> None:
    good = links.sign_delivery(7, KEY)
    lookups = Lookups()
    by_verp = attribute(bounce(envelope_to=f"b+{good}@x.org", recipients=("bob@example.org",),
                               original_message_id="<zz@x>"), b"", KEY, lookups)
    assert (by_verp.how, by_verp.subscriber_id, by_verp.recipient) == \
        ("verp", 70, "bob@example.org")
    by_id = attribute(bounce(envelope_to="b@x.org", recipients=("bob@example.org",),
                             original_message_id=delivery_message_id(good, "x.org")),
                      b"", KEY, lookups)
    assert (by_id.how, by_id.subscriber_id) == ("message-id", 70)
    # The address only when the quoted original is demonstrably ours (here: its From).
    ours = Ours(senders=frozenset({"news@x.org"}))
    by_address = attribute(bounce(recipients=("Bob@Example.org",),
                                  original_headers={"From": "News <news@x.org>"}),
                           b"", KEY, lookups, ours)
    assert (by_address.how, by_address.subscriber_id) == ("address", 80)
    assert not attribute(bounce(recipients=("carol@example.org",),
                                original_headers={"From": "news@x.org"}),
                         b"", KEY, lookups, ours).found


def test_a_bounce_of_mail_not_ours_attributes_nothing() -> None:
    lookups = Lookups()
    ours = Ours(senders=frozenset({"news@x.org"}), domains=frozenset({"x.org"}),
                list_ids=frozenset({"news.x.org"}))
    foreign = {"From": "someone@elsewhere.example", "Message-ID": "<a.b@elsewhere.example>"}
    for original in ({}, foreign):
        assert not attribute(bounce(recipients=("bob@example.org",), original_headers=original,
                                    original_message_id=original.get("Message-ID")),
                             b"", KEY, lookups, ours).found
        assert not attribute(bounce(recipients=("bob@example.org",), original_headers=original),
                             b"", KEY, lookups).found
    for mark in ({"Message-ID": "<a.b@x.org>"}, {"List-Id": "News <news.x.org>"}):
        found = attribute(bounce(recipients=("bob@example.org",), original_headers=mark,
                                 original_message_id=mark.get("Message-ID")),
                          b"", KEY, lookups, ours)
        assert (found.how, found.subscriber_id) == ("address", 80)


def test_a_forged_token_naming_a_subscriber_attributes_nothing() -> None:
    lookups = Lookups()
    ours = Ours(senders=frozenset({"news@x.org"}), domains=frozenset({"x.org"}))
    forged = links.sign_delivery(7, OTHER)
    original = {"From": "news@x.org"}
    by_verp = bounce(envelope_to=f"b+{forged}@x.org", recipients=("bob@example.org",),
                     original_headers=original)
    assert attribute(by_verp, b"", KEY, lookups, ours) == FORGED
    by_id = bounce(recipients=("bob@example.org",), original_headers=original,
                   original_message_id=delivery_message_id(forged, "x.org"))
    assert attribute(by_id, b"", KEY, lookups, ours) == FORGED
    # Even with a good token beside it: a forged one means the report is not to be trusted.
    good = links.sign_delivery(7, KEY)
    assert attribute(bounce(envelope_to=f"b+{good}@x.org", recipients=("bob@example.org",),
                            original_message_id=delivery_message_id(forged, "x.org")),
                     b"", KEY, lookups, ours) == FORGED


def test_a_complaint_needs_a_verified_token() -> None:
    lookups = Lookups()
    ours = Ours(senders=frozenset({"news@x.org"}), domains=frozenset({"x.org"}))
    good = links.sign_delivery(7, KEY)
    for kind in ("complaint", "unsubscribe"):  # abuse, or a feedback loop's opt-out
        about_bob = Classification(kind=kind, family="arf", recipients=("bob@example.org",),
                                   original_headers={"From": "news@x.org"},
                                   original_message_id="<a.b@x.org>")
        assert not attribute(about_bob, b"", KEY, lookups, ours).found
        tokened = Classification(kind=kind, family="arf", recipients=("bob@example.org",),
                                 original_message_id=delivery_message_id(good, "x.org"))
        found = attribute(tokened, b"", KEY, lookups, ours)
        assert (found.how, found.subscriber_id) == ("message-id", 70)
        by_verp = attribute(Classification(kind=kind, family="arf",
                                           envelope_to=f"fbl+{good}@x.org"),
                            b"", KEY, lookups, ours)
        assert (by_verp.how, by_verp.subscriber_id) == ("verp", 70)


def test_verp_with_a_plus_in_the_local_part() -> None:
    token = links.sign_delivery(7, KEY)
    assert verp_token(f"news+bounces+{token}@x.org") == token
    found = attribute(bounce(envelope_to=f"news+bounces+{token}@x.org"), b"", KEY, Lookups())
    assert (found.how, found.subscriber_id) == ("verp", 70)
    # Without VERP, news+bounces@ holds no token: the other ways are tried.
    by_id = attribute(bounce(envelope_to="news+bounces@x.org",
                             original_message_id=delivery_message_id(token, "x.org")),
                      b"", KEY, Lookups())
    assert (by_id.how, by_id.subscriber_id) == ("message-id", 70)


def test_a_forged_token_attributes_nothing() -> None:
    lookups = Lookups()
    forged = links.sign_delivery(7, OTHER)
    found = attribute(bounce(envelope_to=f"b+{forged}@x.org",
                             original_message_id=delivery_message_id(forged, "x.org")),
                      b"", KEY, lookups)
    assert not found.found
    # Nor does a well-signed token of a row that does not exist.
    missing = links.sign_delivery(8, KEY)
    assert not attribute(bounce(envelope_to=f"b+{missing}@x.org"), b"", KEY, lookups).found


def test_an_unsubscribe_request_needs_its_token() -> None:
    lookups = Lookups()
    token = links.sign("unsubscribe", "80", KEY)
    found = attribute(Classification(kind="unsubscribe", token=token), b"", KEY, lookups)
    assert (found.how, found.subscriber_id) == ("token", 80)
    for bad in (None, links.sign("preferences", "80", KEY), links.sign("unsubscribe", "80",
                                                                       OTHER), token[:-2]):
        assert attribute(Classification(kind="unsubscribe", token=bad,
                                        recipients=("bob@example.org",)),
                         b"From: bob@example.org\n\nunsubscribe\n", KEY, lookups) == (
            NOBODY if bad is None else FORGED)


def test_policy() -> None:
    rules = Bounces(soft_limit=3, soft_days=30)
    assert decide(bounce(diagnostic="550 no\n such user"), SoftCount(0), rules).detail == \
        "hard bounce 5.1.1 user-unknown: 550 no such user"
    assert decide(bounce(), SoftCount(0), rules).action == "bounce"
    soft = bounce(kind="soft", status="4.2.2", reason="mailbox-full")
    assert decide(soft, SoftCount(1), rules).action == "count"
    assert decide(soft, SoftCount(2), rules).action == "count"
    third = decide(soft, SoftCount(3), rules)
    assert third.action == "bounce" and third.detail.startswith("3 soft bounces in 30 days")
    # Or a soft bounce of each of the last soft_consecutive issues (default 3; 0: off).
    streak = decide(soft, SoftCount(1, 3, ("n/3", "n/2", "n/1")), rules)
    assert streak.action == "bounce" and streak.detail.startswith(
        "soft bounces of the last 3 issues sent (limit 3: n/3, n/2, n/1)")
    assert decide(soft, SoftCount(1, 2, ("n/3", "n/2")), rules).action == "count"
    off = Bounces(soft_limit=3, soft_days=30, soft_consecutive=0)
    assert decide(soft, SoftCount(1, 3, ("n/3", "n/2", "n/1")), off).action == "count"
    none = SoftCount()
    assert decide(Classification(kind="complaint", family="arf"), none, rules).action == \
        "complaint"
    assert decide(Classification(kind="auto-reply"), SoftCount(0), rules).action == "none"
    assert decide(Classification(kind="unsubscribe"), none, rules).action == "unsubscribe"


def test_a_delay_notice_changes_nothing() -> None:
    rules = Bounces(soft_limit=3, soft_days=30)
    delay = bounce(kind="soft", status="4.7.1", reason="delayed")
    for softs in (0, 3, 10):
        assert decide(delay, SoftCount(softs), rules).action == "none"
    assert decide(Classification(kind="unsubscribe", family="arf"), SoftCount(),
                  rules).action == "unsubscribe"


def test_rules_for_matches_the_newsletter_address_exactly() -> None:
    from types import SimpleNamespace

    from bulletin.inbound.policy import rules_for

    anna, other = Bounces(soft_limit=5, soft_days=10), Bounces(soft_limit=7, soft_days=20)
    newsletters = {
        "x": SimpleNamespace(sender="X <anna@b.org>", unsubscribe_mailto=None, bounces=anna),
        "y": SimpleNamespace(sender="y@c.org", unsubscribe_mailto=None, bounces=other)}
    workspace = SimpleNamespace(settings=SimpleNamespace(newsletters=newsletters))
    assert rules_for(workspace, envelope_to="a@b.org") == Bounces()  # type: ignore[arg-type]
    token = links.sign_delivery(7, KEY)
    for envelope in ("anna@B.ORG", f"anna+{token}@b.org"):
        assert rules_for(workspace, envelope_to=envelope) == anna  # type: ignore[arg-type]
