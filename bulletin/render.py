"""Render: MJML to HTML (mjml-python), CSS inlined (premailer), beside the plain text.

Runs once per issue and language; per-recipient work is `Rendered.personalise`.

Importing this module is cheap: the rendering stack (Jinja, mjml, premailer with lxml and
cssutils, Babel, markdown-it) is imported when something is first rendered, so that a process
that only holds `Rendered` results (the sender) never loads it. premailer imports requests
(a third of a render's time) only to fetch remote stylesheets, which a render never does
(`allow_network=False`), and cssutils to read CSS: it gets stand-ins that import them on
first use instead (`_import_premailer`). The theme's rules are kept in the user's cache
(`_kept_rules`) and declarations are read without cssutils (bulletin.cssdeclarations, the
same answers), so that a render with the bundled theme uses neither."""

from __future__ import annotations

import importlib
import logging
import re
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from . import placeholders as ph
from .errors import RenderError

if TYPE_CHECKING:
    from premailer import Premailer

    from .images import MediaFile
    from .issue import IssueFile
    from .settings import Workspace

_DOCTYPE = re.compile(r"^\s*(<!doctype[^>]*>)", re.IGNORECASE)
_STYLE_TAG = re.compile(r"<style(?=[\s>])", re.IGNORECASE)
_IGNORED_STYLE = '<style data-premailer="ignore"'
# An at-keyword as cssutils reads it: its escapes undone (@\69mport is @import).
_AT_KEYWORD = re.compile(r"@((?:[\w-]|\\(?:[0-9A-Fa-f]{1,6}(?:\r\n|[ \t\r\n\f])?|[^\r\n\f]))+)")
_ESCAPE = re.compile(r"\\(?:([0-9A-Fa-f]{1,6})(?:\r\n|[ \t\r\n\f])?|([^\r\n\f]))")
# premailer would rewrite these presentational attributes from the inlined CSS (width on
# images, for one); MJML already wrote the ones it wants.
_KEEP_ATTRIBUTES = ["width", "height", "align", "bgcolor", "valign", "background"]


@dataclass(frozen=True)
class Rendered:
    """One issue in one language, ready for per-recipient substitution."""

    newsletter: str
    issue: str
    language: str  # the first: the <html lang>
    languages: tuple[str, ...]
    subject: str
    preheader: str
    html: str
    text: str
    media: tuple[MediaFile, ...] = ()
    """The processed local images the HTML shows (images.py), to publish before sending."""

    def personalise(self, values: dict[str, str]) -> tuple[str, str]:
        """(html, text) with the recipient's values in place of the placeholders."""
        return (ph.fill(self.html, values, html_escape=True), ph.fill(self.text, values))


def compile_mjml(source: str) -> str:
    """MJML to HTML. Fonts are passed explicitly (none) so nothing links Google Fonts."""
    import mjml

    from .compose import MJML_TEMPLATE

    try:
        return mjml.mjml2html(source, fonts={}, disable_comments=True)
    except ValueError as exc:
        raise RenderError(f"{MJML_TEMPLATE} produced MJML that does not compile: "
                          f"{_with_line(str(exc), source)}") from None


def _with_line(message: str, source: str) -> str:
    """mjml-python reports byte offsets; say the line of the generated MJML instead."""
    match = re.search(r"position (\d+)|at (\d+)", message)
    if not match:
        return message
    offset = int(match.group(1) or match.group(2))
    line = source.encode()[:offset].count(b"\n") + 1
    return f"{message} (line {line} of the generated MJML)"


_ParsedRules = tuple[list[tuple[tuple[int, ...], str, str]], list[object]]
"""premailer's rules from one CSS text: (specificity, selector, declarations) to inline, and
the rules left over (media queries, pseudo-classes)."""


class _OnFirstUse(types.ModuleType):
    """Stands for the module of its name until one of its attributes is used, then imports
    the real one and hands that attribute over."""

    def __getattr__(self, name: str) -> Any:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), name)


_NOT_IMPORTED = ("requests", "cssutils")
"""What premailer imports and a render does not need: requests (only to fetch remote
stylesheets, which a render never does) and cssutils (the theme's rules come from the
cache, `_kept_rules`, and the declarations from bulletin.cssdeclarations; cssutils is asked
only about what those cannot answer)."""


def _import_premailer() -> None:
    """premailer, without importing requests or cssutils: while premailer is imported, each
    of them not imported yet is a stand-in in sys.modules (`_OnFirstUse`), taken out again at
    once, so premailer alone holds it (and imports the real module only when it first uses
    it) while any other import gets the real module."""
    if "premailer.premailer" in sys.modules:
        return
    stand_ins = {name: _OnFirstUse(name) for name in _NOT_IMPORTED if name not in sys.modules}
    sys.modules.update(stand_ins)
    try:
        importlib.import_module("premailer")
    finally:
        for name, stand_in in stand_ins.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]


def _cssutils_quiet() -> None:
    """cssutils as premailer was told to have it before it is used: reporting nothing below
    CRITICAL (a theme's CSS mistakes are its own business, not log lines on every render)."""
    importlib.import_module("cssutils").log.setLevel(logging.CRITICAL)


def _read_declarations(original: Callable[..., list[tuple[str, str]]]
                       ) -> Callable[..., list[tuple[str, str]]]:
    """premailer's csstext_to_pairs, answered by bulletin.cssdeclarations (the same answers,
    without cssutils) where it can, else by cssutils as `original`'s body reads it (under its
    lock), kept here rather than in premailer's cache: that one cache holds what each of
    premailer's functions answered, keyed by the arguments alone, so a style attribute with
    the text of a style sheet or a selector read before was answered with that."""
    from .cssdeclarations import pairs

    lock = original._lock  # type: ignore[attr-defined]

    @lru_cache(maxsize=1024)
    def with_cssutils(csstext: str, validate: bool) -> list[tuple[str, str]]:
        _cssutils_quiet()
        cssutils = importlib.import_module("cssutils")
        format_value = importlib.import_module("premailer.merge_style").format_value
        with lock:
            return [(prop.name.strip(), format_value(prop))
                    for prop in cssutils.parseStyle(csstext, validate=validate)]

    def csstext_to_pairs(csstext: str, validate: bool = True) -> list[tuple[str, str]]:
        read = pairs(csstext)
        return with_cssutils(csstext, validate) if read is None else read

    csstext_to_pairs._lock = lock  # type: ignore[attr-defined]  # as the original has it
    csstext_to_pairs.original = original  # type: ignore[attr-defined]  # for the tests
    return csstext_to_pairs


_KEPT = "rules 2"
"""What an entry of the cache's css folder holds, in its key: another version's entries (which
may hold something else) are not read as this one's."""


def _kept_rules(inliner: Premailer, css_body: str, ruleset_index: int,
                parse: Callable[[], _ParsedRules]) -> _ParsedRules:
    """What `parse` makes of the theme's CSS, kept in the user's cache (bulletin.usercache)
    under a digest of the CSS, the options that change the rules, and premailer's and
    cssutils' versions: the theme's CSS is the same for every issue, and reading it is the
    one thing a render needs all of cssutils for. Kept only when nothing is left over but
    pseudo-class rules (premailer's leftover media rules are cssutils objects). An entry that
    is not such rules is made again."""
    import json
    from importlib.util import find_spec

    import premailer

    from .usercache import kept

    spec = find_spec("cssutils")  # its files' times and sizes stand for its version
    origin = Path(spec.origin) if spec is not None and spec.origin else None
    stat = origin.stat() if origin is not None else None
    options = (_KEPT, css_body, ruleset_index, inliner.strip_important,
               inliner.exclude_pseudoclasses, inliner.include_star_selectors,
               inliner.disable_validation, premailer.__version__, str(origin),
               stat and (stat.st_mtime_ns, stat.st_size))

    def make() -> bytes | None:
        rules, leftover = parse()
        if not all(isinstance(item, tuple) for item in leftover):
            return None
        return json.dumps([rules, leftover]).encode()

    def read(data: bytes) -> _ParsedRules | None:
        try:
            rules, leftover = json.loads(data)
            pseudo: list[object] = [(_text(selector), _text(bulk))
                                    for selector, bulk in leftover]
            return ([(_specificity(specificity), _text(selector), _text(bulk))
                     for specificity, selector, bulk in rules], pseudo)
        except (ValueError, TypeError, RecursionError):
            return None  # not rules this version keeps: made again

    found = kept("css", repr(options).encode(), make, read)
    return parse() if found is None else found


def _specificity(value: object) -> tuple[int, ...]:
    if not isinstance(value, list) or not value \
            or not all(type(number) is int for number in value):
        raise ValueError("not a specificity")
    return tuple(value)


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("not text")
    return value


@cache
def _inliner() -> type[Premailer]:
    """premailer, remembering the rules it parsed from a CSS text (in this process, and in
    the user's cache: `_kept_rules`), and reading declarations without cssutils where
    bulletin.cssdeclarations can (`_read_declarations`)."""
    _import_premailer()
    import premailer
    import premailer.merge_style
    import premailer.premailer

    read = _read_declarations(premailer.merge_style.csstext_to_pairs)
    premailer.merge_style.csstext_to_pairs = premailer.premailer.csstext_to_pairs = read

    class Inliner(premailer.Premailer):
        _rules: ClassVar[dict[tuple[str, int, bool], _ParsedRules]] = {}

        def _parse_style_rules(self, css_body: str, ruleset_index: int) -> _ParsedRules:
            key = (css_body, ruleset_index, self.strip_important)
            cached = self._rules.get(key)
            if cached is None:
                if len(self._rules) > 64:
                    self._rules.clear()

                def parse() -> _ParsedRules:
                    _cssutils_quiet()
                    return super(Inliner, self)._parse_style_rules(css_body, ruleset_index)

                cached = self._rules[key] = _kept_rules(self, css_body, ruleset_index, parse)
            return cached

    return Inliner


def inline_css(html: str, css: str) -> str:
    """Inline `css` into style attributes without damaging MJML's output: the doctype, its
    style tags (media queries with !important) and Outlook conditional comments are kept,
    image widths and links are left alone, and nothing is fetched."""
    from lxml import etree

    from .compose import CSS_TEMPLATE

    if _imports(css):
        # cssutils would fetch it, whatever premailer's allow_network says.
        raise RenderError(f"{CSS_TEMPLATE}: @import is not allowed; nothing is fetched at "
                          "render time, so put the rules in the file itself")
    doctype = _DOCTYPE.match(html)
    # MJML's own style blocks (resets, media queries) stay as they are, not inlined.
    marked = _STYLE_TAG.sub(_IGNORED_STYLE, html)
    inliner = _inliner()(
        css_text=[css] if css.strip() else None,
        keep_style_tags=True,
        strip_important=False,
        remove_classes=False,
        disable_basic_attributes=_KEEP_ATTRIBUTES,
        disable_link_rewrites=True,
        allow_network=False,
        allow_loading_external_files=False,
        exclude_pseudoclasses=True,
        disable_leftover_css=True,
        align_floating_images=False,
    )  # cssutils reports nothing below CRITICAL: see _cssutils_quiet
    try:
        out = inliner.transform(marked, pretty_print=False)
    except (etree.LxmlError, ValueError) as exc:
        raise RenderError(f"inlining CSS failed: {exc}") from None
    # Style blocks inside Outlook's conditional comments are invisible to premailer.
    out = out.replace(_IGNORED_STYLE, "<style")
    return (doctype.group(1) if doctype else "<!doctype html>") + "\n" + out


def _imports(css: str) -> bool:
    """Whether `css` has an @import, however written (anywhere: in a comment or a string
    too, to be sure)."""
    return any(_ESCAPE.sub(_unescaped, keyword.group(1)).lower() == "import"
               for keyword in _AT_KEYWORD.finditer(css))


def _unescaped(escape: re.Match[str]) -> str:
    if escape.group(2) is not None:
        return escape.group(2)
    code = int(escape.group(1), 16)
    return chr(code) if 0 < code <= 0x10FFFF else "\ufffd"


def editions(loaded: IssueFile) -> list[tuple[str, ...]]:
    """The emails one issue is sent as: one per language when each subscriber gets their
    own, else one carrying every language."""
    newsletter = loaded.newsletter
    if newsletter.delivery == "each" or len(newsletter.languages) == 1:
        return [(language,) for language in newsletter.languages]
    return [tuple(newsletter.languages)]


def render(loaded: IssueFile, workspace: Workspace, language: str | None = None) -> Rendered:
    """The whole pipeline for one issue: compose, compile, inline; and the text part.
    In `language` alone, else the newsletter's first edition (see `editions`)."""
    newsletter = loaded.newsletter
    if language is not None and language not in newsletter.languages:
        from .fields import language_code_error

        named = language_code_error(language)
        hint = f" ({named})" if "language name" in named else ""
        raise RenderError(f"newsletter '{loaded.issue.newsletter}' is not published in "
                          f"'{language}'{hint}; choose one of "
                          f"{', '.join(newsletter.languages)}")
    return render_edition(loaded, workspace, (language,) if language else editions(loaded)[0])


def render_edition(loaded: IssueFile, workspace: Workspace,
                   languages: tuple[str, ...]) -> Rendered:
    from .compose import compose
    from .imagelayout import fit
    from .images import prepare

    newsletter = loaded.newsletter
    mode = newsletter.delivery if len(languages) > 1 else "single"
    images = prepare(loaded, workspace)
    composed = compose(loaded, workspace.theme_dir(newsletter),
                       workspace.settings.base_url, languages, mode, images)
    fitted, media = fit(compile_mjml(composed.mjml), images)  # heights and files as shown
    html = inline_css(fitted, composed.css)
    return Rendered(newsletter=loaded.issue.newsletter, issue=loaded.slug,
                    language=languages[0], languages=languages, subject=composed.subject,
                    preheader=composed.preheader, html=html, text=composed.text,
                    media=media)
