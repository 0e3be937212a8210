"""BASE/preferences/TOKEN: the manage-preferences page (lists and topics, language, pause,
leave, come back) and its form, which answers 303 back to the page, saying what was done.
What the page shows and what each change does is in ../preferences.py."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ....store import NotSubscribedError
from ..dependencies import Service, ServiceDep, subscriber_of
from ..forms import FORM_BODY, LangQuery
from ..preferences import FormError
from ..views import PageError, PreferencesPage

router = APIRouter()

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


@router.get("/preferences/{token}", response_class=HTMLResponse,
            summary="Manage preferences: lists, language, pause, leave")
async def preferences_page(service: ServiceDep, token: str, lang: str | None = LangQuery,
                           done: str | None = Query(default=None, max_length=20)
                           ) -> Response:
    subscriber_id = subscriber_or_404(service, service.verify(token, "preferences"), lang)
    try:
        view = await run_in_threadpool(service.preferences.view, subscriber_id, lang)
    except NotSubscribedError:
        raise no_subscription(service, lang) from None
    _ = service.pages.gettext(view.lang)
    message = _(DONE[done]) if done in DONE else None
    return service.page(PreferencesPage(_("Your subscription"), service.csrf_field(token),
                                        message, view), view.slug, view.lang)


@router.post("/preferences/{token}", openapi_extra=FORM_BODY,
             summary="Change preferences (a form of the preferences page)",
             responses={303: {"description": "Done: back to the page, which says so"}})
async def change_preferences(service: ServiceDep, request: Request, token: str,
                             lang: str | None = LangQuery) -> Response:
    subscriber_id = subscriber_or_404(service, service.verify(token, "preferences"), lang)
    form = await service.form(request)
    service.check_form(request, token, form)
    action = (form.get("action") or [""])[0]
    try:
        done = await run_in_threadpool(service.preferences.apply, subscriber_id, action, form)
    except NotSubscribedError:
        raise no_subscription(service, lang) from None
    except FormError:
        raise service.bad_request(request) from None
    query = f"?done={done}" + (f"&lang={quote(lang)}" if lang else "")
    return RedirectResponse(token + query, status_code=303,
                            headers={"Cache-Control": "no-store"})


def subscriber_or_404(service: Service, subject: str, lang: str | None) -> int:
    subscriber_id = subscriber_of(subject)
    if subscriber_id is None:
        raise no_subscription(service, lang)
    return subscriber_id


def no_subscription(service: Service, lang: str | None) -> PageError:
    language = service.pages.language(service.pages.default, lang)
    _ = service.pages.gettext(language)
    return PageError(404, _("We have no subscription for this link"),
                     _("The subscription may have been removed. A link in a test email "
                       "belongs to no one."), language=language)
