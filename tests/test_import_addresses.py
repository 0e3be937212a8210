"""Address checking and normalisation: the fast path agrees with email-validator."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bulletin.store.addresses import InvalidAddress, normalise, normalise_slow

ATEXT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
local_parts = st.text(alphabet=ATEXT + ".", min_size=1, max_size=70)
labels = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-",
                 min_size=1, max_size=20)
domains = st.one_of(
    st.lists(labels, min_size=1, max_size=4).map(".".join),
    st.sampled_from(["example.org", "EXAMPLE.ORG", "gov.wales", "xn--bcher-kva.de", "x.test",
                     "localhost", "a..b", "-a.org", "a-.org", "123.456", "invalid",
                     "b\u00fccher.de"]),
)
addresses = st.builds(lambda local, domain: f"{local}@{domain}", local_parts, domains)


def outcome(function, raw):
    try:
        return function(raw)
    except InvalidAddress as exc:
        return ("invalid", str(exc))


@pytest.mark.slow
@settings(max_examples=500)
@given(st.one_of(addresses, st.text(max_size=40)))
@example("Ann@Example.ORG")
@example("postmaster@example.org")
@example("a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 60 + ".org")
@example("user@xn--bcher-kva.de")
def test_fast_path_agrees_with_email_validator(raw: str) -> None:
    assert outcome(normalise, raw) == outcome(normalise_slow, raw)


@given(addresses)
def test_normalising_is_idempotent_and_the_key_ignores_case(raw: str) -> None:
    try:
        address = normalise(raw)
    except InvalidAddress:
        return
    again = normalise(address.email)
    assert again == address
    assert normalise(raw.upper()).key == address.key == normalise(raw.lower()).key
    assert address.key == address.key.lower()


def test_the_domain_is_lower_cased_and_the_local_part_kept() -> None:
    address = normalise("  Ann.Smith@Example.GOV.Wales \t")
    assert address.email == "Ann.Smith@example.gov.wales"
    assert address.key == "ann.smith@example.gov.wales"


def test_an_international_domain_has_one_key_in_either_form() -> None:
    assert normalise("ann@B\u00fccher.de").key == normalise("ann@xn--bcher-kva.de").key \
        == "ann@xn--bcher-kva.de"


@pytest.mark.parametrize("raw, says", [
    ("bob@@example.org", "invalid characters"),
    ("bob", "must have an @-sign"),
    ("bob@localhost", "should have a period"),
    ("bob@example.test", "special-use or reserved"),
    ("Bob <bob@example.org>", "display name"),
    ("@example.org", "there must be something"),
    ('q"uote@example.org', 'it holds a quote character ("); remove it'),
    ('"quote@example.org', 'it holds a quote character ("); remove it'),
])
def test_invalid_addresses_say_why(raw: str, says: str) -> None:
    with pytest.raises(InvalidAddress) as caught:
        normalise(raw)
    assert repr(raw.strip()) in str(caught.value)
    assert says in str(caught.value).lower()
    with pytest.raises(EmailNotValidError):
        validate_email(raw.strip(), check_deliverability=False)


@settings(max_examples=300)
@given(st.text(alphabet=ATEXT[:8] + '."\\@ <>', max_size=30).filter(lambda raw: "@" in raw))
@example('q"uote@example.org')
@example('quote"@example.org')
@example('q"u@te@example.org')
def test_an_address_with_an_at_sign_is_never_said_to_have_none(raw: str) -> None:
    """A quote left open hides the @-sign from email-validator, which then says that there is
    none; the message names what is wrong instead."""
    try:
        normalise(raw)
    except InvalidAddress as exc:
        assert "must have an @-sign" not in str(exc)


@given(st.text(alphabet=ATEXT, min_size=1, max_size=20), st.data())
def test_a_quote_in_an_address_is_named(local: str, data: st.DataObject) -> None:
    at = data.draw(st.integers(0, len(local)))
    raw = f'{local[:at]}"{local[at:]}@example.org'
    with pytest.raises(InvalidAddress) as caught:
        normalise(raw)
    assert str(caught.value) == f"{raw!r} is not a valid email address: " \
        'it holds a quote character ("); remove it'
