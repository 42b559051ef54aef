"""What staff read about order events: filtered keyset lists, one event with every delivery attempt.

Lists are newest first, keyset on ``(created_at, id)``; the cursor is the last event id of the
previous page (``starting_after``). No HTTP here; the state changes live in ``service``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.errors import InvalidRequest, NotFound
from merchant.webhooks.models import OrderEvent, WebhookAttempt


class EventNotFound(NotFound):
    code = "webhook_event_not_found"


@dataclass(frozen=True, slots=True)
class EventFilters:
    order_id: str | None = None
    platform_id: str | None = None
    status: str | None = None  # pending | delivered | dead


@dataclass(frozen=True, slots=True)
class EventPage:
    items: Sequence[OrderEvent]
    has_more: bool


@dataclass(frozen=True, slots=True)
class EventDetail:
    event: OrderEvent
    attempts: Sequence[WebhookAttempt]  # oldest first


def _conditions(filters: EventFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.order_id is not None:
        conditions.append(OrderEvent.order_id == filters.order_id)
    if filters.platform_id is not None:
        conditions.append(OrderEvent.platform_id == filters.platform_id)
    if filters.status is not None:
        conditions.append(OrderEvent.status == filters.status)
    return conditions


async def list_events(
    session: AsyncSession, filters: EventFilters, *, starting_after: str | None = None, limit: int = 50
) -> EventPage:
    """Events matching every filter given, newest first."""
    query = (
        select(OrderEvent)
        .where(*_conditions(filters))
        .order_by(OrderEvent.created_at.desc(), OrderEvent.id.desc())
        .limit(limit + 1)
    )
    if starting_after is not None:
        cursor = (
            await session.execute(
                select(OrderEvent.created_at, OrderEvent.id).where(OrderEvent.id == starting_after)
            )
        ).one_or_none()
        if cursor is None:
            raise InvalidRequest(
                f"No webhook event {starting_after!r} to start after.",
                code="invalid_value",
                param="$.query.starting_after",
            )
        query = query.where(
            tuple_(OrderEvent.created_at, OrderEvent.id) < tuple_(cursor.created_at, cursor.id)
        )
    rows = list(await session.scalars(query))
    return EventPage(rows[:limit], len(rows) > limit)


async def get_event(session: AsyncSession, event_id: str) -> OrderEvent:
    event = await session.get(OrderEvent, event_id)
    if event is None:
        raise EventNotFound(f"No webhook event {event_id!r}.")
    return event


async def detail(session: AsyncSession, event_id: str) -> EventDetail:
    """The event and every delivery attempt made for it, oldest first."""
    event = await get_event(session, event_id)
    attempts = await session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.event_id == event_id)
        .order_by(WebhookAttempt.started_at, WebhookAttempt.id)
    )
    return EventDetail(event, list(attempts))
