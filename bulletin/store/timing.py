"""When each language's edition of an issue went out: the first and last message sent to
the subscribers of each recorded language, and the skew between languages (the Welsh Language
Standards: the Welsh version at the same time as the English). Read from the ledger's sent_at;
no state of its own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select

from .models import LedgerEntry, Subscriber, table

_ledger = table(LedgerEntry)
_subscribers = table(Subscriber)


@dataclass(frozen=True, slots=True)
class LanguageTiming:
    language: str | None
    """The subscribers' recorded language (None: none recorded)."""
    sent: int
    first: datetime
    last: datetime


def by_language(engine: Engine, issue: str) -> list[LanguageTiming]:
    """Per recorded language, the messages of `issue` sent and when the first and the last
    went; most messages first."""
    query = (select(_subscribers.c.language, func.count(), func.min(_ledger.c.sent_at),
                    func.max(_ledger.c.sent_at))
             .join_from(_ledger, _subscribers, _subscribers.c.id == _ledger.c.subscriber_id)
             .where(_ledger.c.issue == issue, _ledger.c.state == "sent",
                    _ledger.c.sent_at.is_not(None))
             .group_by(_subscribers.c.language))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return sorted((LanguageTiming(language, count, _utc(first), _utc(last))
                   for language, count, first, last in rows),
                  key=lambda timing: (-timing.sent, timing.language or ""))


def skew(timings: list[LanguageTiming]) -> timedelta | None:
    """How far apart the languages' sends were: the largest gap between two languages' first
    messages or between their last ones (None with fewer than two languages)."""
    if len(timings) < 2:
        return None
    firsts = [t.first for t in timings]
    lasts = [t.last for t in timings]
    return max(max(firsts) - min(firsts), max(lasts) - min(lasts))


def _utc(value: object) -> datetime:
    from datetime import UTC

    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)
