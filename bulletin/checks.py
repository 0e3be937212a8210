"""Pre-send checks on a rendered issue: size, accessibility, links, headers, placeholders."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, Literal
from urllib.parse import urlsplit

import lxml.html

from . import parity
from . import placeholders as ph
from .imagechecks import check_images
from .issue import IssueFile
from .markdown import refused_scheme
from .render import Rendered
from .textchars import LINE_BREAK
from .yamlsource import Loc, dotted

SCHEMES = ("http", "https", "mailto", "tel")
_ADDRESS = re.compile(r"^[^@\s/:]+@[^@\s/]+\.[^@\s/]+$")
_HOST = re.compile(r"^(?:www\.)?[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?:[/?#:]|$)")
# A Markdown link markdown-it could not read (a space in the URL, say): its brackets reach
# the reader as they were typed.
_UNREAD_LINK = re.compile(r"\[([^\]\n]+)\]\(([^)\n]*)\)")
_HTML_TAG = re.compile(
    r"</?(?:a|b|i|u|s|em|strong|br|p|span|div|font|center|small|big|sup|sub|h[1-6]|ul|ol|"
    r"li|table|tr|td|th|hr|img|blockquote|del|ins|mark|style|script|iframe)\b[^<>]*/?>",
    re.IGNORECASE)

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


def check(loaded: IssueFile, rendered: Rendered, html: str, text: str,
          fetch_images: bool = False) -> list[Finding]:
    """Every finding for one rendered issue. `html` and `text` are its parts with the
    placeholders filled as a real recipient's would be, so sizes and leftovers are measured
    on what is sent. With `fetch_images`, remote images are fetched to measure them."""
    workspace = loaded.workspace
    budget = workspace.settings.media.budget if workspace is not None else 1_000_000
    return list(dict.fromkeys([  # each once: a bilingual email shows the footer twice
        *_size(loaded, html), *_structure(loaded, rendered),
        *_links_and_images(loaded, html), *_headers(loaded, rendered),
        *_subject_line_break(loaded, rendered), *_dropped_comments(loaded),
        *_leftovers(loaded, html, text),
        *(Finding(*found) for found in parity.check(loaded)),
        *(Finding(*found) for found in check_images(loaded, rendered, budget, fetch_images))]))


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == "error"]


def _size(loaded: IssueFile, html: str) -> Iterator[Finding]:
    size = len(html.encode())
    where = loaded.where(())
    if size > GMAIL_CLIP_BYTES:
        yield Finding("error", "size", where,
                      f"the HTML is {size / 1024:.0f} KB; Gmail clips messages over 102 KB "
                      "and hides the unsubscribe link: shorten the issue or split it")
    elif size > GMAIL_CLIP_BYTES * 0.85:
        yield Finding("warning", "size", where,
                      f"the HTML is {size / 1024:.0f} KB, close to Gmail's 102 KB clipping")


def _template(loaded: IssueFile, name: str, needle: str) -> str:
    """`template:LINE` of the theme's first line holding `needle` (else its line 1)."""
    if loaded.workspace is None:
        return f"theme '{loaded.newsletter.theme}': {name}:1"
    from .errors import SettingsError

    try:
        path = loaded.workspace.theme_dir(loaded.newsletter) / name
        text = path.read_text(encoding="utf-8")
    except (SettingsError, OSError):
        return f"theme '{loaded.newsletter.theme}': {name}:1"
    at = text.find(needle)
    return f"{path}:{text[:at].count(chr(10)) + 1 if at >= 0 else 1}"


def _structure(loaded: IssueFile, rendered: Rendered) -> Iterator[Finding]:
    from .compose import MJML_TEMPLATE, TEXT_TEMPLATE

    doc = lxml.html.document_fromstring(rendered.html)
    if (doc.get("lang") or "").strip() in ("", "und"):
        yield Finding("error", "lang", _template(loaded, MJML_TEMPLATE, "<mjml"),
                      "the <html> element has no lang attribute (<mjml lang=\"...\">); "
                      "screen readers cannot choose a voice")
    hrefs = {a.get("href") for a in doc.iter("a")}
    for placeholder, name in ((ph.UNSUBSCRIBE_URL, "unsubscribe"),
                              (ph.PREFERENCES_URL, "manage-preferences")):
        if placeholder not in hrefs:
            yield Finding("error", f"no-{name}", _template(loaded, MJML_TEMPLATE, "<mj-body"),
                          f"the HTML has no {name} link (href=\"{placeholder}\"); every "
                          "bulk email must offer one")
        if placeholder not in rendered.text:
            yield Finding("error", f"no-{name}", _template(loaded, TEXT_TEMPLATE, "{"),
                          f"the plain-text part has no {name} link ({placeholder})")


def _links_and_images(loaded: IssueFile, html: str) -> Iterator[Finding]:
    doc = lxml.html.document_fromstring(html)
    for img in doc.iter("img"):
        src = img.get("src", "")
        where = _locate(loaded, src)
        if img.get("alt") is None:
            yield Finding("error", "image-alt", where,
                          f"image {src} has no alt text; add alt: to the image")
        scheme = src.partition(":")[0].lower() if ":" in src else ""
        if scheme == "http":
            yield Finding("warning", "insecure-image", where,
                          f"image {src} is not https; many clients block or warn")
        elif scheme != "https":  # ![alt](chart.png) in a body: never published
            yield Finding("error", "image-source", where,
                          f"image '{_short(src)}' is not a web address, and mail clients "
                          "show images only from https:// addresses; give its https:// "
                          "address, or put it in the section's image: {src: ..., alt: ...}, "
                          "which publishes a file with the issue")
    links: Counter[tuple[str, str]] = Counter()  # the n-th link of a text and URL
    for a in doc.iter("a"):
        if a.get("href") is None and a.get("name"):
            continue  # a jump target (<a name>), not a link
        href = (a.get("href") or "").strip()
        label = " ".join(a.text_content().split())
        nth = links[label, href]
        links[label, href] += 1
        if href in ("", "#"):
            where = _locate(loaded, f"[{a.text_content()}]({href})", f"[{label}]", label,
                            f'"{href}"' if href else "", nth=nth)
            yield Finding("error", "empty-link", where,
                          f"link '{label}' goes nowhere (href=\"{href}\"); give it a URL")
            continue
        where = _locate(loaded, f"[{label}]({href}", f"]({href}", href, nth=nth)
        if not label and not any(img.get("alt") for img in a.iter("img")):
            yield Finding("error", "link-text", where,
                          f"link to {href} has no text; screen readers will read the URL")
        elif label.lower().strip(" .!:>»→") in VAGUE_LINK_TEXT:
            yield Finding("warning", "vague-link", where,
                          f"link text '{label}' says nothing out of context ({href}); "
                          "describe where it goes")
        scheme_fix = _scheme_fix(href)
        if scheme_fix:
            yield Finding("error", "link-scheme", where, f"link '{label}' to '{href}' {scheme_fix}")
        elif href.startswith("http://"):
            yield Finding("warning", "insecure-link", where, f"link {href} is not https")
    yield from _shown_as_typed(loaded, doc)


def _scheme_fix(href: str) -> str | None:
    """What is wrong with a link that no mail client can follow and what to write instead
    ("has no scheme; write https://..."), or None if it can be followed."""
    if ph.PATTERN.match(href):
        return None  # a recipient's value; an unknown one is reported as a placeholder
    if href.startswith("#"):
        return None  # a jump within the email
    scheme = urlsplit(href).scheme.lower() if ":" in href else ""
    if scheme in SCHEMES:
        return None
    if _ADDRESS.match(href):
        return f"has no scheme; write mailto:{href}"
    if _HOST.match(href):
        return f"has no scheme; write https://{href}"
    if scheme:
        return None if scheme in ("sms", "webcal") else _not_allowed(scheme)
    return "has no scheme; write the whole address, starting https://"


def _not_allowed(scheme: str) -> str:
    return (f"uses {scheme}:, which no email may link to; link to an https://, mailto: or "
            "tel: address instead")


def _shown_as_typed(loaded: IssueFile, doc: Any) -> Iterator[Finding]:
    """Text the reader sees as it was typed because it was not understood: a Markdown link
    with a space in its URL, raw HTML (shown as text, never passed into the email)."""
    seen: set[str] = set()
    for element in doc.iter():
        if not isinstance(element.tag, str) or element.tag in ("style", "script"):
            continue
        inside = any(e.tag in ("code", "pre") for e in element.iterancestors())
        for text, in_code in ((element.text, inside or element.tag in ("code", "pre")),
                              (element.tail, inside)):  # the tail follows the element
            if not text:
                continue
            for match in _UNREAD_LINK.finditer(text):
                typed = match.group(0)
                if typed in seen or in_code:
                    continue
                seen.add(typed)
                url = match.group(2)
                where = _locate(loaded, typed, f"[{match.group(1)}](", url)
                scheme = refused_scheme(url)
                if scheme:  # a link the Markdown leaves out: a javascript: one, say
                    yield Finding("error", "link-scheme", where,
                                  f"link '{match.group(1)}' {_not_allowed(scheme)} (as "
                                  "it is, the reader sees the brackets and all)")
                    continue
                why = ("a URL cannot hold a space: write it as %20" if " " in url.strip()
                       else "check the brackets and the URL")
                yield Finding("error", "link-syntax", where,
                              f"'{typed}' is not a link: the reader sees the brackets; {why}")
            for match in _HTML_TAG.finditer(text if not in_code else ""):
                tag = match.group(0)
                name = "<" + tag.lstrip("</").split(">")[0].split()[0].lower()
                if name in seen:
                    continue  # <b> and </b> are one mistake
                seen.add(name)
                yield Finding("warning", "raw-html", _locate(loaded, tag),
                              f"'{tag}' is shown as text, not as formatting: HTML is not "
                              "passed into the email; use Markdown instead (**bold**, "
                              "*italic*, [text](https://...))")


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


def _subject_line_break(loaded: IssueFile, rendered: Rendered) -> Iterator[Finding]:
    """A header is one line: a line break in the subject would end it (or start another).
    Those no email can carry (\\x0b, \\x0c) the loader refuses (textchars)."""
    if LINE_BREAK.search(rendered.subject):
        yield Finding("error", "subject-line-break", loaded.where(("subject",)),
                      "the subject has a line break in it; write it on one line (for a "
                      "long one, `subject: >-` folds the lines into one)")


def _dropped_comments(loaded: IssueFile) -> Iterator[Finding]:
    """`subject: Issue #5` is the subject "Issue": YAML reads ` #5` as a comment after
    unquoted text (yamlsource.Dropped). A comment written as one (`# ` with a space, as the
    starter issue's `title: ...   # optional`) is meant as one, and not told."""
    for loc, dropped in loaded.source.dropped.items():
        if dropped.comment[1:2] in ("", " ", "\t", "#"):
            continue
        value = loaded.source.value_at(loc)
        field = dotted(loc)
        whole = f"{value} {dropped.comment}".replace("\\", "\\\\").replace('"', '\\"')
        key = f"{loc[-1]}:" if loc and isinstance(loc[-1], str) else "-"
        fix = f": {key} \"{whole}\"" if len(whole) <= 60 else ""
        yield Finding("warning", "yaml-comment", f"{loaded.path}:{dropped.line}",
                      f"{field}: '{_short(dropped.comment)}' is a YAML comment (a # after a "
                      f"space ends unquoted text), so it is dropped: {field} reads "
                      f"'{_short(value)}'; if it belongs to the text, put the whole value in "
                      f"quotes{fix}")


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


_WHOLE_TAG = re.compile(r"\{\{[^<>\n]{0,60}?\}\}|\{%[^<>\n]{0,60}?%\}")


def _leftovers(loaded: IssueFile, html: str, text: str) -> Iterator[Finding]:
    in_html: Counter[str] = Counter()
    told: set[tuple[str, str]] = set()
    for part, content in (("HTML", html), ("plain-text", text)):
        for name in ph.unknown(content):
            yield Finding("error", "placeholder", _locate(loaded, name),
                          f"the {part} part has the unknown placeholder {name}; known ones are "
                          + ", ".join(f"%%{n}%%" for n in ph.NAMES))
        # Each leftover at its own line; one the HTML part showed is not told again.
        times: Counter[str] = Counter()  # each excerpt's, and each opening's
        end = 0
        for found in re.finditer(r"\{\{|\{%", content):
            if found.start() < end:
                continue
            shown = _WHOLE_TAG.match(content, found.start())
            excerpt, opening = shown.group(0) if shown else found.group(0), found.group(0)
            end = found.start() + len(excerpt)
            nth, opened = times[f"={excerpt}"], times[opening]
            times.update((f"={excerpt}", opening))
            if part == "HTML":
                in_html[opening] += 1
            elif opened < in_html[opening]:
                continue  # told of the HTML (the text may break it across lines)
            where = _locate(loaded, excerpt, "{{", "{%", nth=nth)
            if (where, excerpt) not in told:  # a subject is in the HTML more than once
                told.add((where, excerpt))
                yield Finding("error", "template-syntax", where,
                              f"the {part} part has template syntax ({{{{ or {{%) left in "
                              f"it: '{excerpt}'")


def _locate(loaded: IssueFile, *needles: str, nth: int = 0) -> str:
    """file:line of the first of `needles` (tried in order) found where it is typed: its
    `nth` occurrence (or its last) in the issue's values, then in the bulletin.toml settings;
    else the issue's first line."""
    for needle in needles:
        if needle:
            # No further than the nth: bulletin.toml's settings are read only if need be.
            places = list(islice(_occurrences(loaded, needle), nth + 1))
            if places:
                return places[-1]
    return f"{loaded.path}:1"


def _occurrences(loaded: IssueFile, needle: str) -> Iterator[str]:
    """file:line of each place `needle` is typed: the issue's, then bulletin.toml's."""
    for loc, value in _strings(loaded.source.data, ()):
        at = value.find(needle)
        while at >= 0:
            yield f"{loaded.path}:{loaded.source.line_within(loc, at)}"
            at = value.find(needle, at + len(needle))
    workspace = loaded.workspace
    if workspace is not None:
        settings = loaded.newsletter.model_dump(by_alias=True, exclude_defaults=True)
        for loc, value in _strings(settings, ("newsletters", loaded.issue.newsletter)):
            yield from [workspace.where(loc)] * value.count(needle)


def _strings(data: Any, loc: Loc) -> Iterator[tuple[Loc, str]]:
    if isinstance(data, str):
        yield loc, data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _strings(value, (*loc, key))
    elif isinstance(data, list | tuple):  # the settings' lists are tuples
        for index, value in enumerate(data):
            yield from _strings(value, (*loc, index))
