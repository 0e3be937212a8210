"""What the service answers when a request goes wrong: a page that says what to do (or,
under /api and for /health, JSON), never a traceback. A busy or absent database is a 503 with
Retry-After (a mailbox provider tries again); a link that does not verify is a 400 page;
anything unexpected is logged by its route's pattern (never the path: links carry tokens) and
answered with a 500 page."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from ...errors import TokenError
from ...store import StoreError
from .confirmations import CONFIRM_DAYS
from .dependencies import service_of
from .views import PageError

log = logging.getLogger("bulletin.web")


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""
    app.add_exception_handler(PageError, page_error)  # type: ignore[arg-type]
    app.add_exception_handler(TokenError, token_error)  # type: ignore[arg-type]
    app.add_exception_handler(StoreError, store_error)
    app.add_exception_handler(OperationalError, store_error)
    # Every pooled connection held by requests waiting for the write lock: busy too.
    app.add_exception_handler(PoolTimeout, store_error)
    app.add_exception_handler(HTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, invalid)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, failure)


def _where(request: Request) -> str:
    """The request for a log line: its route's pattern, never the path (links carry tokens,
    which are secrets)."""
    route = request.scope.get("route")
    return f"{request.method} {getattr(route, 'path', '(no route)')}"


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/health"


def error_page(request: Request, status: int, title: str, *paragraphs: str,
               slug: str | None = None, language: str | None = None) -> Response:
    service = service_of(request)
    every = slug is None  # a page of no newsletter offers every language of the service
    slug = slug or service.brand_of(request)
    language = language or service.language_of(request, slug)
    return service.message(slug, language, title, *paragraphs, status=status, every=every)


async def page_error(request: Request, exc: PageError) -> Response:
    return error_page(request, exc.status, exc.title, *exc.paragraphs, slug=exc.slug,
                      language=exc.language)


async def token_error(request: Request, exc: TokenError) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": f"this link does not work: {exc}"}, 400)
    service = service_of(request)
    _ = service.pages.gettext(service.language_of(request))
    if "expired" in str(exc):
        return error_page(request, 400, _("This link has expired"), _(
            "Links to confirm a subscription work for %(days)s days. Subscribe again "
            "to get a new one.") % {"days": CONFIRM_DAYS})
    return error_page(request, 400, _("This link does not work"), _(
        "The link is incomplete or has been changed. Copy the whole link from the "
        "email, or use the link in a newer email from us."))


async def store_error(request: Request, exc: Exception) -> Response:
    # The database is down or busy: worth trying again (a mailbox provider will).
    log.error("store error answering %s: %s", _where(request), exc)
    if _wants_json(request):
        return JSONResponse({"error": "the service is unavailable; try again later"}, 503,
                            headers={"Retry-After": "60"})
    response = error_page(request, 503, *_failure(request))
    response.headers["Retry-After"] = "60"
    return response


async def http_error(request: Request, exc: HTTPException) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": str(exc.detail)}, exc.status_code,
                            headers=exc.headers)
    service = service_of(request)
    _ = service.pages.gettext(service.language_of(request))
    if exc.status_code in (404, 405):
        return error_page(request, exc.status_code, _("Page not found"),
                          _("Check that the address is right."))
    return error_page(request, exc.status_code,
                      _("Something is wrong with this request"),
                      _("Go back, reload the page and try again."))


async def invalid(request: Request, exc: RequestValidationError) -> Response:
    if _wants_json(request):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                             for e in exc.errors()[:5])
        return JSONResponse({"error": problems}, 422)
    service = service_of(request)
    _ = service.pages.gettext(service.language_of(request))
    return error_page(request, 400, _("Something is wrong with this request"),
                      _("Go back, reload the page and try again."))


async def failure(request: Request, exc: Exception) -> Response:
    log.exception("error answering %s", _where(request))
    if _wants_json(request):
        return JSONResponse({"error": "the service failed; try again later"}, 500)
    return error_page(request, 500, *_failure(request))


def _failure(request: Request) -> tuple[str, str]:
    service = service_of(request)
    _ = service.pages.gettext(service.language_of(request))
    return _("Sorry, there is a problem with the service"), _("Try again later.")
