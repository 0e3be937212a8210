"""A multilingual newsletter's language policy in bulletin.toml: which language comes first,
what a subscriber with no recorded language gets, and what the parity checks accept (URL
pairs that are one page in two languages, extra placeholder patterns). Apart from settings.py
so that the Welsh Language Standards' rules live in one place."""

from __future__ import annotations

import re
from typing import Any, Literal, TypeVar

from pydantic import Field, field_validator, model_validator

from .fields import Language, Strict, Url

DEFAULT_PLACEHOLDERS = (
    r"translation to follow",
    r"cyfieithiad i ddilyn",
    r"(?-i:\bTODO\b)",  # in capitals only: "todo" is a word in other languages
    r"\[(?:cy|en)\]",
    r"lorem ipsum",
)
"""Text that marks a translation as still to come (case-insensitive regular expressions)."""


N = TypeVar("N", bound="LanguageOptions")


class Parity(Strict):
    """[newsletters.X.parity]: what `bulletin check` accepts as the same in every language."""

    urls: tuple[dict[Language, Url], ...] = ()
    """Pages that are one page in several languages: [{cy = "https://llyw.cymru/x",
    en = "https://gov.wales/x"}]; a link to either counts as the same link."""
    placeholders: tuple[str, ...] = ()
    """More patterns (regular expressions, case-insensitive) that mark untranslated text."""
    identical_min: int = Field(default=30, ge=1)
    """Text identical in two languages and at least this long is taken as untranslated."""

    @field_validator("placeholders")
    @classmethod
    def _patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"'{pattern}' is not a regular expression: {exc}") from None
            if re.search(pattern, ""):
                raise ValueError(f"'{pattern}' matches empty text, so it would mark every "
                                 "text as a placeholder; give a pattern that needs a character")
        return value

    def patterns(self) -> list[re.Pattern[str]]:
        return [re.compile(p, re.IGNORECASE) for p in (*DEFAULT_PLACEHOLDERS, *self.placeholders)]


class LanguageOptions(Strict):
    """The language keys of a [newsletters.X] table (Newsletter inherits them)."""

    first_language: Language | None = None
    """The language read first: its subject first, its block first (default: the first of
    `languages`)."""
    unknown_language: Literal["first", "bilingual"] | None = None
    """What a subscriber with no recorded language gets with delivery "each": the first
    language's edition, or the edition with every language (default: "bilingual" when the
    languages include Welsh, else "first")."""
    parity: Parity = Parity()

    @field_validator("languages", check_fields=False)
    @classmethod
    def _each_once(cls, value: list[str]) -> list[str]:
        twice = next((code for n, code in enumerate(value) if code in value[:n]), None)
        if twice is not None:
            raise ValueError(f"'{twice}' is listed twice; list each language once")
        return value

    @model_validator(mode="before")
    @classmethod
    def _first_language_first(cls, data: Any) -> Any:
        """`languages` in the order they are presented: `first_language` at the front, so
        every part (subject, blocks, editions, web pages) reads one order."""
        if isinstance(data, dict) and isinstance(data.get("languages"), list | tuple):
            first = data.get("first_language")
            if isinstance(first, str) and first in data["languages"] and \
                    len(set(data["languages"])) == len(data["languages"]):  # else _each_once
                data = {**data, "languages": list(ordered(data["languages"], first))}
        return data

    @model_validator(mode="after")
    def _first_is_a_language(self) -> LanguageOptions:
        languages = list(getattr(self, "languages", ()))
        if self.first_language is not None and self.first_language not in languages:
            raise ValueError(f"first_language '{self.first_language}' is not one of the "
                             f"newsletter's languages ({', '.join(languages)})")
        return self


def ordered(languages: list[str] | tuple[str, ...], first: str | None) -> tuple[str, ...]:
    """`languages` with `first` (if given) moved to the front."""
    if first is None or first not in languages:
        return tuple(languages)
    return (first, *(language for language in languages if language != first))


def unknown_gets(languages: list[str] | tuple[str, ...],
                 setting: Literal["first", "bilingual"] | None) -> Literal["first", "bilingual"]:
    """What a subscriber with no recorded language gets (the Welsh Language Standards: Welsh,
    or both, where a person's language is not known)."""
    if len(languages) < 2:
        return "first"
    if setting is not None:
        return setting
    return "bilingual" if "cy" in languages else "first"


def for_unknown_language(newsletter: N) -> N | None:
    """The newsletter as the edition for subscribers with no recorded language is rendered
    (every language in one email) when, with delivery "each", they get that edition; None when
    they get the first language's edition like everyone else."""
    languages = list(getattr(newsletter, "languages", ()))
    if getattr(newsletter, "delivery", None) != "each" or \
            unknown_gets(languages, newsletter.unknown_language) != "bilingual":
        return None
    return newsletter.model_copy(update={"delivery": "bilingual"})


UNKNOWN = ""
"""The key of the edition for subscribers with no recorded language, among an issue's
per-language message templates."""
