"""BASE/health: whether the service and its database answer (JSON, never cached)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ....store import StoreError
from ..dependencies import ServiceDep

router = APIRouter()


@router.get("/health", summary="Whether the service and its database answer",
            responses={503: {"description": "The database does not answer"}})
async def health(service: ServiceDep) -> JSONResponse:
    try:
        await run_in_threadpool(service.store.ping)
    except StoreError:
        return JSONResponse({"status": "unavailable"}, 503,
                            headers={"Cache-Control": "no-store"})
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})
