"""Where a subscriber's language choice came from, in the words an auditor reads (the Welsh
Language Standards ask that each person's choice be recorded): the store's sources of a
subscription or a change, named as the channel the person used; and a list's active members
counted by language and by that channel."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from .models import Membership, Subscriber, table

_subscribers = table(Subscriber)
_memberships = table(Membership)

SOURCES = ("form", "preferences", "import", "api", "cli")
"""The channels a language choice is recorded from (anything else keeps its own name)."""

_SUBSCRIBING = {"page": "form", "confirm-link": "form", "api": "api", "import": "import",
                "cli": "cli"}
_CHANGING = {"page": "preferences", "api": "api", "import": "import", "cli": "cli"}


def channel(source: str, *, subscribing: bool) -> str:
    """The channel of a language chosen when subscribing (`subscribing`) or changed later,
    from the store's `source` of that request ("page" is the subscribe form when
    subscribing, the preferences page when changing)."""
    names = _SUBSCRIBING if subscribing else _CHANGING
    return names.get(source, source)[:32]


def members_by_choice(engine: Engine, list_id: int) -> list[tuple[str | None, str | None, int]]:
    """(language, channel, how many) of the list's active members; None where not recorded."""
    query = (select(_subscribers.c.language, _subscribers.c.language_source, func.count())
             .join_from(_memberships, _subscribers,
                        _subscribers.c.id == _memberships.c.subscriber_id)
             .where(_memberships.c.list_id == list_id, _memberships.c.status == "active",
                    _subscribers.c.status == "active")
             .group_by(_subscribers.c.language, _subscribers.c.language_source))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return sorted(((language, source, count) for language, source, count in rows),
                  key=lambda row: (row[0] or "~", row[1] or "~"))
