"""The public copy of an edition (the archive's "view in browser"): the issue as sent, with
every per-recipient placeholder filled with a neutral value, so that no recipient's data
(address, tokens) is ever in it. A render-layer stage, text in and text out: the send
use-case makes the copies it publishes with it (send/outgoing.py); the web service serves
what the store holds.

The copy has its own footer (PublicFooter): no Unsubscribe or Manage preferences links and
no "sent to ADDRESS", but a Subscribe link and a line that says whose email this is a copy
of. Wherever the issue's text said the recipient's address, it says "your email address", in
the language of the text around it."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import escape as html_escape
from pathlib import Path
from typing import TYPE_CHECKING

from . import links
from . import placeholders as ph
from .fields import in_language
from .i18n import gettext_for
from .settings import BUNDLED_TEMPLATES

if TYPE_CHECKING:
    from .workflow import Prepared

CATALOGUES = BUNDLED_TEMPLATES / "web" / "locale"
_LANG = re.compile(r"""\slang=["']([A-Za-z-]+)["']""")
_EMAIL = re.compile(re.escape(ph.EMAIL))


def neutral_recipient(language: str, catalogues: Path = CATALOGUES) -> str:
    # Translators: stands for the recipient's address, wherever the text says it
    # (%%email%%), on the public copy of an issue: "We will write to ADDRESS".
    return gettext_for(catalogues, language)("your email address")


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
    """(html, text) of one edition as anyone may see it, with its own neutral footer."""
    rendered = prepared.rendered
    manage = links.subscribe_url(prepared.workspace.settings.base_url,
                                 rendered.newsletter)
    organisation = prepared.workspace.newsletter(rendered.newsletter).organisation
    footer = PublicFooter(rendered.languages, manage, catalogues,
                          lambda language: in_language(organisation, language))
    html = footer.html(rendered.html)
    text = footer.text(rendered.text)
    html = _html_without_recipient(html, rendered.languages, catalogues)
    text = _text_without_recipient(text, rendered.languages, catalogues)
    values = {"unsubscribe_url": manage, "preferences_url": manage}
    return ph.fill(html, values, html_escape=True), ph.fill(text, values)


class PublicFooter:
    """The footer of the public copy. What the email's footer says to its one reader (the
    Unsubscribe and Manage preferences links, "update your subscriptions on your preferences
    page", "this email was sent to ADDRESS") means nothing on a public page, and its links
    would lead a stranger nowhere useful. Each paragraph of the footer (everything from the
    first unsubscribe link on) that holds them becomes: a Subscribe link in place of the
    links' line, and "This is a copy of an email ORGANISATION sent to its subscribers." in
    place of the rest, in the language of the text around it."""

    def __init__(self, languages: tuple[str, ...], subscribe: str, catalogues: Path,
                 organisation: Callable[[str], str]) -> None:
        self.languages = languages
        self.subscribe = subscribe
        self.catalogues = catalogues
        self.organisation = organisation

    def copy_note(self, language: str) -> str:
        _ = gettext_for(self.catalogues, language)
        return _("This is a copy of an email %(organisation)s sent to its subscribers.") % {
            "organisation": self.organisation(language)}

    def subscribe_text(self) -> str:
        words = []
        for language in self.languages:
            _ = gettext_for(self.catalogues, language)
            words.append(_("Subscribe"))
        return " / ".join(dict.fromkeys(words))

    def html(self, html: str) -> str:
        start = html.find(f'href="{ph.UNSUBSCRIBE_URL}"')
        if start < 0:
            return html
        start = html.rfind("<p", 0, start)
        marks = [(m.start(), m[1].split("-")[0].lower()) for m in _LANG.finditer(html)]

        def language_at(position: int) -> str:
            current = self.languages[0]
            for at, language in marks:
                if at > position:
                    break
                current = language if language in self.languages else current
            return current

        def paragraph(match: re.Match[str]) -> str:
            opening, inner = match[1], match[2]
            if f'href="{ph.UNSUBSCRIBE_URL}"' in inner:
                style = re.search(r'<a\b[^>]*?(\sstyle="[^"]*")', inner)
                return (f'{opening}<a href="{html_escape(self.subscribe)}"'
                        f'{style[1] if style else ""}>{html_escape(self.subscribe_text())}'
                        f"</a></p>")
            if f'href="{ph.PREFERENCES_URL}"' in inner:
                note = self.copy_note(language_at(start + match.start()))
                return f"{opening}{html_escape(note)}</p>"
            if ph.EMAIL in inner:
                return ""  # "This email was sent to ADDRESS by ..."
            return match[0]

        return html[:start] + _PARAGRAPH.sub(paragraph, html[start:])

    def text(self, text: str) -> str:
        rule = text.rfind("=" * 78)
        if rule < 0:
            return text
        head, tail = text[:rule], text[rule:]
        blocks = re.split(r"\n\s*\n", tail)
        order = iter(self.languages if sum(ph.PREFERENCES_URL in b for b in blocks
                                           if ph.UNSUBSCRIBE_URL not in b)
                     == len(self.languages) else [self.languages[0]] * len(blocks))
        kept = []
        for block in blocks:
            if ph.UNSUBSCRIBE_URL in block:
                lines = [line for line in block.split("\n")
                         if ph.UNSUBSCRIBE_URL not in line and ph.PREFERENCES_URL not in line]
                lines.append(f"{self.subscribe_text()}: <{self.subscribe}>")
                kept.append("\n".join(lines))
            elif ph.PREFERENCES_URL in block:
                kept.append(self.copy_note(next(order)))
            elif ph.EMAIL not in block:
                kept.append(block)
        return head + "\n\n".join(kept)


_PARAGRAPH = re.compile(r"(?s)(<p\b[^>]*>)(.*?)</p>")
