"""Signed tokens: round trip, scoped to a purpose, expiring, and any change rejected."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulletin import links
from bulletin.errors import TokenError

KEY = b"k" * 32
subjects = st.text(min_size=1, max_size=40).filter(lambda s: "\x1f" not in s)
purposes = st.sampled_from(links.PURPOSES)


@given(purposes, subjects, st.one_of(st.none(), st.integers(1, 2**40)))
def test_round_trip(purpose: str, subject: str, expires: int | None) -> None:
    token = links.sign(purpose, subject, KEY, expires)
    assert links.verify(token, purpose, KEY, now=0) == subject


@given(subjects, st.data())
def test_any_change_is_rejected(subject: str, data: st.DataObject) -> None:
    token = links.sign("unsubscribe", subject, KEY)
    index = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.sampled_from(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=/+ %"))
    changed = token[:index] + replacement + token[index + 1:]
    if changed != token:
        with pytest.raises(TokenError):
            links.verify(changed, "unsubscribe", KEY, now=0)


@given(subjects, st.text(max_size=3))
def test_truncated_or_extended_is_rejected(subject: str, extra: str) -> None:
    token = links.sign("preferences", subject, KEY)
    for changed in (token[:-1], token + extra if extra else token + "A", token[1:]):
        with pytest.raises(TokenError):
            links.verify(changed, "preferences", KEY, now=0)


@given(st.text(max_size=80))
def test_garbage_is_rejected_cleanly(garbage: str) -> None:
    with pytest.raises(TokenError):
        links.verify(garbage, "unsubscribe", KEY, now=0)


def test_a_token_serves_one_purpose_only() -> None:
    token = links.sign("unsubscribe", "42", KEY)
    with pytest.raises(TokenError, match="for unsubscribe, not preferences"):
        links.verify(token, "preferences", KEY, now=0)


def test_another_key_is_rejected() -> None:
    token = links.sign("unsubscribe", "42", KEY)
    with pytest.raises(TokenError):
        links.verify(token, "unsubscribe", b"x" * 32, now=0)


def test_expiry() -> None:
    token = links.sign("confirm", "42", KEY, expires=1000)
    assert links.verify(token, "confirm", KEY, now=1000) == "42"
    with pytest.raises(TokenError, match="expired"):
        links.verify(token, "confirm", KEY, now=1001)


@given(purposes, subjects)
def test_tokens_are_url_safe_and_hold_no_address(purpose: str, subject: str) -> None:
    token = links.sign(purpose, subject, KEY)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert "@" not in token


def test_secret_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(links.KEY_VARIABLE, "s" * 20)
    assert links.secret_key() == b"s" * 20
    monkeypatch.setenv(links.KEY_VARIABLE, "short")
    with pytest.raises(TokenError, match="BULLETIN_SECRET_KEY"):
        links.secret_key()
    assert len(links.secret_key(required=False)) == 32


@given(subjects, st.binary(min_size=16, max_size=200))
def test_both_tokens_of_a_message_are_the_ones_sign_makes(subject: str, key: bytes) -> None:
    signer = links.Signer(key)
    unsubscribe, preferences = signer.sign_both(subject)
    assert links.verify(unsubscribe, "unsubscribe", key, 0) == subject
    assert links.verify(preferences, "preferences", key, 0) == subject
    assert signer.sign_both(subject) == (signer.sign("unsubscribe", subject),
                                         signer.sign("preferences", subject))


keys = st.binary(min_size=16, max_size=200)  # longer than SHA-256's block too: hashed first


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@given(purposes, subjects, st.one_of(st.none(), st.integers(1, 2**40)), keys)
def test_tokens_are_hmac_sha256_as_the_hmac_module_makes_it(
        purpose: str, subject: str, expires: int | None, key: bytes) -> None:
    payload = f"{purpose}\x1f{subject}\x1f{expires or ''}".encode()
    mac = hmac.new(key, payload, hashlib.sha256).digest()[:16]
    assert links.Signer(key).sign(purpose, subject, expires) == f"{b64url(payload)}.{b64url(mac)}"


def reference_delivery_token(delivery: int, key: bytes) -> str:
    """The id in base32 digits (divmod by divmod), then base64's base32 of 80 bits of MAC."""
    mac = hmac.new(key, f"delivery\x1f{delivery}".encode(), hashlib.sha256).digest()
    digits = ""
    while delivery:
        delivery, digit = divmod(delivery, 32)
        digits = "abcdefghijklmnopqrstuvwxyz234567"[digit] + digits
    return digits + base64.b32encode(mac[:10]).decode("ascii").lower()


rows = st.one_of(st.integers(1, 2**64 - 1), st.integers(1, 2**21),
                 st.sampled_from([1, 31, 32, 1023, 1024, 1025, 2**20 - 1, 2**20, 2**64 - 1]))


@given(rows, keys)
def test_delivery_tokens_are_the_reference_ones(delivery: int, key: bytes) -> None:
    token = links.Signer(key).sign_delivery(delivery)
    assert token == reference_delivery_token(delivery, key) == links.sign_delivery(delivery, key)
    assert links.verify_delivery(token, key) == delivery
    assert links.verify_delivery(token.upper(), key) == delivery


@pytest.mark.parametrize("delivery", [0, -1])
def test_a_delivery_token_names_a_row(delivery: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        links.Signer(KEY).sign_delivery(delivery)


# Tokens as earlier releases made them, in links already sent: each must still verify, and
# be what is made now (a faster way of making them must not change one character).
EARLIER = b"k" * 32
LONG_KEY = bytes(range(100))  # longer than SHA-256's block: HMAC hashes it first
ISSUED = [
    ("unsubscribe", "42", EARLIER, None, "dW5zdWJzY3JpYmUfNDIf.-RLgabVft1Yb1duuq90GeA"),
    ("preferences", "Siân", EARLIER, None, "cHJlZmVyZW5jZXMfU2nDom4f.guD5qdDAxWZcfNf1ScgBbA"),
    ("confirm", "7", EARLIER, 2**40, "Y29uZmlybR83HzEwOTk1MTE2Mjc3NzY.-bZicdi9fvt-fq_Vu63WCw"),
    ("unsubscribe", "42", LONG_KEY, None, "dW5zdWJzY3JpYmUfNDIf.mwLkYfgNp-kVdCxw4zkCzA"),
]
DELIVERED = [(1, EARLIER, "bc5ji5zz66xun4tlg"), (1025, EARLIER, "babv3hpy6oobqpeqwu4"),
             (2**64 - 1, EARLIER, "p7777777777772tcvgwzh2v6rfscr"),
             (2**64, EARLIER, "qaaaaaaaaaaaagvwm23n6vifaq5ts"), (7, LONG_KEY, "hdlkxfv53mjhvanrp")]


@pytest.mark.parametrize(("purpose", "subject", "key", "expires", "token"), ISSUED)
def test_tokens_issued_before_still_verify(purpose: str, subject: str, key: bytes,
                                           expires: int | None, token: str) -> None:
    assert links.verify(token, purpose, key, now=0) == subject
    assert links.Signer(key).sign(purpose, subject, expires) == token
    if purpose != "confirm":
        both = links.Signer(key).sign_both(subject)
        assert both[purpose == "preferences"] == token


@pytest.mark.parametrize(("delivery", "key", "token"), DELIVERED)
def test_delivery_tokens_issued_before_still_name_their_row(delivery: int, key: bytes,
                                                            token: str) -> None:
    assert links.verify_delivery(token, key) == delivery
    assert links.verify_delivery(token.upper(), key) == delivery
    assert links.Signer(key).sign_delivery(delivery) == token
