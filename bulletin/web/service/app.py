"""The subscriber service's app: the shared state made once (dependencies.Service, kept in
`app.state.service`), the error handlers (errors.py), HEAD answered as GET, one router per
group of routes (routes/), and the work of the service's life: the one-click journal, ending
pauses that are over, confirmation emails still on their way at shutdown, and what else runs
beside the service (`background`: the bounce mailbox's poller, in a thread of its own)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ...send.transport import Transport
from ...settings import Workspace
from ...store import Store, StoreError
from . import errors
from .confirmations import RESEND_AFTER
from .dependencies import Service
from .routes import archive, health, media, preferences, subscribe, unsubscribe, webhooks

log = logging.getLogger("bulletin.web")

RESUME_EVERY = 600.0
"""Seconds between looks for pauses that have ended."""


class Background(Protocol):
    """Work beside the service, started with it and stopped (waited for) at its end."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def create_app(workspace: Workspace, store: Store, key: bytes,
               transport_factory: Callable[[], Transport] | None,
               *, resend_after: float = RESEND_AFTER,
               background: Sequence[Background] = ()) -> FastAPI:
    """The subscriber service on `store`, signing with `key`; confirmation emails go through
    `transport_factory` (None: subscribing is unavailable, everything else works)."""
    service = Service(workspace, store, key, transport_factory, resend_after)
    # Each group's routes become the app's own, in this order: `include_router` would keep
    # each router whole and match every request twice over (about 40 µs a request).
    routes = [route for group in (health, unsubscribe, preferences, subscribe, archive,
                                  media, webhooks)
              for route in group.router.routes]
    # No redirect from a path with a trailing slash to the one without: a link changed by a
    # slash gets an answer of its own (not found), not a redirect to another link.
    app = FastAPI(title="bulletin subscriber service", version="1", docs_url=None,
                  redoc_url=None, lifespan=lambda app: lifespan(service, background=background),
                  routes=routes, redirect_slashes=False)
    app.state.service = service
    app.add_middleware(HeadAsGet)
    errors.install(app)
    return app


@contextlib.asynccontextmanager
async def lifespan(service: Service, resume_every: float = RESUME_EVERY,
                   background: Sequence[Background] = ()) -> AsyncIterator[None]:
    async def resume_pauses() -> None:
        while True:
            try:
                resumed = await run_in_threadpool(service.store.resume_due)
                if resumed:
                    log.info("pauses ended: %d subscribers resumed", resumed)
            except StoreError as exc:
                log.error("could not end pauses: %s", exc)
            await asyncio.sleep(resume_every)

    await run_in_threadpool(service.ensure_lists)
    await service.one_click.start()  # and apply what an earlier run left in its journal
    task = asyncio.create_task(resume_pauses())
    for work in background:
        work.start()
    # SQLite: the store opens a connection per operation, and closing the last one to a
    # WAL database checkpoints it (about 1.5 ms, every time). One idle connection held
    # open for the service's life spares each request that; SQLite still checkpoints
    # as the WAL grows.
    keeper = service.store.engine.connect() if service.store.engine.dialect.name == "sqlite" \
        else None
    try:
        yield
    finally:
        for work in background:
            await run_in_threadpool(work.stop)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await service.confirmations.drain()
        await service.one_click.stop()
        if keeper is not None:
            keeper.close()


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
