"""Compose: the issue and its newsletter's settings, through the theme's Jinja templates,
into MJML, plain text and the CSS to inline. Pure: text in, text out."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from babel.dates import format_date

from . import links
from . import placeholders as ph
from .errors import RenderError
from .fields import in_language
from .i18n import gettext_for, language_name
from .images import Images
from .issue import IssueFile
from .markdown import to_html_and_text, wrap
from .templatecache import template_cache

MJML_TEMPLATE = "email.mjml.j2"
TEXT_TEMPLATE = "email.txt.j2"
CSS_TEMPLATE = "inline.css.j2"


@dataclass(frozen=True)
class Composed:
    mjml: str
    text: str
    css: str
    subject: str
    preheader: str


@cache
def environment(theme_dir: Path) -> jinja2.Environment:
    """The theme's templates, compiled once per user (bulletin.usercache) until they change."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(theme_dir),
        autoescape=jinja2.select_autoescape(enabled_extensions=("mjml.j2",),
                                            default_for_string=False, default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.bytecode_cache = template_cache(env, "autoescaped: *.mjml.j2")
    env.filters["wrap"] = wrap
    return env


MODES = ("single", "bilingual", "side-by-side")


def compose(loaded: IssueFile, theme_dir: Path, base_url: str,
            languages: tuple[str, ...] | str, mode: str = "single",
            images: Images | None = None) -> Composed:
    """Render the theme's three templates for one issue: in one language ("single"), or in
    several, one after the other ("bilingual") or side by side on wide screens. Local
    images are shown as `images` placed them (images.prepare)."""
    if isinstance(languages, str):
        languages = (languages,)
    if mode not in MODES:
        raise RenderError(f"unknown delivery mode '{mode}'; choose one of {', '.join(MODES)}")
    context = _context(loaded, base_url, languages, mode if len(languages) > 1 else "single",
                       theme_dir / "locale", images or Images())
    env = environment(theme_dir)
    out = {}
    for name in (MJML_TEMPLATE, TEXT_TEMPLATE, CSS_TEMPLATE):
        try:
            out[name] = env.get_template(name).render(context)
        except jinja2.TemplateSyntaxError as exc:
            raise RenderError(f"{exc.filename or theme_dir / name}:{exc.lineno}: template "
                              f"error: {exc.message}") from None
        except jinja2.TemplateNotFound:
            raise RenderError(f"{theme_dir / name}: missing from the theme") from None
        except Exception as exc:  # a theme's template is user code: any failure is theirs
            raise RenderError(f"{theme_dir / name}:{_template_line(exc, name)}: template "
                              f"error: {type(exc).__name__ if not str(exc) else exc}") from None
    return Composed(out[MJML_TEMPLATE], out[TEXT_TEMPLATE], out[CSS_TEMPLATE],
                    context["subject"], context["preheader"])


def _template_line(exc: Exception, name: str) -> int | str:
    tb = exc.__traceback__
    line: int | str = "?"
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(name):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _context(loaded: IssueFile, base_url: str, languages: tuple[str, ...], mode: str,
             catalogues: Path, images: Images) -> dict[str, Any]:
    """What the templates see: one block of text per language, in the order they appear,
    and the parts every language shares."""
    newsletter = loaded.newsletter
    one_of_several = len(newsletter.languages) > 1 and len(languages) == 1
    view = links.archive_url(base_url, loaded.issue.newsletter, loaded.slug,
                             languages[0] if one_of_several else None)
    blocks = [_block(loaded, language, catalogues, images) for language in languages]
    gettexts = [block["_"] for block in blocks]

    def every(message: str) -> str:
        """`message` in every language of this email, joined: "Unsubscribe / Dad-danysgrifio"."""
        return " / ".join(dict.fromkeys(g(message) for g in gettexts))

    def joined(key: str, sep: str = " / ") -> str:
        return sep.join(dict.fromkeys(str(block[key]) for block in blocks if block[key]))

    brand = newsletter.brand
    return {
        "lang": languages[0],
        "mode": mode,
        "blocks": blocks,
        "subject": joined("subject"),
        "preheader": joined("preheader", " | "),
        "every": every,
        "brand": {"banner": joined("banner"), "colours": brand.colours.model_dump(),
                  "logo": brand.logo and {
                      "src": images.logo.url if images.logo else brand.logo.src,
                      "dark_src": images.logo_dark.url if images.logo_dark
                      else brand.logo.dark_src,
                      "alt": joined("logo_alt"), "width": brand.logo.width,
                      "height": images.logo.height if images.logo else None,
                      "href": brand.logo.href}},
        "newsletter": {"organisation": joined("organisation"), "name": joined("name"),
                       "postal_address": joined("postal_address", "\n")},
        "footer_links": links.footer_links(newsletter.footer, every),
        "urls": {
            "unsubscribe": ph.UNSUBSCRIBE_URL,
            "preferences": ph.PREFERENCES_URL,
            "view": view,
            "subscribe": links.subscribe_url(base_url, loaded.issue.newsletter),
        },
        "recipient": ph.EMAIL,
    }


def _block(loaded: IssueFile, language: str, catalogues: Path,
           images: Images) -> dict[str, Any]:
    """Everything in one language: the issue's text and the theme's translated words."""
    issue, newsletter = loaded.issue, loaded.newsletter
    _ = gettext_for(catalogues, language)

    def t(value: str | dict[str, str] | None) -> str:
        return in_language(value, language)

    sections = []
    for index, section in enumerate(issue.sections):
        body_html, body_text = to_html_and_text(t(section.body))
        image = section.image
        placed = images.sections.get(index)
        sections.append({
            "heading": t(section.heading),
            "body_html": body_html,
            "body_text": body_text,
            "image": image and {"src": placed.url if placed else image.src,
                                "alt": t(image.alt) if image.alt is not None else None,
                                "width": placed.width if placed else image.width,
                                "height": placed.height if placed else None,
                                "href": image.href},
            "button": section.button and {"text": t(section.button.text),
                                          "url": section.button.url},
            "style": section.style,
            "divider": section.divider,
        })
    about = newsletter.about
    subject = t(issue.subject)
    date = format_date(issue.date, "MMMM y", locale=language)
    dateline = (_("Issue %(number)s - %(date)s") % {"number": issue.number, "date": date}
                if issue.number is not None else date)
    english = language_name(language, "en")
    return {
        "lang": language,
        "_": _,
        "anchor": f"lang-{language}",
        # The link that jumps to this block, in this block's language.
        "jump": _(f"Scroll down for {english}"),
        "language_name": language_name(language),
        "subject": subject,
        "title": t(issue.title) or subject,
        "preheader": t(issue.preheader),
        "dateline": dateline,
        "sections": sections,
        "banner": t(newsletter.brand.banner),
        "logo_alt": t(newsletter.brand.logo.alt) if newsletter.brand.logo else "",
        "name": t(newsletter.name),
        "organisation": t(newsletter.organisation),
        "postal_address": t(newsletter.postal_address),
        "about": about and dict(zip(("heading", "body_html", "body_text"),
                                    (t(about.heading), *to_html_and_text(t(about.body))),
                                    strict=True)),
        "social": [{"label": t(s.label), "text": t(s.text), "url": s.url}
                   for s in newsletter.social],
    }
