"""BASE/subscribe/NEWSLETTER (a form) and POST BASE/api/subscribe/NEWSLETTER (JSON): ask to
subscribe, double opt-in, the same answer whatever the address's state (confirmations.py
sends the email after the answer). BASE/confirm/TOKEN: the confirmation link's page, one
button; its POST makes the subscription active."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from .... import links
from ....errors import TokenError
from ....i18n import language_name
from ....store import NotSubscribedError, SuppressedError
from ....store.addresses import InvalidAddress, normalise
from ..confirmations import CONFIRM_DAYS, parse_confirm_subject
from ..dependencies import Service, ServiceDep
from ..forms import FORM_BODY, LangQuery, clean_name, first
from ..views import ConfirmPage, LanguageChoice, PageError, SubscribePage

router = APIRouter()


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


# -- subscribe ---------------------------------------------------------------------------------

@router.get("/subscribe/{newsletter}", response_class=HTMLResponse,
            summary="The subscribe form; also says how to manage a subscription")
async def subscribe_page(service: ServiceDep, newsletter: str,
                         lang: str | None = LangQuery) -> Response:
    return form_page(service, newsletter, newsletter_or_404(service, newsletter, lang))


@router.post("/subscribe/{newsletter}", openapi_extra=FORM_BODY, response_class=HTMLResponse,
             summary="Ask to subscribe: the same answer whatever the address's state")
async def subscribe(service: ServiceDep, request: Request, newsletter: str,
                    lang: str | None = LangQuery) -> Response:
    pages = service.pages
    language = newsletter_or_404(service, newsletter, lang)
    form = await service.form(request)
    service.check_form(request, f"subscribe:{newsletter}", form)
    language = pages.language(newsletter, first(form, "language"), lang)
    raw = (form.get("email") or [""])[0]
    name = clean_name((form.get("name") or [""])[0])
    _ = pages.gettext(language)
    try:
        address = normalise(raw)
    except InvalidAddress:
        return form_page(service, newsletter, language, 400, _(
            "Enter an email address in the right format, like name@example.org"),
            email=raw[:320], person=name or "")
    if not service.confirmations.available:
        raise unavailable(service, newsletter, language)
    await request_confirmation(service, address.email, name, language, newsletter, "page")
    return service.message(
        newsletter, language, _("Check your email"),
        _("If the address you gave can be subscribed, we have sent it an email with a "
          "link to confirm. The link works for %(days)s days.") % {"days": CONFIRM_DAYS},
        _("You are not subscribed until you confirm. No email? Look in your spam folder, "
          "or try again in a few minutes."))


@router.post("/api/subscribe/{newsletter}", status_code=202,
             response_model=SubscribeAccepted,
             responses={400: {"model": ApiError}, 404: {"model": ApiError},
                        422: {"model": ApiError}, 503: {"model": ApiError}},
             summary="Ask to subscribe (JSON): the same answer whatever the address's state")
async def subscribe_json(service: ServiceDep, newsletter: str,
                         body: SubscribeRequest) -> Response:
    pages = service.pages
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
    await request_confirmation(service, address.email, clean_name(body.name), language,
                               newsletter, "api")
    return JSONResponse({"status": "accepted", "message": ACCEPTED}, 202)


def newsletter_or_404(service: Service, slug: str, lang: str | None) -> str:
    """The page language for newsletter `slug`; a 404 page if there is no such newsletter."""
    if service.pages.newsletter(slug) is None:
        raise service.not_found(lang)
    return service.pages.language(slug, lang)


def unavailable(service: Service, slug: str, language: str) -> PageError:
    _ = service.pages.gettext(language)
    return PageError(503, _("Subscribing is not available at the moment"),
                     _("Try again later."), slug=slug, language=language)


def form_page(service: Service, slug: str, language: str, status: int = 200,
              error: str | None = None, email: str = "", person: str = "") -> Response:
    pages = service.pages
    _ = pages.gettext(language)
    newsletter = pages.newsletter(slug)
    assert newsletter is not None
    choices = [LanguageChoice(code, language_name(code)) for code in newsletter.languages]
    title = _("Subscribe to %(newsletter)s") % {
        "newsletter": pages.frame(slug, language).name}
    return service.page(SubscribePage(title, service.csrf_field(f"subscribe:{slug}"), error,
                                      email, person, choices, language),
                        slug, language, status)


async def request_confirmation(service: Service, email: str, name: str | None,
                               language: str, slug: str, source: str) -> None:
    prepared = await run_in_threadpool(service.confirmations.prepare, email, name,
                                       language, slug, source)
    if prepared is not None:
        service.confirmations.send_later(slug, *prepared)


# -- confirm -----------------------------------------------------------------------------------

@router.get("/confirm/{token}", response_class=HTMLResponse,
            summary="The confirmation link's page: one button; showing it changes nothing")
async def confirm_page(service: ServiceDep, token: str,
                       lang: str | None = LangQuery) -> Response:
    _id, slug, language = confirm_target(service, token)
    language = service.pages.language(slug, lang, language)
    _ = service.pages.gettext(language)
    return service.page(ConfirmPage(_("Confirm your subscription"),
                                    service.csrf_field(token)), slug, language)


@router.post("/confirm/{token}", openapi_extra=FORM_BODY, response_class=HTMLResponse,
             summary="Confirm a subscription (double opt-in)")
async def confirm(service: ServiceDep, request: Request, token: str,
                  lang: str | None = LangQuery) -> Response:
    pages = service.pages
    subscriber_id, slug, language = confirm_target(service, token)
    language = pages.language(slug, lang, language)
    form = await service.form(request)
    service.check_form(request, token, form)
    _ = pages.gettext(language)
    try:
        await run_in_threadpool(activate, service, subscriber_id, slug)
    except NotSubscribedError:
        raise TokenError("no such subscriber") from None
    except SuppressedError:
        return service.message(slug, language, _("We cannot subscribe this address"),
                               _("We can no longer send email to this address. To get "
                                 "our emails again, contact us."), status=409)
    name = pages.frame(slug, language).name
    return service.message(
        slug, language, _("You are subscribed"),
        _("Thank you: you will get %(newsletter)s by email.") % {"newsletter": name},
        links=[links.Link(_("Manage your preferences"),
                          service.preferences_link(str(subscriber_id))),
               links.Link(_("Read past issues"), f"../archive/{slug}")])


def confirm_target(service: Service, token: str) -> tuple[int, str, str]:
    subscriber_id, slug, language = parse_confirm_subject(service.verify(token, "confirm"))
    if service.pages.newsletter(slug) is None:
        raise TokenError("the newsletter of this link is no more")
    return subscriber_id, slug, service.pages.language(slug, language)


def activate(service: Service, subscriber_id: int, slug: str) -> None:
    info = service.store.subscriber(subscriber_id)
    if info.status == "pending":
        service.store.confirm(subscriber_id, source="confirm-link")
    service.store.subscribe(info.email, service.workspace.newsletter(slug).mailing_list,
                            source="confirm-link", resubscribe=True)
