"""What can go wrong with the subscriber store, as errors the CLI can print on one line, and
`first_line`, which turns a database driver's error into the short reason these carry."""

from __future__ import annotations

from ..errors import BulletinError


class StoreError(BulletinError):
    """The database cannot be reached, is at a version this bulletin does not know, or an
    operation was asked of something that is not there."""


class UnknownListError(StoreError, LookupError):
    """A list name that the store does not have."""


class NotSubscribedError(StoreError, LookupError):
    """An address that the store has no record of."""


class SuppressedError(StoreError):
    """The address is on the suppression list, which always wins."""


class UnsubscribedError(StoreError):
    """The person unsubscribed (or bounced, or complained); re-subscribing them needs an
    explicit override."""


def first_line(exc: Exception) -> str:
    """The first line of a database error (the driver's own message, without SQLAlchemy's
    statement and parameters), for a StoreError's message."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
