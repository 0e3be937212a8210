"""Public URLs of the web service, the links every footer carries (the email's and the
pages'), and the signed, opaque tokens inside per-recipient links.

A token names one subscriber and one purpose (an unsubscribe token cannot change
preferences), optionally expires, and is signed with HMAC-SHA256 under BULLETIN_SECRET_KEY.
No email address ever appears in a URL.

A delivery token names one row of the send ledger (one message to one person), for the
envelope sender (VERP) and the Message-ID, so that what comes back can be traced to it: the
same HMAC, its purpose "delivery", written in lower-case base32 (letters and digits only:
mail systems may change the case of an address's local part) and short (the id, then 80 bits
of MAC)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from .errors import TokenError

if TYPE_CHECKING:
    from .settings import Footer

KEY_VARIABLE = "BULLETIN_SECRET_KEY"
PURPOSES = ("unsubscribe", "preferences", "confirm")
_MAC_BYTES = 16


def secret_key(required: bool = True) -> bytes:
    """The signing key from the environment. Without one, a throwaway key when not required
    (sample renders), else an error saying what to set."""
    value = os.environ.get(KEY_VARIABLE, "")
    if len(value) >= 16:
        return value.encode()
    if required:
        raise TokenError(f"set {KEY_VARIABLE} to a random string of at least 16 characters "
                         f"(for example: export {KEY_VARIABLE}=$(python3 -c "
                         "'import secrets; print(secrets.token_urlsafe(32))'))")
    return secrets.token_bytes(32)


_URL_SAFE = bytes.maketrans(b"+/", b"-_")
_IPAD = bytes(byte ^ 0x36 for byte in range(256))
_OPAD = bytes(byte ^ 0x5C for byte in range(256))


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).translate(_URL_SAFE).rstrip(b"=") \
        .decode("ascii")


def _b64_mac(mac: bytes) -> str:
    """_b64 of the MAC's first 16 bytes: 22 characters, its "==" cut."""
    return binascii.b2a_base64(mac[:_MAC_BYTES], newline=False)[:22].translate(_URL_SAFE) \
        .decode("ascii")


def _unb64(text: str) -> bytes:
    if not text or any(c not in _ALPHABET for c in text) or len(text) % 4 == 1:
        raise TokenError("malformed token")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:_MAC_BYTES]


class Signer:
    """Signs many tokens under one key, keying HMAC once (a send signs three per message).

    HMAC (RFC 2104) is made here from its two keyed hashes, as the hmac module builds it, and
    each token's hash states are copied from ones that have hashed the key's block (and the
    purpose) already: a token then costs two copies, an update and two digests. The hmac
    module's own objects cost 0.4 µs more a token and hmac.digest (OpenSSL's one-shot, which
    keys HMAC again each call) 1 µs more. Tests hold the tokens to the hmac module's."""

    def __init__(self, key: bytes) -> None:
        block = hashlib.sha256().block_size
        padded = (hashlib.sha256(key).digest() if len(key) > block else key).ljust(block, b"\0")
        self._inner = hashlib.sha256(padded.translate(_IPAD))
        self._outer = hashlib.sha256(padded.translate(_OPAD))
        # Both purposes of a send are 12 bytes with their separator: whole base64 groups, so
        # a payload's encoding is the purpose's, then the rest's.
        self._unsubscribe, self._preferences = (
            (self._hashed(f"{purpose}\x1f".encode()), _b64(f"{purpose}\x1f".encode()))
            for purpose in ("unsubscribe", "preferences"))
        self._delivery = self._hashed(_DELIVERY_HEAD)

    def _hashed(self, head: bytes) -> hashlib._Hash:
        inner = self._inner.copy()
        inner.update(head)
        return inner

    def _hmac(self, inner: hashlib._Hash, rest: bytes) -> bytes:
        inner = inner.copy()
        inner.update(rest)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def sign_both(self, subject: str) -> tuple[str, str]:
        """(unsubscribe token, preferences token) for `subject`, never expiring: what each
        message of a send carries; the same tokens as `sign` makes, made faster."""
        rest = f"{subject}\x1f".encode()
        rest_b64 = _b64(rest)
        (unsubscribe, unsubscribe_b64), (preferences, preferences_b64) = \
            self._unsubscribe, self._preferences
        return (f"{unsubscribe_b64}{rest_b64}.{_b64_mac(self._hmac(unsubscribe, rest))}",
                f"{preferences_b64}{rest_b64}.{_b64_mac(self._hmac(preferences, rest))}")

    def sign_delivery(self, delivery: int) -> str:
        """The delivery token of ledger row `delivery` (see `verify_delivery`)."""
        if delivery < 1:
            raise ValueError(f"a ledger row's id is positive, not {delivery}")
        return _delivery_token(delivery, self._hmac(self._delivery, b"%d" % delivery))

    def sign(self, purpose: str, subject: str, expires: int | None = None) -> str:
        """A URL-safe token for `subject` (a subscriber id) and `purpose`."""
        if purpose not in PURPOSES:
            raise ValueError(f"unknown token purpose {purpose!r}")
        payload = f"{purpose}\x1f{subject}\x1f{expires or ''}".encode()
        return f"{_b64(payload)}.{_b64_mac(self._hmac(self._inner, payload))}"


def sign(purpose: str, subject: str, key: bytes, expires: int | None = None) -> str:
    """A URL-safe token for `subject` (a subscriber id) and `purpose`."""
    return Signer(key).sign(purpose, subject, expires)


def verify(token: str, purpose: str, key: bytes, now: int) -> str:
    """The subject of a valid token for `purpose`; TokenError for anything else."""
    body, dot, mac = token.partition(".")
    if not dot:
        raise TokenError("malformed token")
    payload, signature = _unb64(body), _unb64(mac)
    # Only the canonical encoding is accepted, so no two strings are the same token.
    if (_b64(payload), _b64(signature)) != (body, mac) or \
            not hmac.compare_digest(signature, _mac(key, payload)):
        raise TokenError("token signature does not match")
    try:
        got, subject, expires = payload.decode().split("\x1f")
    except (UnicodeDecodeError, ValueError):
        raise TokenError("malformed token") from None
    if got != purpose:
        raise TokenError(f"this link is for {got}, not {purpose}")
    if expires and now > int(expires):
        raise TokenError("this link has expired")
    return subject


_B32 = "abcdefghijklmnopqrstuvwxyz234567"
_B32_VALUES = {c: n for n, c in enumerate(_B32)}
_B32_PAIRS = tuple(first + second for first in _B32 for second in _B32)
"""Every 10-bit number as its two base32 digits: a token's characters two at a time."""
_DELIVERY_HEAD = b"delivery\x1f"
"""A delivery token's payload is this and the id in decimal digits."""
_DELIVERY_MAC_BYTES = 10
_DELIVERY_MAC_CHARS = 16  # 80 bits in base32, no padding
_DELIVERY_ID_CHARS = 13  # up to 2**64


def _delivery_token(delivery: int, mac: bytes) -> str:
    """The id in base32 digits without leading zeros, then base32 of the MAC's first 10
    bytes (base64.b32encode's, lower case: tests hold it to that), ten bits at a time."""
    pairs = _B32_PAIRS
    number = ""
    while delivery >= 1024:
        number = pairs[delivery & 1023] + number
        delivery >>= 10
    number = (pairs[delivery] if delivery >= 32 else _B32[delivery]) + number
    n = int.from_bytes(mac[:_DELIVERY_MAC_BYTES], "big")
    return (f"{number}{pairs[n >> 70]}{pairs[n >> 60 & 1023]}{pairs[n >> 50 & 1023]}"
            f"{pairs[n >> 40 & 1023]}{pairs[n >> 30 & 1023]}{pairs[n >> 20 & 1023]}"
            f"{pairs[n >> 10 & 1023]}{pairs[n & 1023]}")


def sign_delivery(delivery: int, key: bytes) -> str:
    """A short token naming ledger row `delivery`: lower-case letters and digits."""
    return Signer(key).sign_delivery(delivery)


def verify_delivery(token: str, key: bytes) -> int:
    """The ledger row a delivery token names; TokenError for anything else. Case does not
    matter (mail systems may fold it); nothing else may differ from what was signed."""
    text = token.lower() if token.isascii() else ""  # not "K" (Kelvin) for "k"
    number = text[:-_DELIVERY_MAC_CHARS]
    if not number or len(number) > _DELIVERY_ID_CHARS or number[0] == _B32[0] or \
            any(c not in _B32_VALUES for c in text):
        raise TokenError("malformed delivery token")
    delivery = 0
    for c in number:
        delivery = delivery * 32 + _B32_VALUES[c]
    if not hmac.compare_digest(sign_delivery(delivery, key), text):
        raise TokenError("delivery token signature does not match")
    return delivery


def archive_path(newsletter: str, issue: str, language: str | None = None) -> str:
    """An issue's place in the archive, below BASE/archive/ (the view-in-browser link's
    end): with `?lang=` for one language of a newsletter written in several."""
    path = f"{quote(newsletter)}/{quote(issue)}"
    return f"{path}?lang={language}" if language else path


def archive_url(base: str, newsletter: str, issue: str, language: str | None = None) -> str:
    """The view-in-browser link: the issue's public copy in the archive."""
    return f"{base.rstrip('/')}/archive/{archive_path(newsletter, issue, language)}"


def subscribe_url(base: str, newsletter: str) -> str:
    return f"{base.rstrip('/')}/subscribe/{quote(newsletter)}"


def unsubscribe_url(base: str, token: str) -> str:
    return f"{base.rstrip('/')}/unsubscribe/{token}"


def preferences_url(base: str, token: str) -> str:
    """The manage-preferences link; from a page of the service, `base` is ".."."""
    return f"{base.rstrip('/')}/preferences/{token}"


@dataclass(frozen=True)
class Link:
    text: str
    url: str


def footer_links(footer: Footer, words: Callable[[str], str]) -> list[Link]:
    """The footer links the newsletter sets, in the order the email and every page show
    them; `words` translates each link's text (into one language, or several joined)."""
    return [Link(words(text), url) for text, url in (
        ("Privacy Policy", footer.privacy), ("Cookie Statement", footer.cookies),
        ("Help", footer.help)) if url]
