"""BASE/unsubscribe/TOKEN: GET, a page with one button (showing it changes nothing); POST
`List-Unsubscribe=One-Click`, unsubscribed at once (RFC 8058, no CSRF field: mailbox
providers post it without any page); POST from the page's button, the same with the form's
CSRF field.

Unsubscribing unsubscribes the person from everything: a token names only the subscriber,
and "unsubscribe" must never leave someone still getting email. Both ways go through the
one-click journal (oneclick.py), so that a busy database loses none."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from ..dependencies import Service, ServiceDep, subscriber_of
from ..forms import FORM_BODY, LangQuery
from ..views import UnsubscribedPage, UnsubscribePage

router = APIRouter()


@router.get("/unsubscribe/{token}", response_class=HTMLResponse,
            summary="A page with one button; showing it changes nothing")
async def unsubscribe_page(service: ServiceDep, token: str,
                           lang: str | None = LangQuery) -> Response:
    subject = service.verify(token, "unsubscribe")
    subscriber_id, slug, language = await run_in_threadpool(service.locate, subject, lang)
    if subscriber_id is not None and (
            service.one_click.is_owed(subscriber_id)
            or await run_in_threadpool(is_unsubscribed, service, subscriber_id)):
        return await unsubscribed(service, subject, lang)
    _ = service.pages.gettext(language)
    return service.page(UnsubscribePage(_("Unsubscribe"), service.csrf_field(token),
                                        service.preferences_link(subject)), slug, language)


@router.post("/unsubscribe/{token}", openapi_extra=FORM_BODY,
             summary="One-click unsubscribe (RFC 8058), or the page's button")
async def unsubscribe(service: ServiceDep, request: Request, token: str,
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
    return await unsubscribed(service, subject, lang)


async def unsubscribed(service: Service, subject: str, lang: str | None) -> Response:
    """The page that says they are unsubscribed, from what, and how to come back."""
    subscriber_id, slug, language = await run_in_threadpool(service.locate, subject, lang)
    left_from = [] if subscriber_id is None else \
        await run_in_threadpool(newsletters_left, service, subscriber_id, language)
    _ = service.pages.gettext(language)
    return service.page(UnsubscribedPage(_("You have unsubscribed"), left_from,
                                         service.preferences_link(subject)), slug, language)


def is_unsubscribed(service: Service, subscriber_id: int) -> bool:
    """Whether they have unsubscribed from everything."""
    return service.store.subscriber(subscriber_id).status == "unsubscribed"


def newsletters_left(service: Service, subscriber_id: int, language: str) -> list[str]:
    """The names of what an unsubscribed person was getting: their lists, a newsletter's
    main list by the newsletter's name, a topic by its title."""
    owners = service.store.list_owners()
    names = []
    for list_name, status in service.store.memberships(subscriber_id).items():
        if status != "active":
            continue
        slug, title = owners.get(list_name, (None, None))
        newsletter = service.workspace.settings.newsletters.get(slug or "")
        if newsletter is not None and newsletter.mailing_list == list_name:
            names.append(service.pages.text(newsletter.name, slug or "", language))
        else:
            names.append(title or list_name)
    return names
