"""One module per family of inbound formats. `BOUNCE_FAMILIES` lists the parsers of
non-standard bounce bodies in the order they are tried (most specific marker first); the
standard ones (RFC 3464 DSNs, ARF feedback reports), auto-replies and unsubscribe requests
are tried by `bulletin.inbound.classify` around them, in its own documented order."""

from __future__ import annotations

from collections.abc import Callable

from bulletin.inbound.families import (
    aol,
    domino,
    exchange,
    exim,
    gmail,
    postfix,
    qmail,
    sendmail,
    yahoo,
)
from bulletin.inbound.families.base import Finding
from bulletin.inbound.message import Parsed

BOUNCE_FAMILIES: tuple[Callable[[Parsed], Finding | None], ...] = (
    exim.detect,
    gmail.detect,
    yahoo.detect,
    aol.detect,
    qmail.detect,
    postfix.detect,
    sendmail.detect,
    domino.detect,
    exchange.detect,
)
