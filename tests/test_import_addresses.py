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
])
def test_invalid_addresses_say_why(raw: str, says: str) -> None:
    with pytest.raises(InvalidAddress) as caught:
        normalise(raw)
    assert repr(raw.strip()) in str(caught.value)
    assert says in str(caught.value).lower()
    with pytest.raises(EmailNotValidError):
        validate_email(raw.strip(), check_deliverability=False)
