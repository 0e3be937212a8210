"""The fast path of address normalising (addresses.normalise: plain ASCII addresses, each domain
checked once) held to its reference, email-validator whole (addresses.normalise_slow): the same
address and key, or the same rejection with the same words, for every generated address."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bulletin.store.addresses import InvalidAddress, normalise, normalise_slow

ATOM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
LABEL = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"
ODD = ". @\"\\()<>[]:;,éßüÉ\u00a0\u200b\t"

atoms = st.text(ATOM + ".", min_size=0, max_size=70)
special_locals = st.sampled_from(["postmaster", "Abuse", "HOSTMASTER", "webmaster", "info"])
labels = st.text(LABEL, min_size=0, max_size=66)
unicode_labels = st.text(LABEL + "éßüÉ", min_size=1, max_size=20)
tlds = st.sampled_from(["com", "org", "co.uk", "gov.wales", "cymru", "LOCAL", "local",
                        "localhost", "invalid", "test", "example", "onion", "123", "x",
                        "xn--p1ai", "xn--zz", "arpa", "museum"])


@st.composite
def domains(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.one_of(labels, unicode_labels), min_size=0, max_size=4))
    if draw(st.booleans()):
        parts.append(draw(tlds))
    return ".".join(parts) + draw(st.sampled_from(["", "", ".", ".."]))


@st.composite
def long_addresses(draw: st.DrawFn) -> str:
    """Well-formed addresses near the length limits (254 in all, 64 for the local part, 63 a
    label), where only the lengths decide."""
    local = draw(st.text(ATOM[:62], min_size=1, max_size=70))
    sizes = draw(st.lists(st.integers(1, 64), min_size=1, max_size=5))
    domain = ".".join("d" * size for size in sizes) + ".org"
    return f"{local}@{domain}"


@st.composite
def addresses(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 4)) == 0:
        return draw(long_addresses())
    local = draw(st.one_of(atoms, special_locals, st.text(ATOM + ODD, max_size=20)))
    at = draw(st.sampled_from(["@", "@", "@", "", "@@"]))
    domain = draw(domains())
    padding = draw(st.sampled_from(["", " ", "\t", " \n"]))
    return f"{padding}{local}{at}{domain}{padding}"


def outcome(function: object, raw: str) -> tuple[str, ...]:
    try:
        address = function(raw)  # type: ignore[operator]
    except InvalidAddress as exc:
        return ("refused", str(exc))
    return ("accepted", address.email, address.key)


@settings(max_examples=3000, deadline=None)
@given(addresses())
@example("Ann.Jones@Example.ORG")
@example("postmaster@example.org")
@example("a@localhost")
@example("a..b@example.org")
@example(".a@example.org")
@example("a@-example.org")
@example("a@example.org.")
@example("a@xn--zz.com")
@example("a" * 64 + "@example.org")
@example("a" * 65 + "@example.org")
@example("a@" + "b" * 63 + ".org")
@example("a@" + "b" * 64 + ".org")
@example("a@" + ".".join(["b" * 60] * 4) + ".org")
@example("a@münchen.de")
@example("a" * 64 + "@" + "d" * 62 + "." + "d" * 62 + "." + "d" * 59 + ".org")  # 254 long
@example("a" * 64 + "@" + "d" * 62 + "." + "d" * 62 + "." + "d" * 60 + ".org")  # 255
def test_fast_path_gives_what_email_validator_gives(raw: str) -> None:
    assert outcome(normalise, raw) == outcome(normalise_slow, raw)


@pytest.mark.parametrize("raw", ["Ann@Example.org", "ann@EXAMPLE.ORG", " ann@example.org "])
def test_one_person_one_key(raw: str) -> None:
    assert normalise(raw).key == "ann@example.org"
