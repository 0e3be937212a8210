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
from .issue import IssueFile
from .markdown import to_html_and_text, wrap

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
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(theme_dir),
        autoescape=jinja2.select_autoescape(enabled_extensions=("mjml.j2",),
                                            default_for_string=False, default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["wrap"] = wrap
    return env


def compose(loaded: IssueFile, theme_dir: Path, base_url: str, language: str) -> Composed:
    """Render the theme's three templates for one issue in one language."""
    context = _context(loaded, base_url, language)
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


def _context(loaded: IssueFile, base_url: str, language: str) -> dict[str, Any]:
    issue, newsletter = loaded.issue, loaded.newsletter

    def t(value: str | dict[str, str] | None) -> str:
        return in_language(value, language)

    sections = []
    for section in issue.sections:
        body_html, body_text = to_html_and_text(t(section.body))
        image = section.image
        sections.append({
            "heading": t(section.heading),
            "body_html": body_html,
            "body_text": body_text,
            "image": image and {"src": image.src, "alt": t(image.alt) if image.alt is not None
                                else None, "width": image.width, "href": image.href},
            "button": section.button and {"text": t(section.button.text),
                                          "url": section.button.url},
            "style": section.style,
            "divider": section.divider,
        })
    brand = newsletter.brand
    about = newsletter.about
    subject = t(issue.subject)
    date = format_date(issue.date, "MMMM y", locale=language)
    return {
        "lang": language,
        "subject": subject,
        "title": t(issue.title) or subject,
        "preheader": t(issue.preheader),
        "number": issue.number,
        "date": date,
        "sections": sections,
        "newsletter": {"name": t(newsletter.name), "organisation": t(newsletter.organisation),
                       "postal_address": t(newsletter.postal_address)},
        "brand": {"banner": t(brand.banner), "colours": brand.colours.model_dump(),
                  "logo": brand.logo and {"src": brand.logo.src, "alt": t(brand.logo.alt),
                                          "width": brand.logo.width, "href": brand.logo.href}},
        "about": about and dict(zip(("heading", "body_html", "body_text"),
                                    (t(about.heading), *to_html_and_text(t(about.body))),
                                    strict=True)),
        "social": [{"label": t(s.label), "text": t(s.text), "url": s.url}
                   for s in newsletter.social],
        "footer_links": [{"text": text, "url": url} for text, url in (
            ("Privacy Policy", newsletter.footer.privacy),
            ("Cookie Statement", newsletter.footer.cookies),
            ("Help", newsletter.footer.help)) if url],
        "urls": {
            "unsubscribe": ph.UNSUBSCRIBE_URL,
            "preferences": ph.PREFERENCES_URL,
            "view": links.archive_url(base_url, issue.newsletter, loaded.slug),
            "subscribe": links.subscribe_url(base_url, issue.newsletter),
        },
        "recipient": ph.EMAIL,
    }
