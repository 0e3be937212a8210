"""Field types shared by the issue file and bulletin.toml."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterator
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, PlainValidator

_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


class Strict(BaseModel):
    """Unknown keys are errors: a typo must not vanish silently."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def language_code_error(name: str) -> str:
    """Why `name` is not a language code, and the code to write instead where `name` is a
    language's name in English (`welsh` -> cy)."""
    from babel import Locale

    wanted = name.strip().casefold()
    english = {str(code): str(title) for code, title in Locale("en").languages.items()}
    for code, title in english.items():
        if "_" not in code and title.casefold() == wanted:
            return f"'{name}' is a language name, not a code; write {code} for {title}"
    own = _own_names().get(wanted)  # Cymraeg, Gaeilge, Français
    if own is not None:
        return f"'{name}' is a language name, not a code; write {own} for {english[own]}"
    return f"'{name}' is not a language code; use codes such as en or cy"


@functools.cache
def _own_names() -> dict[str, str]:
    """Each language's name in itself, casefolded, to its code (Cymraeg: cy)."""
    from babel import Locale, localedata

    names: dict[str, str] = {}
    english = Locale("en").languages
    for code in localedata.locale_identifiers():
        if "_" not in code and code in english:
            own = Locale.parse(code).get_language_name(code)
            if own:
                names.setdefault(own.casefold(), code)
    return names


def _language(value: str) -> str:
    if not _LANGUAGE.match(value):
        raise ValueError(language_code_error(value))
    return value


Language = Annotated[str, AfterValidator(_language)]
"""A language code such as en, cy or pt-BR."""


class KeyMistake(ValueError):
    """A mistake in one key of a mapping value: `key`, to name it and its line."""

    def __init__(self, message: str, key: str) -> None:
        super().__init__(message)
        self.key = key


def _prose(value: Any) -> str | dict[str, str]:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and value:
        for language, text in value.items():
            if not _LANGUAGE.match(str(language)):
                raise ValueError(language_code_error(str(language)) + " (the keys of "
                                 "translated text are language codes)")
            if text is None:
                raise KeyMistake(f"is empty; write the text after '{language}:'",
                                 str(language))
            if not isinstance(text, str):
                raise KeyMistake(f"the '{language}' text should be text, got "
                                 f"{type(text).__name__}; put it in quotes", str(language))
        return dict(value)
    hint = "; put it in quotes" if isinstance(value, int | float | bool | list) else ""
    raise ValueError(f"expected text, or a mapping of language to text such as "
                     f"{{en: ..., cy: ...}}, got {type(value).__name__}{hint}")


Prose = Annotated[str | dict[str, str], PlainValidator(_prose)]
"""Text, or a mapping of language code to text for multilingual newsletters."""


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme == "mailto" and "@" in parts.path:
        return value
    if parts.scheme in ("http", "https") and parts.netloc and " " not in value:
        return value
    raise ValueError(f"expected an absolute URL starting with https:// (got {value!r})")


Url = Annotated[str, AfterValidator(_url)]


def _appendable(url: str) -> str:
    """A base URL, to which a path is appended (/unsubscribe/TOKEN, /NAME of an image):
    nothing after its path that the path would follow (a query, a fragment), nor a user name
    or password, which every email would show."""
    parts = urlsplit(url)
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise ValueError(f"has a '?' or '#' part; every link appends its path to it, so give "
                         f"the address alone, such as "
                         f"'{parts.scheme}://{parts.netloc}{parts.path}'")
    if "@" in parts.netloc:
        raise ValueError("holds a user name or password, which every email would show; give "
                         "the address alone (secrets come only from the environment)")
    return url


BaseUrl = Annotated[Url, AfterValidator(_appendable)]
"""A URL that links are made from by appending a path to it."""

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def _image_source(value: str) -> str:
    if _SCHEME.match(value) and not re.match(r"^[A-Za-z]:[\\/]", value):
        return _url(value)
    if not value.strip() or "\0" in value:
        raise ValueError(f"expected an https:// URL or a path relative to this file "
                         f"(got {value!r})")
    return value


ImageSource = Annotated[str, AfterValidator(_image_source)]
"""An image: an absolute URL, or a file's path relative to the file that names it."""


def _colour(value: str) -> str:
    if not _COLOUR.match(value):
        raise ValueError(f"expected a colour such as #1d1d1b (got {value!r})")
    return value


Colour = Annotated[str, AfterValidator(_colour)]


def _zone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {value!r}; give an IANA name such as "
                         "Europe/London or UTC") from None
    return value


TimeZone = Annotated[str, AfterValidator(_zone)]

SLOWEST_RATE = 1 / 3600
"""The lowest limit on messages a second: one an hour, as the lowest limit an hour is one
(rate_per_hour, --per-hour). A lower one would wait over an hour between two messages (at
1e-300, for ever) with the list queued."""


def rate_problem(rate: float) -> str | None:
    """Why `rate` cannot limit messages a second (bulletin.toml's [smtp] rate_per_second,
    `bulletin send --rate`), in words that say what to give instead; None when it can."""
    if SLOWEST_RATE <= rate < math.inf:
        return None
    if 0 < rate < SLOWEST_RATE:
        return (f"that is under one message an hour, so a send would wait over an hour "
                f"between two messages; give at least {SLOWEST_RATE:.6f} (one an hour), such "
                f"as 20, or leave it out for no limit")
    return ("give the most messages a second as a finite number above 0, such as 20 (leave "
            "it out for no limit)")


def _rate(value: float) -> float:
    problem = rate_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


RatePerSecond = Annotated[float, AfterValidator(_rate)]
"""A limit on messages a second (see rate_problem)."""
GRACE_MAX_MINUTES = 7 * 24 * 60
"""The longest grace period a scheduled send may have (bulletin.schedule.timing)."""


def in_language(value: str | dict[str, str] | None, language: str) -> str:
    """The text of `value` for `language` (plain text serves every language)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return value[language]


def prose_fields(model: BaseModel, loc: tuple[str | int, ...] = ()
                 ) -> Iterator[tuple[tuple[str | int, ...], str | dict[str, str]]]:
    """Every translated (mapping) prose value inside `model`, with its location."""
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        key = info.alias or name
        yield from _walk(value, (*loc, key))


def _walk(value: object, loc: tuple[str | int, ...]
          ) -> Iterator[tuple[tuple[str | int, ...], str | dict[str, str]]]:
    if isinstance(value, BaseModel):
        yield from prose_fields(value, loc)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _walk(item, (*loc, index))
    elif isinstance(value, dict) and value and all(isinstance(v, str) for v in value.values()):
        yield loc, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, (*loc, key))
