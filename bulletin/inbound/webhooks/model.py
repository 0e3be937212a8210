"""What a webhook's body becomes (`Event`: one recipient's bounce or complaint, classified,
with the key it is recorded under) and the ways a body is refused, each with the HTTP status
the route answers with. Kept apart so that the SES and the generic parsers share them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..model import Classification


class WebhookError(Exception):
    """A request refused; `status` is what the route answers, `str()` its short body."""

    status = 400


class Malformed(WebhookError):
    """Not JSON, or not the shape expected."""


class Unauthenticated(WebhookError):
    """A signature that is missing, malformed, stale or wrong."""

    status = 401


class Forbidden(WebhookError):
    """Signed, perhaps, but not for us (an SNS topic not in [webhooks] ses_topics)."""

    status = 403


class Unavailable(WebhookError):
    """Cannot be checked now (the signing certificate could not be fetched): try later."""

    status = 503


@dataclass(frozen=True)
class Event:
    """One recipient's bounce or complaint as a provider reported it."""

    key: str
    """What it is recorded under: the same event reported again has the same key."""
    classification: Classification


def event_key(*parts: str) -> str:
    """The key of an event named by `parts` (the provider, its id for the report, the
    recipient): SHA-256, so that no address is kept in the key."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()
