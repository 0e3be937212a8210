"""Pre-send checks on a rendered issue: size, accessibility, links, headers, placeholders."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import lxml.html

from . import placeholders as ph
from .issue import IssueFile
from .render import Rendered
from .yamlsource import Loc

GMAIL_CLIP_BYTES = 102 * 1024
SUBJECT_MAX = 78
VAGUE_LINK_TEXT = frozenset({
    "here", "click here", "click", "read more", "read more here", "more", "learn more",
    "find out more", "more info", "more information", "this", "this link", "link", "go",
    "details", "continue", "see more",
})


@dataclass(frozen=True)
class Finding:
    level: Literal["error", "warning"]
    code: str
    where: str
    message: str


def check(loaded: IssueFile, rendered: Rendered, html: str, text: str) -> list[Finding]:
    """Every finding for one rendered issue. `html` and `text` are its parts with the
    placeholders filled as a real recipient's would be, so sizes and leftovers are measured
    on what is sent."""
    return [*_size(loaded, html), *_structure(loaded, rendered),
            *_links_and_images(loaded, html), *_headers(loaded, rendered),
            *_leftovers(loaded, html, text)]


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == "error"]


def _size(loaded: IssueFile, html: str) -> Iterator[Finding]:
    size = len(html.encode())
    where = str(loaded.path)
    if size > GMAIL_CLIP_BYTES:
        yield Finding("error", "size", where,
                      f"the HTML is {size / 1024:.0f} KB; Gmail clips messages over 102 KB "
                      "and hides the unsubscribe link: shorten the issue or split it")
    elif size > GMAIL_CLIP_BYTES * 0.85:
        yield Finding("warning", "size", where,
                      f"the HTML is {size / 1024:.0f} KB, close to Gmail's 102 KB clipping")


def _structure(loaded: IssueFile, rendered: Rendered) -> Iterator[Finding]:
    doc = lxml.html.document_fromstring(rendered.html)
    theme = f"theme '{loaded.newsletter.theme}'"
    if (doc.get("lang") or "").strip() in ("", "und"):
        yield Finding("error", "lang", theme, "the <html> element has no lang attribute; "
                      "screen readers cannot choose a voice")
    hrefs = {a.get("href") for a in doc.iter("a")}
    for placeholder, name in ((ph.UNSUBSCRIBE_URL, "unsubscribe"),
                              (ph.PREFERENCES_URL, "manage-preferences")):
        if placeholder not in hrefs:
            yield Finding("error", f"no-{name}", theme,
                          f"the HTML has no {name} link (href=\"{placeholder}\"); every "
                          "bulk email must offer one")
        if placeholder not in rendered.text:
            yield Finding("error", f"no-{name}", theme,
                          f"the plain-text part has no {name} link ({placeholder})")


def _links_and_images(loaded: IssueFile, html: str) -> Iterator[Finding]:
    doc = lxml.html.document_fromstring(html)
    for img in doc.iter("img"):
        src = img.get("src", "")
        where = _locate(loaded, src)
        if img.get("alt") is None:
            yield Finding("error", "image-alt", where,
                          f"image {src} has no alt text; add alt: to the image")
        if src.startswith("http://"):
            yield Finding("warning", "insecure-image", where,
                          f"image {src} is not https; many clients block or warn")
    for a in doc.iter("a"):
        href = (a.get("href") or "").strip()
        label = " ".join(a.text_content().split())
        where = _locate(loaded, href)
        if href in ("", "#"):
            yield Finding("error", "empty-link", where,
                          f"link '{label}' goes nowhere (href=\"{href}\"); give it a URL")
            continue
        if not label and not any(img.get("alt") for img in a.iter("img")):
            yield Finding("error", "link-text", where,
                          f"link to {href} has no text; screen readers will read the URL")
        elif label.lower().strip(" .!:>»→") in VAGUE_LINK_TEXT:
            yield Finding("warning", "vague-link", where,
                          f"link text '{label}' says nothing out of context ({href}); "
                          "describe where it goes")
        if href.startswith("http://"):
            yield Finding("warning", "insecure-link", where, f"link {href} is not https")


def _headers(loaded: IssueFile, rendered: Rendered) -> Iterator[Finding]:
    if len(rendered.subject) > SUBJECT_MAX:
        yield Finding("warning", "subject-length", loaded.where(("subject",)),
                      f"the subject is {len(rendered.subject)} characters; inboxes cut it "
                      f"off after about {SUBJECT_MAX}")
    if not rendered.subject.strip():
        yield Finding("error", "subject", loaded.where(("subject",)), "the subject is empty")
    if not rendered.preheader.strip():
        yield Finding("warning", "preheader", loaded.where(()),
                      "no preheader: inboxes will show the banner text as the preview; "
                      "add preheader:")


def _leftovers(loaded: IssueFile, html: str, text: str) -> Iterator[Finding]:
    for part, content in (("HTML", html), ("plain-text", text)):
        for name in ph.unknown(content):
            yield Finding("error", "placeholder", _locate(loaded, name),
                          f"the {part} part has the unknown placeholder {name}; known ones are "
                          + ", ".join(f"%%{n}%%" for n in ph.NAMES))
        if re.search(r"\{\{|\{%", content):
            yield Finding("error", "template-syntax", str(loaded.path),
                          f"the {part} part has template syntax ({{{{ or {{%) left in it")


def _locate(loaded: IssueFile, needle: str) -> str:
    """file:line of the first issue value containing `needle`, else the file itself."""
    if needle:
        for loc, value in _strings(loaded.source.data, ()):
            if needle in value:
                line = loaded.source.line_within(loc, value.index(needle))
                return f"{loaded.path}:{line}"
    return str(loaded.path)


def _strings(data: Any, loc: Loc) -> Iterator[tuple[Loc, str]]:
    if isinstance(data, str):
        yield loc, data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _strings(value, (*loc, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _strings(value, (*loc, index))
