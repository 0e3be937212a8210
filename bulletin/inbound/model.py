"""What classifying one inbound message produces: the Classification value and the one error
for input that is not an email at all. Kept apart so every family module and the callers
share one vocabulary without importing the classifier."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from bulletin.errors import BulletinError

Kind = Literal["hard", "soft", "complaint", "auto-reply", "unsubscribe", "not-bounce"]
KINDS: tuple[Kind, ...] = ("hard", "soft", "complaint", "auto-reply", "unsubscribe", "not-bounce")


class NotAnEmailError(BulletinError, ValueError):
    """The bytes given are not an email message (empty, binary, or no header at all)."""


@dataclass(frozen=True)
class Classification:
    """One inbound message, classified.

    `recipients` are the addresses that failed (or were complained about), in the order the
    report names them, without repeats, the domain lower-cased. `status` is the enhanced
    status code (RFC 3463) of the first failure, `reason` a word of the vocabulary in
    `bulletin.inbound.reasons`, `diagnostic` the server's own text. `family` names the parser
    that recognised the message. `original_headers` are selected headers of the quoted
    original message; `envelope_to` is where the report itself was delivered (for VERP);
    `token` is the unsubscribe token of an emailed unsubscribe request, if one was given;
    `issue` the issue (newsletter/stem) a provider's event says it is about."""

    kind: Kind
    recipients: tuple[str, ...] = ()
    status: str | None = None
    reason: str | None = None
    diagnostic: str | None = None
    family: str = "none"
    original_message_id: str | None = None
    original_headers: Mapping[str, str] = field(default_factory=dict)
    envelope_to: str | None = None
    token: str | None = None
    issue: str | None = None

    def __post_init__(self) -> None:
        # Frozen all the way down: the headers cannot be changed through the mapping either.
        object.__setattr__(self, "original_headers",
                           MappingProxyType(dict(self.original_headers)))

    def __hash__(self) -> int:
        return hash((self.kind, self.recipients, self.status, self.family))

    @property
    def is_bounce(self) -> bool:
        return self.kind in ("hard", "soft")
