"""BASE/media/NAME: the images published by a send (store/media.py), by content-addressed
name. A name is the hash of its bytes, so an answer never changes: cached for a year,
`immutable`, with an ETag (the name) and 304 for a client that has it. Any other name is 404.
HEAD is answered as GET (app.HeadAsGet)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ....images import is_media_name
from ..dependencies import ServiceDep

router = APIRouter()

CACHE_CONTROL = "public, max-age=31536000, immutable"


@router.get("/media/{name}", summary="A published image")
async def media(service: ServiceDep, request: Request, name: str) -> Response:
    if not is_media_name(name):
        return _not_found()
    found = await run_in_threadpool(service.store.media.get, name)
    if found is None:
        return _not_found()
    etag = f'"{name.partition(".")[0]}"'
    headers = {"Cache-Control": CACHE_CONTROL, "ETag": etag,
               "X-Content-Type-Options": "nosniff"}
    wanted = request.headers.get("if-none-match", "")
    # If-None-Match compares weakly (RFC 9110 13.1.2): W/"x" is "x", as a proxy that
    # compresses the image sends it back.
    if etag in (tag.strip().removeprefix("W/") for tag in wanted.split(",")) \
            or wanted.strip() == "*":
        return Response(status_code=304, headers=headers)
    return Response(found.data, media_type=found.content_type, headers=headers)


def _not_found() -> Response:
    return Response("Not found\n", status_code=404, media_type="text/plain",
                    headers={"Cache-Control": "no-store"})
