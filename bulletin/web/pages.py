"""The subscriber pages: Jinja templates in `templates/web/pages/`, in the newsletter's brand
(banner, logo, colours from bulletin.toml) and language, with the words translated by the
gettext catalogues in `templates/web/locale/`.

A page's language is the first of: `?lang=` (when the newsletter has it), the subscriber's
language, the newsletter's first language."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import jinja2
from babel.dates import format_date

from ..fields import in_language
from ..i18n import Gettext, gettext_for, language_name
from ..settings import BUNDLED_TEMPLATES, Newsletter, Workspace

PACKAGE_WEB = BUNDLED_TEMPLATES / "web"


def web_directory(workspace: Workspace) -> Path:
    """The workspace's own templates/web when it has pages, else the bundled ones."""
    own = workspace.root / "templates" / "web"
    return own if (own / "pages").is_dir() else PACKAGE_WEB


class Pages:
    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.directory = web_directory(workspace)
        self.catalogues = self.directory / "locale"
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(self.directory), autoescape=True,
            undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.default = next(iter(workspace.settings.newsletters))

    def newsletter(self, slug: str) -> Newsletter | None:
        return self.workspace.settings.newsletters.get(slug)

    def language(self, slug: str, *wanted: str | None) -> str:
        """The first of `wanted` that the newsletter is written in, else its first."""
        newsletter = self.workspace.settings.newsletters[slug]
        for language in wanted:
            if language and language in newsletter.languages:
                return language
        return newsletter.languages[0]

    def gettext(self, language: str) -> Gettext:
        return gettext_for(self.catalogues, language)

    def text(self, value: str | dict[str, str] | None, slug: str, language: str) -> str:
        """A prose setting of the newsletter in `language`, else in its first language."""
        if isinstance(value, dict) and language not in value:
            language = self.workspace.settings.newsletters[slug].languages[0]
        return in_language(value, language)

    def context(self, slug: str, language: str) -> dict[str, Any]:
        """What every page sees: its language, the brand and the newsletter's words."""
        newsletter = self.workspace.settings.newsletters[slug]
        _ = self.gettext(language)
        brand = newsletter.brand
        logo = brand.logo and {"src": brand.logo.src, "width": brand.logo.width,
                               "href": brand.logo.href,
                               "alt": self.text(brand.logo.alt, slug, language)}
        footer = newsletter.footer
        return {
            "lang": language,
            "_": _,
            "slug": slug,
            "name": self.text(newsletter.name, slug, language),
            "organisation": self.text(newsletter.organisation, slug, language),
            "postal_address": self.text(newsletter.postal_address, slug, language),
            "banner": self.text(brand.banner, slug, language),
            "colours": brand.colours.model_dump(),
            "logo": logo,
            "footer_links": [{"text": _(text), "url": url} for text, url in (
                ("Privacy Policy", footer.privacy), ("Cookie Statement", footer.cookies),
                ("Help", footer.help)) if url],
            "languages": [{"code": code, "name": language_name(code),
                           "current": code == language}
                          for code in newsletter.languages] if len(newsletter.languages) > 1
            else [],
            "date": lambda value: self.date(value, language),
        }

    def date(self, value: date | datetime, language: str) -> str:
        day = value.date() if isinstance(value, datetime) else value
        return format_date(day, "d MMMM y", locale=language)

    def render(self, template: str, slug: str, language: str, **values: Any) -> str:
        context = self.context(slug, language)
        context.update(values)
        return self.env.get_template(f"pages/{template}").render(context)
