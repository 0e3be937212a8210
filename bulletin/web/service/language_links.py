"""A language switcher and `hreflang` alternate links for an archived issue: the public copy
is the email's own HTML, so the links every other page has from its template are put into it
here, as it is served (the Welsh Language Standards: every page in each language, and a way
to move between them)."""

from __future__ import annotations

import re
from html import escape

from ...i18n import language_name

_HEAD_END = re.compile(r"</head\s*>", re.IGNORECASE)
_BODY_START = re.compile(r"<body\b[^>]*>", re.IGNORECASE)


def with_language_links(html: str, languages: list[str], current: str, label: str) -> str:
    """`html` with an alternate link per language in its head and, first in its body, a
    switcher naming each language in itself (`label` names the switcher, in `current`)."""
    if len(languages) < 2:
        return html
    alternates = "".join(f'<link rel="alternate" hreflang="{code}" href="?lang={code}">'
                         for code in languages)
    items = "".join(
        f'<span lang="{code}" aria-current="true">{escape(language_name(code))}</span>'
        if code == current else
        f'<a href="?lang={code}" lang="{code}" hreflang="{code}">'
        f"{escape(language_name(code))}</a>"
        for code in languages)
    nav = (f'<nav class="languages" aria-label="{escape(label)}" style="padding:8px 16px;'
           f'font-family:sans-serif;display:flex;gap:16px">{items}</nav>')
    head = _HEAD_END.search(html)
    if head is not None:
        html = html[:head.start()] + alternates + html[head.start():]
    body = _BODY_START.search(html)
    if body is not None:
        html = html[:body.end()] + nav + html[body.end():]
    return html
