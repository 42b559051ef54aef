"""Staff webhook operations under ``/admin/v1/webhooks``: order events, their attempts, sending again.

Staff keys (viewer, operator, admin) read; operator and admin keys retry and replay (on the audit
trail; an ``Idempotency-Key`` is honoured as at the ACP edge). The routes parse and shape;
``merchant.webhooks.admin`` reads and ``merchant.webhooks.service`` changes state.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field

from merchant.audit.service import Caller
from merchant.http.audit import CallerDep
from merchant.http.auth import OperatorPrincipal, StaffPrincipal
from merchant.http.deps import SessionDep
from merchant.http.idempotency import IdempotentRoute, OptionalIdempotent
from merchant.http.schemas import Error
from merchant.kit.clock import utc_now
from merchant.webhooks import admin, service
from merchant.webhooks.admin import EventFilters
from merchant.webhooks.models import OrderEvent, WebhookAttempt

PREFIX = "/admin/v1"
router = APIRouter(prefix=PREFIX, route_class=IdempotentRoute, tags=["webhooks"])

EventStatus = Literal["pending", "delivered", "dead"]
EventId = Annotated[str, Path(max_length=40, description="The event id (`evt_...`), sent as `Webhook-Id`.")]
Limit = Annotated[int, Query(ge=1, le=100, description="Page size.")]


def _error(description: str) -> dict[str, Any]:
    return {"model": Error, "description": description}


_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: _error("No such event (`webhook_event_not_found`)")}


class WebhookEventView(BaseModel):
    id: str = Field(description="The event id, sent as `Webhook-Id` on every attempt.")
    order_id: str
    platform_id: str
    type: Literal["order_create", "order_update"]
    sequence: int = Field(description="1, 2, ... per order: the order of the changes.")
    acp_version: str = Field(description="The payload shape, the platform's ACP version when written.")
    status: EventStatus
    attempt_count: int = Field(description="Delivery attempts made (requests sent).")
    last_error: str | None = Field(description="Why the last attempt failed (kept until one succeeds).")
    created_at: datetime
    delivered_at: datetime | None = Field(description="When it was last delivered.")
    dead_at: datetime | None = Field(description="When it was last dead-lettered.")
    requeued_at: datetime | None = Field(
        description="When staff last retried or replayed it; its 72 h retry window counts from there."
    )

    @classmethod
    def fields_of(cls, event: OrderEvent) -> dict[str, Any]:
        return {
            "id": event.id,
            "order_id": event.order_id,
            "platform_id": event.platform_id,
            "type": event.type,
            "sequence": event.sequence,
            "acp_version": event.acp_version,
            "status": event.status,
            "attempt_count": event.attempts,
            "last_error": event.last_error,
            "created_at": event.created_at,
            "delivered_at": event.delivered_at,
            "dead_at": event.dead_at,
            "requeued_at": event.requeued_at,
        }

    @classmethod
    def of(cls, event: OrderEvent) -> Self:
        return cls(**cls.fields_of(event))


class WebhookEventPage(BaseModel):
    data: list[WebhookEventView]
    has_more: bool
    next_cursor: str | None = Field(description="Send as `starting_after` for the next page.")

    @classmethod
    def of(cls, page: admin.EventPage) -> Self:
        items = page.items
        return cls(
            data=[WebhookEventView.of(e) for e in items],
            has_more=page.has_more,
            next_cursor=items[-1].id if page.has_more and items else None,
        )


class WebhookAttemptView(BaseModel):
    request_id: str = Field(description="The `Request-Id` sent with the attempt.")
    started_at: datetime
    duration_ms: int = Field(description="Latency until the answer (or the failure).")
    status_code: int | None = Field(description="null: no answer (timeout, refused connection).")
    error: str | None = Field(description="The transport error, when there was no answer.")
    response_excerpt: str | None = Field(description="The first KiB of the answer's body.")

    @classmethod
    def of(cls, attempt: WebhookAttempt) -> Self:
        return cls(
            request_id=attempt.request_id,
            started_at=attempt.started_at,
            duration_ms=attempt.duration_ms,
            status_code=attempt.status_code,
            error=attempt.error,
            response_excerpt=attempt.response_excerpt,
        )


class WebhookEventDetail(WebhookEventView):
    payload: dict[str, Any] = Field(description="The body sent: `{type, data}` with the order as it was.")
    attempts: list[WebhookAttemptView] = Field(description="Every delivery attempt, oldest first.")

    @classmethod
    def with_attempts(cls, found: admin.EventDetail) -> Self:
        return cls(
            **cls.fields_of(found.event),
            payload=found.event.payload,
            attempts=[WebhookAttemptView.of(a) for a in found.attempts],
        )


def filters(
    order_id: Annotated[str | None, Query(max_length=40)] = None,
    platform_id: Annotated[str | None, Query(max_length=40)] = None,
    status: EventStatus | None = None,
) -> EventFilters:
    return EventFilters(order_id=order_id, platform_id=platform_id, status=status)


@router.get("/webhooks/events", response_model=WebhookEventPage)
async def list_events(
    session: SessionDep,
    _: StaffPrincipal,
    found: Annotated[EventFilters, Depends(filters)],
    limit: Limit = 50,
    starting_after: Annotated[
        str | None, Query(max_length=40, description="The last event id of the previous page.")
    ] = None,
) -> WebhookEventPage:
    """Order events, newest first, filtered by order, platform and/or status."""
    return WebhookEventPage.of(
        await admin.list_events(session, found, starting_after=starting_after, limit=limit)
    )


@router.get("/webhooks/events/{event_id}", response_model=WebhookEventDetail, responses=_NOT_FOUND)
async def get_event(session: SessionDep, _: StaffPrincipal, event_id: EventId) -> WebhookEventDetail:
    """One event with its payload and every delivery attempt."""
    return WebhookEventDetail.with_attempts(await admin.detail(session, event_id))


_SEND_AGAIN: dict[int | str, dict[str, Any]] = {
    202: {"description": "Queued: `pending` with a new delivery job (also in `Location`)."},
    **_NOT_FOUND,
}


@router.post(
    "/webhooks/events/{event_id}/retry",
    status_code=202,
    response_model=WebhookEventView,
    responses={
        **_SEND_AGAIN,
        409: _error(
            "Not dead (`webhook_event_not_dead`), or its platform was removed or takes no events"
            " (`platform_takes_no_events`)"
        ),
    },
)
async def retry_event(
    session: SessionDep, response: Response, _: OperatorPrincipal, by: CallerDep, _claim: OptionalIdempotent,
    event_id: EventId,
) -> WebhookEventView:  # fmt: skip
    """Retry a dead-lettered event: back to `pending`, delivered by the worker in order."""
    return await _sent_again(
        session, response, by, "retry", await service.retry_dead(session, event_id, utc_now())
    )


@router.post(
    "/webhooks/events/{event_id}/replay",
    status_code=202,
    response_model=WebhookEventView,
    responses={
        **_SEND_AGAIN,
        409: _error(
            "Already queued for delivery (`webhook_event_pending`), or its platform was removed or takes"
            " no events (`platform_takes_no_events`)"
        ),
    },
)
async def replay_event(
    session: SessionDep, response: Response, _: OperatorPrincipal, by: CallerDep, _claim: OptionalIdempotent,
    event_id: EventId,
) -> WebhookEventView:  # fmt: skip
    """Send an event again whatever its status (same `Webhook-Id` and payload; receivers dedupe)."""
    return await _sent_again(
        session, response, by, "replay", await service.replay(session, event_id, utc_now())
    )


async def _sent_again(
    session: SessionDep, response: Response, by: Caller, how: str, requeued: service.Requeued
) -> WebhookEventView:
    event = requeued.event
    await by.record(
        session, action=f"webhook_event.{how}", target_type="webhook_event", target_id=event.id,
        before={"status": requeued.previous_status},
        after={"status": event.status, "order_id": event.order_id}, status_code=202, now=utc_now(),
    )  # fmt: skip
    response.headers["Location"] = f"{PREFIX}/webhooks/events/{event.id}"
    return WebhookEventView.of(event)
