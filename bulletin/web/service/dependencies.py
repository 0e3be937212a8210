"""The state the routes share (`Service`: the workspace, the store, the signing key and the
parts built on them) and how a route gets it: the `ServiceDep` dependency, which reads it from
the app (`app.state.service`, set once by create_app). Also what every route group does with
it: verify a link's token, read and check a form, answer with a page."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, cast
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from ... import links
from ...errors import TokenError
from ...send.transport import Transport
from ...settings import Workspace
from ...store import NotSubscribedError, Store
from . import csrf
from .confirmations import RESEND_AFTER, Confirmations
from .forms import BadForm, Form, first, read_form
from .issue_dates import IssueDates
from .oneclick import OneClick, journal_path
from .pages import Pages
from .preferences import Preferences
from .views import MessagePage, Page, PageError

MAX_TOKEN = 512

PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "img-src * data:; form-action 'self'; frame-ancestors 'none'; "
                               "base-uri 'none'",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def subscriber_of(subject: str) -> int | None:
    """The subscriber id a token names; None for anything else (a test email's "test")."""
    if not subject.isascii() or not subject.isdigit() or len(subject) > 18:
        return None
    return int(subject)


class Service:
    """The state the routes share, and what they do with it."""

    def __init__(self, workspace: Workspace, store: Store, key: bytes,
                 transport: Callable[[], Transport] | None,
                 resend_after: float = RESEND_AFTER) -> None:
        self.workspace = workspace
        self.store = store
        self.key = key
        self.signer = links.Signer(key)
        self.pages = Pages(workspace)
        # The banner's logo, when it is a local file, served at BASE/media/ like a send's.
        store.media.put((shown.file.name, shown.file.data, shown.file.content_type)
                        for shown, _ in self.pages.logos.values()
                        if shown is not None and shown.file is not None)
        self.preferences = Preferences(workspace, store, self.pages)
        self.confirmations = Confirmations(workspace, store, key, self.pages, transport,
                                           resend_after)
        self.one_click = OneClick(store, journal_path(store, workspace.root))
        self.issue_dates = IssueDates(workspace.root)
        base = urlsplit(workspace.settings.base_url)
        self.origin = f"{base.scheme}://{base.netloc}".lower()

    # -- tokens and forms ---------------------------------------------------------------------

    def verify(self, token: str, purpose: str) -> str:
        if len(token) > MAX_TOKEN:
            raise TokenError("malformed token")
        return links.verify(token, purpose, self.key, int(time.time()))

    def preferences_link(self, subject: str) -> str:
        """The way from a page of the service to the subscriber's preferences page."""
        return links.preferences_url("..", self.signer.sign("preferences", subject))

    def csrf_field(self, page: str) -> str:
        return csrf.issue(self.key, page, int(time.time()))

    def check_form(self, request: Request, page: str, form: Form) -> None:
        own = {self.origin, f"{request.url.scheme}://{request.headers.get('host', '')}".lower()}
        field = first(form, csrf.FIELD)
        if not csrf.same_origin(request.headers.get("origin"), own) or \
                not csrf.valid(self.key, page, field, int(time.time())):
            _ = self.pages.gettext(self.language_of(request))
            raise PageError(403, _("This form has expired"),
                            _("Go back, reload the page and try again."))

    async def form(self, request: Request) -> Form:
        """The posted form (URL-encoded, multipart, or a bare body), at most 64 KB."""
        try:
            return await read_form(request)
        except BadForm:
            raise self.bad_request(request) from None

    def bad_request(self, request: Request) -> PageError:
        _ = self.pages.gettext(self.language_of(request))
        return PageError(400, _("Something is wrong with this request"),
                         _("Go back, reload the page and try again."))

    def not_found(self, lang: str | None, slug: str | None = None) -> PageError:
        """A 404 page, in newsletter `slug`'s brand if it has one."""
        language = self.pages.language(slug or self.pages.default, lang)
        _ = self.pages.gettext(language)
        return PageError(404, _("Page not found"), _("Check that the address is right."),
                         slug=slug, language=language)

    def language_of(self, request: Request, slug: str | None = None) -> str:
        return self.pages.language(slug or self.brand_of(request),
                                   request.query_params.get("lang"))

    def brand_of(self, request: Request) -> str:
        """For a page that belongs to no newsletter (an error): the first newsletter, or the
        first in the language asked for (?lang=)."""
        wanted = request.query_params.get("lang")
        for slug, newsletter in self.workspace.settings.newsletters.items():
            if wanted in newsletter.languages:
                return slug
        return self.pages.default

    # -- pages --------------------------------------------------------------------------------

    def page(self, view: Page, slug: str, language: str, status: int = 200,
             every: bool = False) -> HTMLResponse:
        """`every`: a page of no newsletter (Pages.frame)."""
        html = self.pages.render(view, slug, language, every)
        return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)

    def message(self, slug: str, language: str, title: str, *paragraphs: str,
                status: int = 200, links: list[links.Link] | None = None,
                every: bool = False) -> HTMLResponse:
        return self.page(MessagePage(title, list(paragraphs), links or []), slug, language,
                         status, every)

    # -- subscribers --------------------------------------------------------------------------

    def locate(self, subject: str, wanted: str | None) -> tuple[int | None, str, str]:
        """(subscriber id or None if there is no such subscriber, the newsletter whose brand
        their pages wear, the page language)."""
        subscriber_id = subscriber_of(subject)
        try:
            if subscriber_id is None:  # e.g. a test email's "test"
                raise NotSubscribedError(subject)
            info = self.store.subscriber(subscriber_id)
        except NotSubscribedError:
            return None, self.pages.default, self.pages.language(self.pages.default, wanted)
        slug = self.preferences.home(subscriber_id)
        return subscriber_id, slug, self.pages.language(slug, wanted, info.language)

    def ensure_lists(self) -> None:
        """Every newsletter's main list exists (as the subscribers commands make them), so
        that the first person to subscribe on a new workspace has a list to join."""
        known = set(self.store.list_names())
        for slug, newsletter in self.workspace.settings.newsletters.items():
            if newsletter.mailing_list not in known:
                self.store.create_list(newsletter.mailing_list, newsletter=slug,
                                       title=self.pages.text(newsletter.name, slug,
                                                             newsletter.languages[0]))


def service_of(request: Request) -> Service:
    """The app's shared state (for what runs outside a route: the error handlers)."""
    return cast(Service, request.app.state.service)


async def _service(request: Request) -> Service:
    return service_of(request)


ServiceDep = Annotated[Service, Depends(_service)]
"""A route's parameter for the shared state."""
