"""Cross-site request forgery protection for the service's forms, without cookies or
server-side sessions.

Every form carries a field made for the page it is on: a random nonce, an expiry, and an HMAC
of both with the page's own token (the subscriber's signed link, or `subscribe:NEWSLETTER`),
under a key derived from BULLETIN_SECRET_KEY. A form posted from another site cannot carry a
valid field without knowing the page's token, which is the secret already; a field made for
one page (one subscriber) is refused on any other. The one-click unsubscribe of RFC 8058 is
exempt: mailbox providers post it without any page.

The service also refuses a form whose Origin header names another site (see `same_origin`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

FIELD = "csrf"
MAX_AGE = 24 * 3600
"""Seconds a form stays valid after the page was shown."""
_NONCE_BYTES = 12


def _derived(key: bytes) -> bytes:
    return hmac.new(key, b"bulletin csrf v1", hashlib.sha256).digest()


def _mac(key: bytes, page: str, nonce: str, expires: int) -> str:
    message = f"{page}\x1f{nonce}\x1f{expires}".encode()
    digest = hmac.new(_derived(key), message, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def issue(key: bytes, page: str, now: int, max_age: int = MAX_AGE) -> str:
    """A form field value for the page whose token is `page`."""
    nonce = secrets.token_urlsafe(_NONCE_BYTES)
    expires = now + max_age
    return f"{nonce}.{expires}.{_mac(key, page, nonce, expires)}"


def valid(key: bytes, page: str, value: object, now: int) -> bool:
    """Whether `value` is a field made for this page that has not expired."""
    if not isinstance(value, str) or len(value) > 200:
        return False
    parts = value.split(".")
    if len(parts) != 3 or not parts[1].isdigit() or not parts[1].isascii():
        return False
    nonce, expires_text, mac = parts
    expires = int(expires_text)
    if now > expires:
        return False
    return hmac.compare_digest(mac.encode("ascii", "replace"),
                               _mac(key, page, nonce, expires).encode())


def same_origin(origin: str | None, allowed: set[str]) -> bool:
    """Whether the Origin header (if the browser sent one) is one of ours. Browsers send
    "null" for privacy-sensitive contexts; that is left to the form field to decide."""
    if origin is None or origin == "null":
        return True
    return origin.rstrip("/").lower() in allowed
