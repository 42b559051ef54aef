"""Deliver one order event: sign it afresh, POST it, record the attempt, classify the answer.

2xx -> delivered. Timeouts, connection errors, 408, 429 and 5xx -> retried (honouring
``Retry-After``) until ``DELIVERY_WINDOW`` after the event was written, or after staff last
retried or replayed it, then dead. Any other answer, a destination the outbound guard refuses, or
(in production) a webhook URL that is not https -> dead at once (a dead letter staff can retry).
The event id travels as ``Webhook-Id`` so receivers can drop repeats. ``http`` must be an
``outbound_client``: it checks the address each connection goes to (and pins it), so the URL
itself is only checked for its form here.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Literal

import httpx
import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from merchant.db.transaction import transaction
from merchant.kit.outbound import ForbiddenDestination, check_url
from merchant.platforms.models import AgentPlatform
from merchant.webhooks.models import OrderEvent, WebhookAttempt
from merchant.webhooks.signing import sign

log = structlog.get_logger(__name__)

DELIVERY_WINDOW = timedelta(hours=72)
EXCERPT_BYTES = 1024
RETRYABLE_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))


@dataclass(frozen=True, slots=True)
class Delivery:
    outcome: Literal["delivered", "retry", "dead", "skipped"]
    retry_after: float | None = None  # seconds, from the receiver's Retry-After
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int | None
    error: str | None
    excerpt: str | None
    retry_after: float | None
    duration_ms: int
    refused: bool = False  # the outbound guard refused the address: dead at once


def body_bytes(event: OrderEvent) -> bytes:
    return json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False).encode()


def _retry_after(response: httpx.Response, now: datetime) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max(0.0, (parsedate_to_datetime(value) - now).total_seconds())
    except (TypeError, ValueError):
        return None


async def _post(
    http: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str], now: datetime
) -> _Answer:
    started = time.perf_counter()
    try:
        response = await http.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        elapsed = int((time.perf_counter() - started) * 1000)
        return _Answer(None, f"{type(exc).__name__}: {exc}"[:500], None, None, elapsed)
    except ForbiddenDestination as exc:  # the guard refused the address: not worth retrying
        elapsed = int((time.perf_counter() - started) * 1000)
        return _Answer(None, f"refused: {exc}"[:500], None, None, elapsed, refused=True)
    elapsed = int((time.perf_counter() - started) * 1000)
    excerpt = response.content[:EXCERPT_BYTES].decode("utf-8", "replace")
    return _Answer(response.status_code, None, excerpt, _retry_after(response, now), elapsed)


def _classify(answer: _Answer, event: OrderEvent, now: datetime) -> Delivery:
    if answer.status is not None and 200 <= answer.status < 300:
        return Delivery("delivered")
    detail = answer.error or f"HTTP {answer.status}"
    if answer.refused:
        return Delivery("dead", detail=detail)
    retryable = answer.status is None or answer.status in RETRYABLE_STATUSES
    if not retryable:
        return Delivery("dead", detail=f"{detail}: refused, not retried")
    window_start = max(event.created_at, event.requeued_at or event.created_at)
    if now - window_start >= DELIVERY_WINDOW:
        since = "the change" if window_start == event.created_at else "staff sent it again"
        return Delivery("dead", detail=f"{detail}: still failing {DELIVERY_WINDOW} after {since}")
    return Delivery("retry", answer.retry_after, detail)


async def deliver(
    sessions: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient,
    event_id: str,
    *,
    require_https: bool = False,
    now: datetime,
) -> Delivery:
    async with transaction(sessions) as session:
        event = await session.get(OrderEvent, event_id)
        if event is None or event.status != "pending":
            return Delivery("skipped", detail="not pending")
        platform = await session.get(AgentPlatform, event.platform_id)
    if platform is None or platform.webhook_url is None:
        return await _finish(
            sessions, event_id, None, Delivery("dead", detail="the platform takes no events"), now
        )
    if require_https and not platform.webhook_url.startswith("https://"):
        # Refused at creation in production; a row from before (or from another environment) is
        # reported loudly and never sent in clear text.
        log.error("webhooks.insecure_destination", platform_id=platform.id, event_id=event_id)
        detail = "production sends events over https only; fix the platform's webhook URL"
        return await _finish(sessions, event_id, None, Delivery("dead", detail=detail), now)
    try:
        check_url(platform.webhook_url)
    except ForbiddenDestination as exc:
        return await _finish(sessions, event_id, None, Delivery("dead", detail=str(exc)), now)
    body = body_bytes(event)
    request_id = f"req_{uuid.uuid4().hex}"
    headers = {
        "Content-Type": "application/json",
        "Merchant-Signature": sign(platform.signing_secret, body, int(now.timestamp())),
        "Request-Id": request_id,
        "Webhook-Id": event.id,
        "API-Version": event.acp_version,
    }
    answer = await _post(http, platform.webhook_url, body, headers, now)
    attempt = WebhookAttempt(
        event_id=event_id,
        request_id=request_id,
        started_at=now,
        duration_ms=answer.duration_ms,
        status_code=answer.status,
        error=answer.error,
        response_excerpt=answer.excerpt,
    )
    return await _finish(sessions, event_id, attempt, _classify(answer, event, now), now)


async def _finish(
    sessions: async_sessionmaker[AsyncSession],
    event_id: str,
    attempt: WebhookAttempt | None,
    result: Delivery,
    now: datetime,
) -> Delivery:
    values: dict[str, object] = {"last_error": result.detail}
    if result.outcome == "delivered":
        values |= {"status": "delivered", "delivered_at": now, "last_error": None}
    elif result.outcome == "dead":
        values |= {"status": "dead", "dead_at": now}
    if attempt is not None:
        values["attempts"] = OrderEvent.attempts + 1
    async with transaction(sessions) as session:
        if attempt is not None:
            session.add(attempt)
        # One UPDATE (no SELECT ... FOR UPDATE re-reading the payload): the row lock is the UPDATE's.
        await session.execute(update(OrderEvent).where(OrderEvent.id == event_id).values(values))
    log.info("webhooks.delivery", event_id=event_id, outcome=result.outcome, detail=result.detail)
    return result


def backoff(attempts: int, *, base: float = 5.0, cap: float = 3600.0) -> float:
    """Seconds before the next try: 5 s doubling to an hour (jitter is added by the caller)."""
    return float(min(cap, base * 2 ** max(0, attempts)))
