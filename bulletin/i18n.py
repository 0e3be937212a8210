"""Translations of everything that is not issue content (footer links, "View in browser",
the dateline, the web pages) from gettext catalogues read with Babel, and Babel's locale data
for dates and language names.

A theme keeps its catalogues as `locale/<language>.po` beside its templates; English is the
source language and needs none."""

from __future__ import annotations

import gettext
from collections.abc import Callable
from functools import cache
from io import BytesIO
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import PoFileError, read_po
from babel.support import Translations

from .errors import RenderError

Gettext = Callable[[str], str]


@cache
def translations(catalogues: Path, language: str) -> gettext.NullTranslations:
    """The catalogue `catalogues/<language>.po`, or none (the source text) if there is none."""
    path = catalogues / f"{language}.po"
    if not path.is_file():
        return gettext.NullTranslations()
    try:
        with path.open("rb") as po:
            catalog = read_po(po, locale=language, abort_invalid=True)
    except (PoFileError, ValueError, UnknownLocaleError) as exc:
        raise RenderError(f"{path}: not a valid catalogue: {exc}") from None
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def gettext_for(catalogues: Path, language: str) -> Gettext:
    return translations(catalogues, language).gettext


def language_name(language: str, in_language: str | None = None) -> str:
    """'Cymraeg' for cy in Welsh, 'Welsh' for cy in English."""
    try:
        name = Locale.parse(language).get_display_name(in_language or language)
    except (ValueError, UnknownLocaleError):
        return language
    return name[:1].upper() + name[1:] if name else language
