"""The public archive ("view in browser"): each edition of an issue, as sent, with every
per-recipient placeholder filled with a neutral value, so that no recipient's data (address,
tokens) is ever in it.

The links that were per recipient (unsubscribe, manage preferences) point at the newsletter's
subscribe page, which says how to manage a subscription; the recipient's address becomes a
neutral phrase ("you") in the language of the text around it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from .. import links
from .. import placeholders as ph
from ..i18n import gettext_for
from ..settings import BUNDLED_TEMPLATES

if TYPE_CHECKING:
    from ..store.store import Store
    from ..workflow import Prepared

CATALOGUES = BUNDLED_TEMPLATES / "web" / "locale"
_LANG = re.compile(r"""\slang=["']([A-Za-z-]+)["']""")
_EMAIL = re.compile(re.escape(ph.EMAIL))


def neutral_recipient(language: str, catalogues: Path = CATALOGUES) -> str:
    # Translators: stands for the recipient's address in "This email was sent to ADDRESS by
    # ORGANISATION." on the public copy of an issue.
    return gettext_for(catalogues, language)("you")


def _html_without_recipient(html: str, languages: tuple[str, ...], catalogues: Path) -> str:
    """The address, in each place, becomes the neutral phrase in the language of the nearest
    `lang` attribute before it (each language block of a bilingual email carries one)."""
    marks = [(m.start(), m[1].split("-")[0].lower()) for m in _LANG.finditer(html)]

    def language_at(position: int) -> str:
        current = languages[0]
        for start, language in marks:
            if start > position:
                break
            current = language
        return current

    return _EMAIL.sub(lambda m: neutral_recipient(language_at(m.start()), catalogues), html)


def _text_without_recipient(text: str, languages: tuple[str, ...], catalogues: Path) -> str:
    """In the text part, one address per language block, in order; else the first language."""
    found = len(_EMAIL.findall(text))
    order = iter(languages if found == len(languages) else [languages[0]] * found)
    return _EMAIL.sub(lambda m: neutral_recipient(next(order), catalogues), text)


def public_copy(prepared: Prepared, catalogues: Path = CATALOGUES) -> tuple[str, str]:
    """(html, text) of one edition as anyone may see it."""
    rendered = prepared.rendered
    manage = links.subscribe_url(prepared.workspace.settings.base_url,
                                 rendered.newsletter)
    values = {"unsubscribe_url": manage, "preferences_url": manage}
    html = _html_without_recipient(rendered.html, rendered.languages, catalogues)
    text = _text_without_recipient(rendered.text, rendered.languages, catalogues)
    return ph.fill(html, values, html_escape=True), ph.fill(text, values)


def publish(editions: list[Prepared], store: Store) -> int:
    """Put every edition of an issue in the archive, under each language it is in (a
    bilingual edition serves both); replaces an earlier copy. Returns how many copies."""
    from ..send.outgoing import Outgoing

    return Outgoing.of(editions).publish(store)
