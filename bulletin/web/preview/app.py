"""The preview's pages: the email at desktop and phone width with its text part, headers,
source and checks (/), the email alone (/email.html), its version and error (/state), and
server-sent events (/events) that tell the open page to follow each new render."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import Route

from ...settings import BUNDLED_TEMPLATES
from .session import Preview

WEB_TEMPLATES = BUNDLED_TEMPLATES / "web"


def create_app(preview: Preview) -> Starlette:
    pages = jinja2.Environment(loader=jinja2.FileSystemLoader(WEB_TEMPLATES),
                               autoescape=True, undefined=jinja2.StrictUndefined)

    async def page(request: Request) -> HTMLResponse:
        snap = preview.snapshot
        errors = sum(1 for f in snap.findings if f.level == "error")
        body = pages.get_template("preview.html.j2").render(
            snap=snap, issue=preview.issue.name, errors=errors,
            warnings=len(snap.findings) - errors)
        return HTMLResponse(body, headers={"Cache-Control": "no-store"})

    async def email_html(request: Request) -> HTMLResponse:
        return HTMLResponse(preview.snapshot.html, headers={"Cache-Control": "no-store"})

    async def state(request: Request) -> Response:
        snap = preview.snapshot
        return Response(json.dumps({"version": snap.version, "error": snap.error}),
                        media_type="application/json")

    async def events(request: Request) -> StreamingResponse:
        async def stream() -> AsyncIterator[str]:
            seen = -1
            while not preview.closing.is_set():
                if preview.snapshot.version != seen:
                    seen = preview.snapshot.version
                    yield f"data: {seen}\n\n"
                else:
                    yield ": keep-alive\n\n"
                await preview.next_change(seen, timeout=15)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await asyncio.to_thread(preview.rebuild)
        watcher = asyncio.create_task(preview.watch())
        try:
            yield
        finally:
            preview.closing.set()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    return Starlette(routes=[Route("/", page), Route("/email.html", email_html),
                             Route("/state", state), Route("/events", events)],
                     lifespan=lifespan)
