"""Render: MJML to HTML (mjml-python), CSS inlined (premailer), beside the plain text.

Runs once per issue and language; per-recipient work is `Rendered.personalise`.

Importing this module is cheap: the rendering stack (Jinja, mjml, premailer with lxml and
cssutils, Babel, markdown-it) is imported when something is first rendered, so that a process
that only holds `Rendered` results (the sender) never loads it. premailer imports requests
(a third of a render's time) only to fetch remote stylesheets, which a render never does
(`allow_network=False`): it gets a stand-in that imports requests on first use instead
(`_import_premailer`)."""

from __future__ import annotations

import importlib
import logging
import re
import sys
import types
from dataclasses import dataclass
from functools import cache
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
_IMPORT = re.compile(r"@import\b", re.IGNORECASE)
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


def _import_premailer() -> None:
    """premailer, without importing requests: while premailer is imported, `requests` in
    sys.modules is a stand-in (`_OnFirstUse`), taken out again at once, so premailer alone
    holds it (and imports requests only if it ever fetches) while any other `import requests`
    gets the real module. Not when requests is already imported: then there is nothing to
    save."""
    if "requests" in sys.modules or "premailer.premailer" in sys.modules:
        return
    stand_in = sys.modules["requests"] = _OnFirstUse("requests")
    try:
        importlib.import_module("premailer")
    finally:
        if sys.modules.get("requests") is stand_in:
            del sys.modules["requests"]


@cache
def _inliner() -> type[Premailer]:
    """premailer, remembering the rules it parsed from a CSS text: the theme's CSS is the same
    for every issue, and turning it into rules was most of premailer's time."""
    _import_premailer()
    import premailer

    class Inliner(premailer.Premailer):
        _rules: ClassVar[dict[tuple[str, int, bool], _ParsedRules]] = {}

        def _parse_style_rules(self, css_body: str, ruleset_index: int) -> _ParsedRules:
            key = (css_body, ruleset_index, self.strip_important)
            cached = self._rules.get(key)
            if cached is None:
                if len(self._rules) > 64:
                    self._rules.clear()
                cached = self._rules[key] = super()._parse_style_rules(css_body,
                                                                        ruleset_index)
            return cached

    return Inliner


def inline_css(html: str, css: str) -> str:
    """Inline `css` into style attributes without damaging MJML's output: the doctype, its
    style tags (media queries with !important) and Outlook conditional comments are kept,
    image widths and links are left alone, and nothing is fetched."""
    from lxml import etree

    from .compose import CSS_TEMPLATE

    if _IMPORT.search(css):
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
        cssutils_logging_level=logging.CRITICAL,
    )
    try:
        out = inliner.transform(marked, pretty_print=False)
    except (etree.LxmlError, ValueError) as exc:
        raise RenderError(f"inlining CSS failed: {exc}") from None
    # Style blocks inside Outlook's conditional comments are invisible to premailer.
    out = out.replace(_IGNORED_STYLE, "<style")
    return (doctype.group(1) if doctype else "<!doctype html>") + "\n" + out


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
    composed = compose(loaded, workspace.theme_dir(newsletter.theme),
                       workspace.settings.base_url, languages, mode, images)
    fitted, media = fit(compile_mjml(composed.mjml), images)  # heights and files as shown
    html = inline_css(fitted, composed.css)
    return Rendered(newsletter=loaded.issue.newsletter, issue=loaded.slug,
                    language=languages[0], languages=languages, subject=composed.subject,
                    preheader=composed.preheader, html=html, text=composed.text,
                    media=media)
