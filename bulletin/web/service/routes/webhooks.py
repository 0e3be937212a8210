"""POST /webhooks/ses (Amazon SES notifications through SNS) and POST /webhooks/events
(bulletin's generic JSON events, signed with BULLETIN_WEBHOOK_SECRET): what mail providers
report, recorded like a bounce or complaint by email (bulletin.inbound.process), once.

Each is off (404) until bulletin.toml's [webhooks] turns it on (`ses_topics`, `events`).
Answers are short plain text: 413 for a body over MAX_BODY, 400 for one that is not the JSON
expected, 401 for a signature that is missing or wrong (nothing is recorded), 403 for an SNS
topic not configured, 503 (Retry-After) when the store or a signing certificate cannot be
had now, so the provider tries again; 200 otherwise, a repeat included (it counts once).
A body's events are recorded in one transaction: when one cannot be (503, or 500 for a bug),
none is, so the provider's retry of the body records each once.
A SubscriptionConfirmation, once verified, is confirmed by visiting its SubscribeURL when
that is on SNS's own host; else it is only logged for the operator. Logs name the event
counts and SNS ids, never an address."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ....environment import WEBHOOK_SECRET
from ....errors import TokenError
from ....inbound.process import process_events
from ....inbound.webhooks import events as generic
from ....inbound.webhooks import ses, sns
from ....inbound.webhooks.model import Event, Forbidden, WebhookError
from ....store import StoreError
from ..dependencies import Service, ServiceDep

log = logging.getLogger("bulletin.web")
router = APIRouter()

MAX_BODY = 256 * 1024


def _secret() -> bytes | None:
    value = os.environ.get(WEBHOOK_SECRET, "")
    return value.encode() if len(value) >= generic.MIN_SECRET else None


@dataclass
class Webhooks:
    """What the webhook routes use from outside: SNS signing certificates (fetched from
    SNS's hosts only), the visit that confirms a subscription, the shared secret, the
    clock. Kept as `app.state.webhooks`, made on first use; tests put their own."""

    certificates: sns.CertificateLoader = field(default_factory=sns.Certificates)
    confirm: Callable[[str], bool] = sns.confirm
    secret: Callable[[], bytes | None] = _secret
    clock: Callable[[], float] = time.time


def webhooks_of(request: Request) -> Webhooks:
    state = request.app.state
    found = getattr(state, "webhooks", None)
    if not isinstance(found, Webhooks):
        found = state.webhooks = Webhooks()
    return found


def _plain(text: str, status: int = 200, **headers: str) -> Response:
    return PlainTextResponse(text + "\n", status, headers={"Cache-Control": "no-store",
                                                           **headers})


def _refused(route: str, exc: WebhookError) -> Response:
    log.warning("webhook %s refused (%d): %s", route, exc.status, exc)
    if exc.status == 503:
        return _plain(str(exc), 503, **{"Retry-After": "60"})
    return _plain(str(exc), exc.status)


async def _body(request: Request) -> bytes | Response:
    """The request's body, or a 413 when it is over MAX_BODY (read no further)."""
    length = request.headers.get("content-length", "")
    if length and (not length.isdigit() or int(length) > MAX_BODY):
        return _plain("request body too large", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return _plain("request body too large", 413)
        chunks.append(chunk)
    return b"".join(chunks)


async def _record(service: Service, route: str, found: list[Event], body: bytes) -> Response:
    def record() -> tuple[int, int, int]:
        done = process_events(service.store, service.workspace,
                              [(event.classification, event.key) for event in found], body,
                              source="webhook")
        ignored = sum(not one.ours for one in done)
        duplicate = sum(one.ours and one.duplicate for one in done)
        return len(done) - ignored - duplicate, duplicate, ignored

    try:
        recorded, duplicate, ignored = await run_in_threadpool(record)
    except (StoreError, TokenError) as exc:
        log.error("webhook %s: cannot record now: %s", route, exc)
        return _plain("unavailable; try again later", 503, **{"Retry-After": "60"})
    except Exception:  # a bug: answered here (nothing of the body was recorded), so that the
        # provider reads a whole 500 and posts the body again
        log.exception("webhook %s: failed recording %d events", route, len(found))
        return _plain("the service failed; try again later", 500)
    log.info("webhook %s: %d events: %d recorded, %d already, %d not ours", route,
             len(found), recorded, duplicate, ignored)
    return _plain(f"ok: {recorded} recorded, {duplicate} already recorded, "
                  f"{ignored} not ours")


@router.post("/webhooks/ses", include_in_schema=False)
async def ses_notification(service: ServiceDep, request: Request) -> Response:
    topics = service.workspace.settings.webhooks.ses_topics
    if not topics:
        raise HTTPException(404)
    body = await _body(request)
    if isinstance(body, Response):
        return body
    hooks = webhooks_of(request)
    try:
        envelope = sns.parse(body)
        if envelope.topic_arn not in topics:
            raise Forbidden("topic not configured in [webhooks] ses_topics")
        await run_in_threadpool(sns.verify, envelope, hooks.certificates)
        if envelope.type == "SubscriptionConfirmation":
            url = envelope.subscribe_url or ""
            confirmed = await run_in_threadpool(hooks.confirm, url)
            log.warning("webhook ses: subscription to %s %s", envelope.topic_arn,
                        "confirmed" if confirmed else
                        "NOT confirmed: its SubscribeURL is not on SNS's host; confirm it "
                        "in the AWS console")
            return _plain("subscription confirmed" if confirmed else "subscription noted")
        if envelope.type == "UnsubscribeConfirmation":
            log.warning("webhook ses: unsubscribed from %s", envelope.topic_arn)
            return _plain("ok")
    except WebhookError as exc:
        return _refused("ses", exc)
    found = ses.events(envelope)
    log.info("webhook ses: notification %s", envelope.message_id[:80])
    return await _record(service, "ses", found, body)


@router.post("/webhooks/events", include_in_schema=False)
async def generic_events(service: ServiceDep, request: Request) -> Response:
    if not service.workspace.settings.webhooks.events:
        raise HTTPException(404)
    body = await _body(request)
    if isinstance(body, Response):
        return body
    hooks = webhooks_of(request)
    secret = hooks.secret()
    if secret is None:
        log.error("webhook events: %s is not set (at least %d characters): refusing all",
                  WEBHOOK_SECRET, generic.MIN_SECRET)
        return _plain("unavailable; try again later", 503, **{"Retry-After": "60"})
    try:
        generic.authenticate(secret, body, request.headers.get(generic.SIGNATURE_HEADER),
                             request.headers.get(generic.TIMESTAMP_HEADER), hooks.clock())
        found = generic.events(body)
    except WebhookError as exc:
        return _refused("events", exc)
    return await _record(service, "events", found, body)
