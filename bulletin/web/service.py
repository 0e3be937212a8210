"""`bulletin serve`: the subscriber web service behind the links in every email.

    BASE/unsubscribe/TOKEN      GET: a page with one button; POST List-Unsubscribe=One-Click:
                                unsubscribed at once (RFC 8058); POST from the page's button
    BASE/preferences/TOKEN      lists and topics, language, pause, leave, come back
    BASE/subscribe/NEWSLETTER   a form; double opt-in (and POST BASE/api/subscribe/NEWSLETTER)
    BASE/confirm/TOKEN          the link in the confirmation email: a page with one button
    BASE/archive/NEWSLETTER     past issues; BASE/archive/NEWSLETTER/ISSUE an issue as sent
    BASE/health                 whether the service and its database answer

Unsubscribing (one click, or the button) unsubscribes the person from everything: a token
names only the subscriber, and "unsubscribe" must never leave someone still getting email.
The preferences page is where one chooses lists. Every change goes to the store's audit trail
with its source: one-click, page, api or confirm-link.

Bad input of any kind gets a page (or, under /api, JSON) that says what to do: never a
traceback. Pages set no cookies; forms carry a CSRF field bound to the page (csrf.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import unicodedata
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, Literal
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartParser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import links
from ..errors import TokenError
from ..i18n import language_name
from ..send.transport import Transport
from ..settings import Workspace
from ..store import NotSubscribedError, Store, StoreError, SuppressedError
from ..store.addresses import InvalidAddress, normalise
from ..store.store import ArchiveEntry
from . import csrf
from .archive import IssueDates
from .confirmations import CONFIRM_DAYS, RESEND_AFTER, Confirmations, parse_confirm_subject
from .oneclick import OneClick, journal_path
from .pages import Pages
from .preferences import FormError, Preferences

log = logging.getLogger("bulletin.web")

MAX_BODY = 64 * 1024
MAX_TOKEN = 512
RESUME_EVERY = 600.0
"""Seconds between looks for pauses that have ended."""

PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "img-src * data:; form-action 'self'; frame-ancestors 'none'; "
                               "base-uri 'none'",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
ARCHIVE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "img-src * data:; frame-ancestors 'self'; base-uri 'none'",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "public, max-age=300",
}

# What the preferences page says after a change (msgids of templates/web/locale).
DONE = {
    "saved": "Your choices are saved.",
    "paused": "Your emails are paused.",
    "resumed": "Your emails have started again.",
    "left": "You have unsubscribed from everything. We will send you no more emails.",
    "resubscribed": "Welcome back: you are subscribed again.",
    "blocked": "We can no longer send email to this address, so nothing was changed.",
    "nothing": "Nothing needed changing.",
}


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


# -- the JSON API's bodies ---------------------------------------------------------------------

class SubscribeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=320, description="The address to subscribe")
    name: str | None = Field(default=None, max_length=200)
    language: str | None = Field(default=None, max_length=8,
                                 description="One of the newsletter's languages")


class SubscribeAccepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    message: str


class ApiError(BaseModel):
    error: str


ACCEPTED = ("If this address can be subscribed, we have sent it an email with a link to "
            "confirm; it is not subscribed until then.")

FORM_BODY = {"requestBody": {"required": False, "content": {
    media: {"schema": {"type": "object", "properties": {
        "csrf": {"type": "string"}, "List-Unsubscribe": {"type": "string"},
        "action": {"type": "string", "enum": ["save", "pause", "resume", "leave",
                                              "resubscribe"]},
        "list": {"type": "array", "items": {"type": "string"}},
        "language": {"type": "string"}, "months": {"type": "string"},
        "email": {"type": "string"}, "name": {"type": "string"}}}}
    for media in ("application/x-www-form-urlencoded", "multipart/form-data")}}}
LangQuery = Query(default=None, max_length=16, description="Language of the page, e.g. cy")


def clean_name(value: str | None) -> str | None:
    """A name as typed, without control characters or runs of white space."""
    if not value:
        return None
    kept = "".join(c if unicodedata.category(c)[0] != "C" else " " for c in value)
    return " ".join(kept.split())[:200] or None


def subscriber_of(subject: str) -> int | None:
    """The subscriber id a token names; None for anything else (a test email's "test")."""
    if not subject.isascii() or not subject.isdigit() or len(subject) > 18:
        return None
    return int(subject)


def _first(form: dict[str, list[str]], name: str) -> str | None:
    """The form's first value for `name`, if it has one."""
    values = form.get(name)
    return values[0] if values else None


class Service:
    """The state the routes share, and what they do."""

    def __init__(self, workspace: Workspace, store: Store, key: bytes,
                 transport: Callable[[], Transport] | None,
                 resend_after: float = RESEND_AFTER) -> None:
        self.workspace = workspace
        self.store = store
        self.key = key
        self.signer = links.Signer(key)
        self.pages = Pages(workspace)
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

    def csrf_field(self, page: str) -> str:
        return csrf.issue(self.key, page, int(time.time()))

    def check_form(self, request: Request, page: str, form: dict[str, list[str]]) -> None:
        own = {self.origin, f"{request.url.scheme}://{request.headers.get('host', '')}".lower()}
        field = _first(form, csrf.FIELD)
        if not csrf.same_origin(request.headers.get("origin"), own) or \
                not csrf.valid(self.key, page, field, int(time.time())):
            _ = self.pages.gettext(self.language_of(request))
            raise PageError(403, _("This form has expired"),
                            _("Go back, reload the page and try again."))

    async def form(self, request: Request) -> dict[str, list[str]]:
        """The posted form (URL-encoded, multipart, or a bare body), at most 64 KB."""
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            raise self.bad_request(request)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                raise self.bad_request(request)
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            if media == "multipart/form-data":
                async def replay() -> AsyncGenerator[bytes, None]:
                    yield bytes(body)

                parsed = await MultiPartParser(Headers(scope=request.scope), replay(),
                                               max_files=0, max_fields=200).parse()
                return {name: [v for v in parsed.getlist(name) if isinstance(v, str)]
                        for name in parsed}
            return parse_qs(bytes(body).decode("utf-8"), keep_blank_values=True,
                            max_num_fields=200)
        except Exception:  # malformed multipart, not UTF-8, too many fields
            raise self.bad_request(request) from None

    def bad_request(self, request: Request) -> PageError:
        _ = self.pages.gettext(self.language_of(request))
        return PageError(400, _("Something is wrong with this request"),
                         _("Go back, reload the page and try again."))

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

    def page(self, template: str, slug: str, language: str, status: int = 200,
             **values: Any) -> HTMLResponse:
        html = self.pages.render(template, slug, language, **values)
        return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)

    def message(self, slug: str, language: str, title: str, *paragraphs: str,
                status: int = 200, links: list[dict[str, str]] | None = None) -> HTMLResponse:
        return self.page("message.html.j2", slug, language, status, title=title,
                         paragraphs=list(paragraphs), links=links or [])

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


    def is_unsubscribed(self, subscriber_id: int) -> bool:
        """Whether they have unsubscribed from everything."""
        return self.store.subscriber(subscriber_id).status == "unsubscribed"

    def newsletters_left(self, subscriber_id: int, language: str) -> list[str]:
        """The names of what an unsubscribed person was getting: their lists, a newsletter's
        main list by the newsletter's name, a topic by its title."""
        owners = self.store.list_owners()
        names = []
        for list_name, status in self.store.memberships(subscriber_id).items():
            if status != "active":
                continue
            slug, title = owners.get(list_name, (None, None))
            newsletter = self.workspace.settings.newsletters.get(slug or "")
            if newsletter is not None and newsletter.mailing_list == list_name:
                names.append(self.pages.text(newsletter.name, slug or "", language))
            else:
                names.append(title or list_name)
        return names

    def ensure_lists(self) -> None:
        """Every newsletter's main list exists (as the subscribers commands make them), so
        that the first person to subscribe on a new workspace has a list to join."""
        known = set(self.store.list_names())
        for slug, newsletter in self.workspace.settings.newsletters.items():
            if newsletter.mailing_list not in known:
                self.store.create_list(newsletter.mailing_list, newsletter=slug,
                                       title=self.pages.text(newsletter.name, slug,
                                                             newsletter.languages[0]))

    # -- background work ----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lifespan(self, app: FastAPI, resume_every: float = RESUME_EVERY
                       ) -> AsyncIterator[None]:
        async def resume_pauses() -> None:
            while True:
                try:
                    resumed = await run_in_threadpool(self.store.resume_due)
                    if resumed:
                        log.info("pauses ended: %d subscribers resumed", resumed)
                except StoreError as exc:
                    log.error("could not end pauses: %s", exc)
                await asyncio.sleep(resume_every)

        await run_in_threadpool(self.ensure_lists)
        await self.one_click.start()  # and apply what an earlier run left in its journal
        task = asyncio.create_task(resume_pauses())
        # SQLite: the store opens a connection per operation, and closing the last one to a
        # WAL database checkpoints it (about 1.5 ms, every time). One idle connection held
        # open for the service's life spares each request that; SQLite still checkpoints
        # as the WAL grows.
        keeper = self.store.engine.connect() if self.store.engine.dialect.name == "sqlite" \
            else None
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self.confirmations.drain()
            await self.one_click.stop()
            if keeper is not None:
                keeper.close()


def create_app(workspace: Workspace, store: Store, key: bytes,
               transport_factory: Callable[[], Transport] | None,
               *, resend_after: float = RESEND_AFTER) -> FastAPI:
    """The subscriber service on `store`, signing with `key`; confirmation emails go through
    `transport_factory` (None: subscribing is unavailable, everything else works)."""
    service = Service(workspace, store, key, transport_factory, resend_after)
    app = FastAPI(title="bulletin subscriber service", version="1", docs_url=None,
                  redoc_url=None, lifespan=service.lifespan)
    app.state.service = service
    app.add_middleware(HeadAsGet)
    _errors(app, service)
    _health(app, service)
    _unsubscribe(app, service)
    _preferences(app, service)
    _subscribe(app, service)
    _archive(app, service)
    return app


class HeadAsGet:
    """HEAD is GET without the body (RFC 9110 9.3.2), on every route that has a GET: the
    same status and headers, Content-Length included. FastAPI routes answer only the methods
    they name, so without this a link checker's HEAD got 405."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # the last (empty) one follows
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)


# -- errors ------------------------------------------------------------------------------------

def _where(request: Request) -> str:
    """The request for a log line: its route's pattern, never the path (links carry tokens,
    which are secrets)."""
    route = request.scope.get("route")
    return f"{request.method} {getattr(route, 'path', '(no route)')}"


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/health"


def _errors(app: FastAPI, service: Service) -> None:
    def error_page(request: Request, status: int, title: str, *paragraphs: str,
                   slug: str | None = None, language: str | None = None) -> Response:
        slug = slug or service.brand_of(request)
        language = language or service.language_of(request, slug)
        return service.message(slug, language, title, *paragraphs, status=status)

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> Response:
        return error_page(request, exc.status, exc.title, *exc.paragraphs, slug=exc.slug,
                          language=exc.language)

    @app.exception_handler(TokenError)
    async def token_error(request: Request, exc: TokenError) -> Response:
        if _wants_json(request):
            return JSONResponse({"error": f"this link does not work: {exc}"}, 400)
        _ = service.pages.gettext(service.language_of(request))
        if "expired" in str(exc):
            return error_page(request, 400, _("This link has expired"), _(
                "Links to confirm a subscription work for %(days)s days. Subscribe again "
                "to get a new one.") % {"days": CONFIRM_DAYS})
        return error_page(request, 400, _("This link does not work"), _(
            "The link is incomplete or has been changed. Copy the whole link from the "
            "email, or use the link in a newer email from us."))

    @app.exception_handler(StoreError)
    @app.exception_handler(OperationalError)
    async def store_error(request: Request, exc: Exception) -> Response:
        # The database is down or busy: worth trying again (a mailbox provider will).
        log.error("store error answering %s: %s", _where(request), exc)
        if _wants_json(request):
            return JSONResponse({"error": "the service is unavailable; try again later"}, 503,
                                headers={"Retry-After": "60"})
        response = error_page(request, 503, *_failure(service, request))
        response.headers["Retry-After"] = "60"
        return response

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if _wants_json(request):
            return JSONResponse({"error": str(exc.detail)}, exc.status_code,
                                headers=exc.headers)
        _ = service.pages.gettext(service.language_of(request))
        if exc.status_code in (404, 405):
            return error_page(request, exc.status_code, _("Page not found"),
                              _("Check that the address is right."))
        return error_page(request, exc.status_code,
                          _("Something is wrong with this request"),
                          _("Go back, reload the page and try again."))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if _wants_json(request):
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                                 for e in exc.errors()[:5])
            return JSONResponse({"error": problems}, 422)
        _ = service.pages.gettext(service.language_of(request))
        return error_page(request, 400, _("Something is wrong with this request"),
                          _("Go back, reload the page and try again."))

    @app.exception_handler(Exception)
    async def failure(request: Request, exc: Exception) -> Response:
        log.exception("error answering %s", _where(request))
        if _wants_json(request):
            return JSONResponse({"error": "the service failed; try again later"}, 500)
        return error_page(request, 500, *_failure(service, request))


def _failure(service: Service, request: Request) -> tuple[str, str]:
    _ = service.pages.gettext(service.language_of(request))
    return _("Sorry, there is a problem with the service"), _("Try again later.")


# -- health ------------------------------------------------------------------------------------

def _health(app: FastAPI, service: Service) -> None:
    @app.get("/health", summary="Whether the service and its database answer",
             responses={503: {"description": "The database does not answer"}})
    async def health() -> JSONResponse:
        try:
            await run_in_threadpool(service.store.ping)
        except StoreError:
            return JSONResponse({"status": "unavailable"}, 503,
                                headers={"Cache-Control": "no-store"})
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})


# -- unsubscribe -------------------------------------------------------------------------------

def _unsubscribe(app: FastAPI, service: Service) -> None:
    @app.get("/unsubscribe/{token}", response_class=HTMLResponse,
             summary="A page with one button; showing it changes nothing")
    async def unsubscribe_page(token: str, lang: str | None = LangQuery) -> Response:
        subject = service.verify(token, "unsubscribe")
        subscriber_id, slug, language = await run_in_threadpool(service.locate, subject, lang)
        if subscriber_id is not None and (
                service.one_click.is_owed(subscriber_id)
                or await run_in_threadpool(service.is_unsubscribed, subscriber_id)):
            return await unsubscribed(subject, lang)
        _ = service.pages.gettext(language)
        return service.page(
            "unsubscribe.html.j2", slug, language, title=_("Unsubscribe"),
            csrf=service.csrf_field(token),
            preferences_url="../preferences/" + service.signer.sign("preferences", subject))

    async def unsubscribed(subject: str, lang: str | None) -> Response:
        """The page that says they are unsubscribed, from what, and how to come back."""
        subscriber_id, slug, language = await run_in_threadpool(service.locate, subject, lang)
        left_from = [] if subscriber_id is None else \
            await run_in_threadpool(service.newsletters_left, subscriber_id, language)
        _ = service.pages.gettext(language)
        return service.page(
            "unsubscribed.html.j2", slug, language, title=_("You have unsubscribed"),
            left_from=left_from,
            preferences_url="../preferences/" + service.signer.sign("preferences", subject))

    @app.post("/unsubscribe/{token}", openapi_extra=FORM_BODY,
              summary="One-click unsubscribe (RFC 8058), or the page's button")
    async def unsubscribe(request: Request, token: str,
                          lang: str | None = LangQuery) -> Response:
        subject = service.verify(token, "unsubscribe")
        form = await service.form(request)
        if "One-Click" in form.get("List-Unsubscribe", []):
            subscriber_id = subscriber_of(subject)
            if subscriber_id is not None:
                await service.one_click.unsubscribe(subscriber_id)
            return Response("Unsubscribed.\n", media_type="text/plain",
                            headers={"Cache-Control": "no-store"})
        service.check_form(request, token, form)
        subscriber_id = subscriber_of(subject)
        if subscriber_id is not None:  # journaled like a one-click: never lost
            await service.one_click.unsubscribe(subscriber_id, "page")
        return await unsubscribed(subject, lang)


# -- preferences -------------------------------------------------------------------------------

def _preferences(app: FastAPI, service: Service) -> None:
    def subscriber_or_404(subject: str, lang: str | None) -> int:
        subscriber_id = subscriber_of(subject)
        if subscriber_id is None:
            raise no_subscription(lang)
        return subscriber_id

    def no_subscription(lang: str | None) -> PageError:
        language = service.pages.language(service.pages.default, lang)
        _ = service.pages.gettext(language)
        return PageError(404, _("We have no subscription for this link"),
                         _("The subscription may have been removed. A link in a test email "
                           "belongs to no one."), language=language)

    @app.get("/preferences/{token}", response_class=HTMLResponse,
             summary="Manage preferences: lists, language, pause, leave")
    async def preferences_page(token: str, lang: str | None = LangQuery,
                               done: str | None = Query(default=None, max_length=20)
                               ) -> Response:
        subscriber_id = subscriber_or_404(service.verify(token, "preferences"), lang)
        try:
            view = await run_in_threadpool(service.preferences.view, subscriber_id, lang)
        except NotSubscribedError:
            raise no_subscription(lang) from None
        _ = service.pages.gettext(view["lang"])
        message = _(DONE[done]) if done in DONE else None
        slug, language = view.pop("slug"), view.pop("lang")
        return service.page("preferences.html.j2", slug, language, title=_("Your subscription"),
                            csrf=service.csrf_field(token), done=message, **view)

    @app.post("/preferences/{token}", openapi_extra=FORM_BODY,
              summary="Change preferences (a form of the preferences page)",
              responses={303: {"description": "Done: back to the page, which says so"}})
    async def change_preferences(request: Request, token: str,
                                 lang: str | None = LangQuery) -> Response:
        subscriber_id = subscriber_or_404(service.verify(token, "preferences"), lang)
        form = await service.form(request)
        service.check_form(request, token, form)
        action = (form.get("action") or [""])[0]
        try:
            done = await run_in_threadpool(service.preferences.apply, subscriber_id, action,
                                           form)
        except NotSubscribedError:
            raise no_subscription(lang) from None
        except FormError:
            raise service.bad_request(request) from None
        query = f"?done={done}" + (f"&lang={quote(lang)}" if lang else "")
        return RedirectResponse(token + query, status_code=303,
                                headers={"Cache-Control": "no-store"})


# -- subscribe and confirm ---------------------------------------------------------------------

def _subscribe(app: FastAPI, service: Service) -> None:
    pages = service.pages

    def newsletter_or_404(slug: str, lang: str | None) -> str:
        if pages.newsletter(slug) is None:
            language = pages.language(pages.default, lang)
            _ = pages.gettext(language)
            raise PageError(404, _("Page not found"), _("Check that the address is right."),
                            language=language)
        return pages.language(slug, lang)

    def unavailable(slug: str, language: str) -> PageError:
        _ = pages.gettext(language)
        return PageError(503, _("Subscribing is not available at the moment"),
                         _("Try again later."), slug=slug, language=language)

    def form_page(slug: str, language: str, status: int = 200, error: str | None = None,
                  email: str = "", person: str = "") -> Response:
        _ = pages.gettext(language)
        newsletter = pages.newsletter(slug)
        assert newsletter is not None
        choices = [{"code": code, "name": language_name(code)}
                   for code in newsletter.languages]
        title = _("Subscribe to %(newsletter)s") % {
            "newsletter": pages.context(slug, language)["name"]}
        return service.page("subscribe.html.j2", slug, language, status, title=title,
                            csrf=service.csrf_field(f"subscribe:{slug}"), error=error,
                            email=email, person=person, language_choices=choices,
                            chosen_language=language)

    @app.get("/subscribe/{newsletter}", response_class=HTMLResponse,
             summary="The subscribe form; also says how to manage a subscription")
    async def subscribe_page(newsletter: str, lang: str | None = LangQuery) -> Response:
        return form_page(newsletter, newsletter_or_404(newsletter, lang))

    @app.post("/subscribe/{newsletter}", openapi_extra=FORM_BODY, response_class=HTMLResponse,
              summary="Ask to subscribe: the same answer whatever the address's state")
    async def subscribe(request: Request, newsletter: str,
                        lang: str | None = LangQuery) -> Response:
        language = newsletter_or_404(newsletter, lang)
        form = await service.form(request)
        service.check_form(request, f"subscribe:{newsletter}", form)
        language = pages.language(newsletter, _first(form, "language"), lang)
        raw = (form.get("email") or [""])[0]
        name = clean_name((form.get("name") or [""])[0])
        _ = pages.gettext(language)
        try:
            address = normalise(raw)
        except InvalidAddress:
            return form_page(newsletter, language, 400, _(
                "Enter an email address in the right format, like name@example.org"),
                email=raw[:320], person=name or "")
        if not service.confirmations.available:
            raise unavailable(newsletter, language)
        await request_confirmation(address.email, name, language, newsletter, "page")
        return service.message(
            newsletter, language, _("Check your email"),
            _("If the address you gave can be subscribed, we have sent it an email with a "
              "link to confirm. The link works for %(days)s days.") % {"days": CONFIRM_DAYS},
            _("You are not subscribed until you confirm. No email? Look in your spam folder, "
              "or try again in a few minutes."))

    async def request_confirmation(email: str, name: str | None, language: str, slug: str,
                                   source: str) -> None:
        prepared = await run_in_threadpool(service.confirmations.prepare, email, name,
                                           language, slug, source)
        if prepared is not None:
            service.confirmations.send_later(slug, *prepared)

    @app.post("/api/subscribe/{newsletter}", status_code=202,
              response_model=SubscribeAccepted,
              responses={400: {"model": ApiError}, 404: {"model": ApiError},
                         422: {"model": ApiError}, 503: {"model": ApiError}},
              summary="Ask to subscribe (JSON): the same answer whatever the address's state")
    async def subscribe_json(newsletter: str, body: SubscribeRequest) -> Response:
        if pages.newsletter(newsletter) is None:
            return JSONResponse({"error": f"no newsletter {newsletter!r}"}, 404)
        try:
            address = normalise(body.email)
        except InvalidAddress:
            return JSONResponse({"error": "email: enter an email address such as "
                                          "name@example.org"}, 400)
        if not service.confirmations.available:
            return JSONResponse({"error": "subscribing is not available at the moment; "
                                          "try again later"}, 503)
        language = pages.language(newsletter, body.language)
        await request_confirmation(address.email, clean_name(body.name), language, newsletter,
                                   "api")
        return JSONResponse({"status": "accepted", "message": ACCEPTED}, 202)

    def confirm_target(token: str) -> tuple[int, str, str]:
        subscriber_id, slug, language = parse_confirm_subject(service.verify(token, "confirm"))
        if pages.newsletter(slug) is None:
            raise TokenError("the newsletter of this link is no more")
        return subscriber_id, slug, pages.language(slug, language)

    @app.get("/confirm/{token}", response_class=HTMLResponse,
             summary="The confirmation link's page: one button; showing it changes nothing")
    async def confirm_page(token: str, lang: str | None = LangQuery) -> Response:
        _id, slug, language = confirm_target(token)
        language = pages.language(slug, lang, language)
        _ = pages.gettext(language)
        return service.page("confirm.html.j2", slug, language,
                            title=_("Confirm your subscription"), csrf=service.csrf_field(token))

    @app.post("/confirm/{token}", openapi_extra=FORM_BODY, response_class=HTMLResponse,
              summary="Confirm a subscription (double opt-in)")
    async def confirm(request: Request, token: str, lang: str | None = LangQuery) -> Response:
        subscriber_id, slug, language = confirm_target(token)
        language = pages.language(slug, lang, language)
        form = await service.form(request)
        service.check_form(request, token, form)
        _ = pages.gettext(language)
        try:
            await run_in_threadpool(activate, subscriber_id, slug)
        except NotSubscribedError:
            raise TokenError("no such subscriber") from None
        except SuppressedError:
            return service.message(slug, language, _("We cannot subscribe this address"),
                                   _("We can no longer send email to this address. To get "
                                     "our emails again, contact us."), status=409)
        name = pages.context(slug, language)["name"]
        preferences = service.signer.sign("preferences", str(subscriber_id))
        return service.message(
            slug, language, _("You are subscribed"),
            _("Thank you: you will get %(newsletter)s by email.") % {"newsletter": name},
            links=[{"text": _("Manage your preferences"), "url": "../preferences/" + preferences},
                   {"text": _("Read past issues"), "url": f"../archive/{slug}"}])

    def activate(subscriber_id: int, slug: str) -> None:
        info = service.store.subscriber(subscriber_id)
        if info.status == "pending":
            service.store.confirm(subscriber_id, source="confirm-link")
        service.store.subscribe(info.email, service.workspace.newsletter(slug).mailing_list,
                                source="confirm-link", resubscribe=True)


# -- the archive -------------------------------------------------------------------------------

def _archive(app: FastAPI, service: Service) -> None:
    pages = service.pages

    def not_found(lang: str | None, slug: str | None = None) -> PageError:
        language = pages.language(slug or pages.default, lang)
        _ = pages.gettext(language)
        return PageError(404, _("Page not found"), _("Check that the address is right."),
                         slug=slug, language=language)

    @app.get("/", response_class=HTMLResponse, summary="The newsletters of this service")
    async def home(lang: str | None = LangQuery) -> Response:
        slug = pages.default
        language = pages.language(slug, lang)
        _ = pages.gettext(language)
        items = [{"slug": s, "name": pages.text(n.name, s, language)}
                 for s, n in service.workspace.settings.newsletters.items()]
        return service.page("home.html.j2", slug, language, title=_("Newsletters"),
                            newsletters=items)

    @app.get("/archive/{newsletter}", response_class=HTMLResponse,
             summary="Past issues of a newsletter")
    async def archive_index(newsletter: str, lang: str | None = LangQuery) -> Response:
        found = pages.newsletter(newsletter)
        if found is None:
            raise not_found(lang)
        language = pages.language(newsletter, lang)
        entries = await run_in_threadpool(service.store.archive_index, newsletter)
        by_issue: dict[str, ArchiveEntry] = {}
        for entry in entries:
            best = by_issue.get(entry.issue)
            if best is None or (entry.language == language and best.language != language):
                by_issue[entry.issue] = entry
        multilingual = len(found.languages) > 1
        dated = await run_in_threadpool(
            lambda: [(service.issue_dates(e.issue) or e.published_at.date(), e)
                     for e in by_issue.values()])
        dated.sort(key=lambda pair: pair[0], reverse=True)  # stable: then as published
        issues = [{"subject": e.subject, "date": day, "lang": e.language,
                   "url": f"{quote(newsletter)}/{quote(e.issue)}"
                          + (f"?lang={e.language}" if multilingual else "")}
                  for day, e in dated]
        _ = pages.gettext(language)
        title = _("Past issues of %(newsletter)s") % {
            "newsletter": pages.context(newsletter, language)["name"]}
        response = service.page("archive_index.html.j2", newsletter, language, title=title,
                                issues=issues, robots="index, follow")
        response.headers["Cache-Control"] = "public, max-age=300"
        return response

    @app.get("/archive/{newsletter}/{issue}", response_class=HTMLResponse,
             summary="An issue as sent, without any recipient's data")
    async def archived(newsletter: str, issue: str, lang: str | None = LangQuery) -> Response:
        if pages.newsletter(newsletter) is None or len(issue) > 200 or \
                any(unicodedata.category(c)[0] == "C" for c in issue):
            raise not_found(lang)
        language = pages.language(newsletter, lang)
        copy = await run_in_threadpool(service.store.archive_get, newsletter, issue, language)
        if copy is None:
            copy = await run_in_threadpool(service.store.archive_get, newsletter, issue)
        if copy is None:
            raise not_found(lang, newsletter)
        return HTMLResponse(copy.html, headers=ARCHIVE_HEADERS)
