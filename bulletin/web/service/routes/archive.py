"""BASE/ (the newsletters of this service), BASE/archive/NEWSLETTER (its past issues, newest
first by the date each issue bears) and BASE/archive/NEWSLETTER/ISSUE (an issue as sent,
the public copy the send stored: no recipient's data). The archive's pages may be cached and
indexed; the copy may be framed by this site only."""

from __future__ import annotations

import unicodedata

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from .... import links
from ....store import ArchiveEntry
from ..dependencies import ServiceDep
from ..forms import LangQuery
from ..language_links import with_language_links
from ..views import ArchiveIndexPage, HomePage, IssueLink, NewsletterLink

router = APIRouter()

ARCHIVE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "img-src * data:; frame-ancestors 'self'; base-uri 'none'",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "public, max-age=300",
}


@router.get("/", response_class=HTMLResponse, summary="The newsletters of this service")
async def home(request: Request, service: ServiceDep,
               lang: str | None = LangQuery) -> Response:
    pages = service.pages
    slug = service.brand_of(request)  # the page of no newsletter: in any of the service's
    language = pages.language(slug, lang)
    _ = pages.gettext(language)
    items = [NewsletterLink(s, pages.text(n.name, s, language))
             for s, n in service.workspace.settings.newsletters.items()]
    return service.page(HomePage(_("Newsletters"), items), slug, language, every=True)


@router.get("/archive/{newsletter}", response_class=HTMLResponse,
            summary="Past issues of a newsletter")
async def archive_index(service: ServiceDep, newsletter: str,
                        lang: str | None = LangQuery) -> Response:
    pages = service.pages
    found = pages.newsletter(newsletter)
    if found is None:
        raise service.not_found(lang)
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
    issues = [IssueLink(e.subject, day, e.language, links.archive_path(
        newsletter, e.issue, e.language if multilingual else None)) for day, e in dated]
    _ = pages.gettext(language)
    title = _("Past issues of %(newsletter)s") % {
        "newsletter": pages.frame(newsletter, language).name}
    response = service.page(ArchiveIndexPage(title, issues), newsletter, language)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@router.get("/archive/{newsletter}/{issue}", response_class=HTMLResponse,
            summary="An issue as sent, without any recipient's data")
async def archived(service: ServiceDep, newsletter: str, issue: str,
                   lang: str | None = LangQuery) -> Response:
    if service.pages.newsletter(newsletter) is None or len(issue) > 200 or \
            any(unicodedata.category(c)[0] == "C" for c in issue):
        raise service.not_found(lang)
    language = service.pages.language(newsletter, lang)
    copy = await run_in_threadpool(service.store.archive_get, newsletter, issue, language)
    if copy is None:
        copy = await run_in_threadpool(service.store.archive_get, newsletter, issue)
    if copy is None:
        raise service.not_found(lang, newsletter)
    found = service.pages.newsletter(newsletter)
    languages = list(found.languages) if found is not None else []
    html = with_language_links(copy.html, languages, copy.language,
                               service.pages.gettext(copy.language)("Language"))
    return HTMLResponse(html, headers=ARCHIVE_HEADERS)

