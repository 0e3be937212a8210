"""What the subscriber pages show, as typed values: the frame every page wears (`Frame`: its
language, the newsletter's brand and words) and one view per page, each naming its template
in templates/web/pages/. A page's template sees the frame's fields and the view's, by name.

`PageError` is the page for a mistake: raised anywhere a request goes wrong, shown by the
error handlers (errors.py) as a message page with its status."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any, ClassVar

from ...i18n import Gettext
from ...links import Link


@dataclass(frozen=True)
class Logo:
    src: str
    width: int
    href: str | None
    alt: str
    plate: bool = False
    """On a light plate: the banner is dark and the newsletter has no logo for dark ones."""


@dataclass(frozen=True)
class LanguageChoice:
    code: str
    name: str
    """The language's name in itself: Cymraeg."""
    current: bool = False


@dataclass(frozen=True)
class Frame:
    """What every page sees, and the confirmation email's blocks (one per language)."""

    lang: str
    _: Gettext
    slug: str
    name: str
    organisation: str
    postal_address: str
    banner: str
    colours: dict[str, str]
    logo: Logo | None
    footer_links: list[Link]
    languages: list[LanguageChoice]
    """The switcher's choices: empty for a newsletter in one language."""
    date: Callable[[date | datetime], str]
    """A date as the page's language writes it."""


@dataclass
class ListChoice:
    name: str
    title: str
    checked: bool


@dataclass
class Group:
    """One newsletter on the preferences page: its lists and topics."""

    slug: str
    name: str
    lists: list[ListChoice] = field(default_factory=list)


@dataclass(frozen=True)
class Subscription:
    """What the preferences page shows of one subscriber."""

    slug: str
    """The newsletter whose brand the page wears."""
    lang: str
    state: str
    """active, left (unsubscribed) or blocked (suppressed, bounced, complained)."""
    masked: str
    paused_until: datetime | None
    groups: list[Group]
    language_choices: list[LanguageChoice]
    chosen_language: str


def shallow(value: Any) -> dict[str, Any]:
    """A dataclass's fields by name, the values as they are (a template reads their
    attributes)."""
    return {f.name: getattr(value, f.name) for f in fields(value)}


@dataclass(frozen=True)
class Page:
    template: ClassVar[str]
    title: str

    def values(self) -> dict[str, Any]:
        return shallow(self)


@dataclass(frozen=True)
class MessagePage(Page):
    """A title, what happened, what to do; perhaps links onwards."""

    template = "message.html.j2"
    paragraphs: list[str]
    links: list[Link] = field(default_factory=list)


@dataclass(frozen=True)
class FormPage(Page):
    """A page with a form: its CSRF field, made for this page (csrf.py)."""

    csrf: str


@dataclass(frozen=True)
class UnsubscribePage(FormPage):
    template = "unsubscribe.html.j2"
    preferences_url: str


@dataclass(frozen=True)
class UnsubscribedPage(Page):
    template = "unsubscribed.html.j2"
    left_from: list[str]
    """What they were getting: list titles, or a newsletter's name for its main list."""
    preferences_url: str


@dataclass(frozen=True)
class PreferencesPage(FormPage):
    template = "preferences.html.j2"
    done: str | None
    """What the last change did, said on the page after it."""
    subscription: Subscription

    def values(self) -> dict[str, Any]:
        view = shallow(self.subscription)
        del view["slug"], view["lang"]  # the frame's
        return {"title": self.title, "csrf": self.csrf, "done": self.done, **view}


@dataclass(frozen=True)
class SubscribePage(FormPage):
    template = "subscribe.html.j2"
    error: str | None
    email: str
    person: str
    language_choices: list[LanguageChoice]
    chosen_language: str


@dataclass(frozen=True)
class ConfirmPage(FormPage):
    template = "confirm.html.j2"


@dataclass(frozen=True)
class NewsletterLink:
    """One newsletter of the service, on the home page."""

    slug: str
    name: str


@dataclass(frozen=True)
class HomePage(Page):
    """The newsletters of this service."""

    template = "home.html.j2"
    newsletters: list[NewsletterLink]


@dataclass(frozen=True)
class IssueLink:
    """One past issue on the archive's index."""

    subject: str
    date: date
    """The date the issue bears (its file's `date:`), else the day it was published."""
    lang: str
    url: str
    """Relative to the index: NEWSLETTER/ISSUE, with ?lang= where the newsletter has
    several languages."""


@dataclass(frozen=True)
class ArchiveIndexPage(Page):
    """A newsletter's past issues, newest first: a page for search engines too."""

    template = "archive_index.html.j2"
    issues: list[IssueLink]
    robots: str = "index, follow"


class PageError(Exception):
    """Answer with a page that says what went wrong and what to do."""

    def __init__(self, status: int, title: str, *paragraphs: str, slug: str | None = None,
                 language: str | None = None) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.paragraphs = paragraphs
        self.slug = slug
        self.language = language
