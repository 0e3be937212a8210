"""Where a subscriber's language choice came from, in the words an auditor reads (the Welsh
Language Standards ask that each person's choice be recorded): the store's sources of a
subscription or a change, named as the channel the person used."""

from __future__ import annotations

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
