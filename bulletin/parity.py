"""Parity of a multilingual issue (the Welsh Language Standards: no language treated less
favourably): the same sections, images, buttons and links in every language, links to the same
places (or to each language's version of a page), subject, preheader and alt text in every
language, and no translation left as a placeholder. Pure: reads the validated issue only.

Errors block a send (untranslated text must never go out); a length far from the other
languages' is a warning, since translations do differ in length."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple

import lxml.html

from .markdown import to_html_and_text
from .yamlsource import Loc, dotted

if TYPE_CHECKING:
    from .issue import IssueFile

NEVER_SENT = frozenset({"translation-placeholder"})
"""Finding codes that `send --force` cannot override: a translation still to come must never
go out, whatever the reason given."""

SHORT = 20
"""Texts shorter than this (in every language) are not compared by length."""


@dataclass(frozen=True)
class Counted:
    """What one language's text of a section holds."""

    links: list[str]
    images: int


def check(loaded: IssueFile) -> list[Finding]:
    """Every parity finding of the issue; none for a newsletter in one language."""
    languages = list(loaded.newsletter.languages)
    if len(languages) < 2:
        return []
    return [*_every_language(loaded), *_placeholders(loaded, languages),
            *_sections(loaded, languages), *_lengths(loaded, languages)]


class Finding(NamedTuple):
    """One parity finding; `bulletin check` shows it as one of its own (checks.Finding)."""

    level: Literal["error", "warning"]
    code: str
    where: str
    message: str


def _finding(level: Literal["error", "warning"], code: str, where: str,
             message: str) -> Finding:
    return Finding(level, code, where, message)


def _translated(loaded: IssueFile) -> Iterator[tuple[Loc, dict[str, str]]]:
    from .fields import prose_fields

    for loc, value in prose_fields(loaded.issue):
        if isinstance(value, dict):
            yield loc, value


def _every_language(loaded: IssueFile) -> Iterator[Finding]:
    """Subject, preheader, title, headings, bodies, button text and image alt text written
    once serve every language: untranslated."""
    issue = loaded.issue
    wanted = ", ".join(f"{language}: ..." for language in loaded.newsletter.languages)
    fields: list[tuple[Loc, object]] = [(("subject",), issue.subject),
                                        (("preheader",), issue.preheader),
                                        (("title",), issue.title)]
    for index, section in enumerate(issue.sections):
        fields += [(("sections", index, "heading"), section.heading),
                   (("sections", index, "body"), section.body)]
        if section.image is not None:
            fields.append((("sections", index, "image", "alt"), section.image.alt))
        if section.button is not None:
            fields.append((("sections", index, "button", "text"), section.button.text))
    for loc, value in fields:
        if value is None and loc == ("preheader",):
            yield _finding("error", "parity-missing", loaded.where(()),
                           f"preheader: missing; a multilingual issue needs a preheader in "
                           f"every language ({{{wanted}}})")
        elif isinstance(value, str):
            yield _finding("error", "parity-untranslated", loaded.where(loc),
                           f"{dotted(loc)}: written once, so every language gets the same "
                           f"text; write it in each language: {{{wanted}}}")


def _placeholders(loaded: IssueFile, languages: list[str]) -> Iterator[Finding]:
    parity = loaded.newsletter.parity
    patterns = parity.patterns()
    yield from _settings_placeholders(loaded, patterns)
    for loc, value in _translated(loaded):
        for language, text in value.items():
            hits = [m for m in (p.search(text) for p in patterns) if m is not None]
            if hits:
                found = min(hits, key=lambda m: m.start())
                line = loaded.source.line_within((*loc, language), found.start())
                yield _finding("error", "translation-placeholder", f"{loaded.path}:{line}",
                               f"{dotted(loc)} ({language}): '{found.group(0)}' marks a "
                               f"translation still to come; write the {language} text "
                               "before sending")
        seen: dict[str, str] = {}
        for language in languages:
            text = _plain(value.get(language, ""))  # the words read, not link targets
            other = seen.get(text)
            if other is not None and len(text) >= parity.identical_min:
                yield _finding("error", "translation-identical",
                               loaded.where((*loc, language)),
                               f"{dotted(loc)} ({language}): the same text as the '{other}' "
                               f"text ({len(text)} characters), so it is not translated")
            seen.setdefault(text, language)


def _settings_placeholders(loaded: IssueFile,
                           patterns: list[re.Pattern[str]]) -> Iterator[Finding]:
    """The newsletter's own translated text in bulletin.toml (name, about, banner, social
    labels...) goes into every email too: a placeholder there must not be sent either."""
    from .fields import prose_fields

    top: Loc = ("newsletters", loaded.issue.newsletter)
    for loc, value in prose_fields(loaded.newsletter, top):
        if "parity" in loc or not isinstance(value, dict):
            continue
        for language, text in value.items():
            hits = [m for m in (p.search(text) for p in patterns) if m is not None]
            if not hits:
                continue
            found = min(hits, key=lambda m: m.start())
            where = loaded.workspace.where((*loc, language)) if loaded.workspace else \
                str(loaded.path)
            yield _finding("error", "translation-placeholder", where,
                           f"{dotted(loc)} ({language}): '{found.group(0)}' marks a "
                           f"translation still to come; write the {language} text in "
                           "bulletin.toml before sending")


def _count(body: str) -> Counted:
    html, _ = to_html_and_text(body)
    if not html.strip():
        return Counted([], 0)
    doc = lxml.html.fragment_fromstring(str(html), create_parent="div")
    return Counted([a.get("href", "") for a in doc.iter("a")], len(list(doc.iter("img"))))


def _sections(loaded: IssueFile, languages: list[str]) -> Iterator[Finding]:
    """Links and images in each section's body; buttons and images are shared by every
    language (one src, one url), so only their text can differ."""
    same = _same_page(loaded)
    first = languages[0]
    for index, section in enumerate(loaded.issue.sections):
        body = section.body
        if not isinstance(body, dict):
            continue
        loc: Loc = ("sections", index, "body")
        counts = {language: _count(body.get(language, "")) for language in languages}
        base = counts[first]
        for language in languages[1:]:
            mine = counts[language]
            where = loaded.where((*loc, language))
            if len(mine.links) != len(base.links):
                # named in the language with fewer: the one a link is missing from
                short, full = (language, first) if len(mine.links) < len(base.links) \
                    else (first, language)
                have, want = len(counts[short].links), len(counts[full].links)
                yield _finding("error", "parity-links", loaded.where((*loc, short)),
                               f"{dotted(loc)} ({short}): {have} link{'s' * (have != 1)}, "
                               f"the '{full}' text has {want}; every language needs the "
                               "same links")
            else:
                theirs = Counter(same(href) for href in base.links)
                ours = Counter(same(href) for href in mine.links)
                extra = [href for href in mine.links if ours[same(href)] > theirs[same(href)]]
                missing = [href for href in base.links if theirs[same(href)] > ours[same(href)]]
                if extra:
                    line = _line_of(loaded, (*loc, language), extra[0])
                    yield _finding("error", "parity-link-target", line,
                                   f"{dotted(loc)} ({language}): links to {extra[0]}, where "
                                   f"the '{first}' text links to {missing[0]}; link to the "
                                   "same page, or list the pair under [newsletters."
                                   f"{loaded.issue.newsletter}.parity] urls")
            if mine.images != base.images:
                yield _finding("error", "parity-images", where,
                               f"{dotted(loc)} ({language}): {mine.images} image"
                               f"{'s' * (mine.images != 1)}, the '{first}' text has "
                               f"{base.images}")
    yield from _presence(loaded, languages)


def _presence(loaded: IssueFile, languages: list[str]) -> Iterator[Finding]:
    """A section's heading or body empty in one language and not in another."""
    for loc, value in _translated(loaded):
        filled = [language for language in languages if value.get(language, "").strip()]
        if filled and len(filled) < len(languages):
            empty = next(language for language in languages if language not in filled)
            yield _finding("error", "parity-missing", loaded.where((*loc, empty)),
                           f"{dotted(loc)} ({empty}): empty, while the '{filled[0]}' text is "
                           "not; every language gets the same content")


def _same_page(loaded: IssueFile) -> Callable[[str], str]:
    pairs = loaded.newsletter.parity.urls
    canonical: dict[str, str] = {}
    for pair in pairs:
        first = next(iter(pair.values()))
        for url in pair.values():
            canonical[url] = first

    def same(href: str) -> str:
        return canonical.get(href, href)

    return same


def _line_of(loaded: IssueFile, loc: Loc, needle: str) -> str:
    value = loaded.source.value_at(loc)
    if isinstance(value, str) and needle in value:
        return f"{loaded.path}:{loaded.source.line_within(loc, value.index(needle))}"
    return loaded.where(loc)


def _lengths(loaded: IssueFile, languages: list[str]) -> Iterator[Finding]:
    first = languages[0]
    for loc, value in _translated(loaded):
        base = len(_plain(value.get(first, "")))
        for language in languages[1:]:
            mine = len(_plain(value.get(language, "")))
            if max(base, mine) < SHORT or not base or not mine:
                continue
            ratio = mine / base
            if ratio < 0.5 or ratio > 2:
                yield _finding("warning", "parity-length", loaded.where((*loc, language)),
                               f"{dotted(loc)} ({language}): {mine} characters against "
                               f"{base} in '{first}' ({ratio:.1f} times); check that nothing "
                               "is missing or added")


def _plain(text: str) -> str:
    """The words a reader reads: Markdown link targets left out."""
    html = str(to_html_and_text(text)[0])
    if not html.strip():
        return ""
    return " ".join(lxml.html.fragment_fromstring(html, create_parent="div")
                    .text_content().split())
