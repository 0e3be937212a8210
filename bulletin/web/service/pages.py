"""The subscriber pages: Jinja templates in `templates/web/pages/`, in the newsletter's brand
(banner, logo, colours from bulletin.toml) and language, with the words translated by the
gettext catalogues in `templates/web/locale/`.

A page's language is the first of: `?lang=` (when the newsletter has it), the subscriber's
language, the newsletter's first language. What a page shows comes as a typed view
(views.py), in the frame every page wears (`Pages.frame`)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import jinja2
from babel.dates import format_date

from ... import links
from ...fields import in_language
from ...i18n import Gettext, gettext_for, language_name
from ...images import banner_logo
from ...settings import BUNDLED_TEMPLATES, Newsletter, Workspace
from .views import Frame, LanguageChoice, Logo, Page, shallow

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
        self.every = tuple(dict.fromkeys(code for newsletter in workspace.settings.newsletters
                                         .values() for code in newsletter.languages))
        """Every language of the service, offered by the pages of no newsletter (home,
        errors), in the brand of the newsletter that is in the one chosen (brand_of)."""
        self.logos = {slug: banner_logo(workspace, slug)
                      for slug in workspace.settings.newsletters}
        """Each newsletter's logo for the dark banner (images.banner_logo)."""

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

    def frame(self, slug: str, language: str, every: bool = False) -> Frame:
        """What every page sees: its language, the brand and the newsletter's words;
        `every`: a page of no newsletter, which offers every language of the service."""
        newsletter = self.workspace.settings.newsletters[slug]
        offered = self.every if every else newsletter.languages
        _ = self.gettext(language)
        brand = newsletter.brand
        shown, plate = self.logos[slug]
        logo = None if brand.logo is None or shown is None else Logo(
            shown.url, brand.logo.width, brand.logo.href,
            self.text(brand.logo.alt, slug, language), plate)
        return Frame(
            lang=language,
            _=_,
            slug=slug,
            name=self.text(newsletter.name, slug, language),
            organisation=self.text(newsletter.organisation, slug, language),
            postal_address=self.text(newsletter.postal_address, slug, language),
            banner=self.text(brand.banner, slug, language),
            colours=brand.colours.model_dump(),
            logo=logo,
            footer_links=links.footer_links(newsletter.footer, _),
            languages=[LanguageChoice(code, language_name(code), code == language)
                       for code in offered] if len(offered) > 1 else [],
            date=lambda value: self.date(value, language),
        )

    def date(self, value: date | datetime, language: str) -> str:
        day = value.date() if isinstance(value, datetime) else value
        return format_date(day, "d MMMM y", locale=language)

    def render(self, page: Page, slug: str, language: str, every: bool = False) -> str:
        context = shallow(self.frame(slug, language, every))
        context.update(page.values())
        return self.env.get_template(f"pages/{page.template}").render(context)
