"""Emit an order event in the transaction of the order change that caused it (no HTTP here).

The event row and its delivery job are written on the caller's connection, in the caller's
transaction: no order change without its event, no event without its change. Jobs of one order
share a procrastinate lock, so its events are delivered one at a time, in order; different
orders go in parallel.

Staff send an event again (``retry_dead``, ``replay``): the row goes back to ``pending`` and a new
delivery job is deferred under the same order lock, in the caller's transaction.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.errors import InvalidState
from merchant.jobs.defer import defer
from merchant.orders import service as orders
from merchant.orders.service import OrderView
from merchant.platforms.models import AgentPlatform
from merchant.webhooks.admin import EventNotFound
from merchant.webhooks.models import OrderEvent
from merchant.webhooks.payloads import event_body

log = structlog.get_logger(__name__)

ORDER_CREATE, ORDER_UPDATE = "order_create", "order_update"


class EventNotDead(InvalidState):
    code = "webhook_event_not_dead"


class EventPending(InvalidState):
    code = "webhook_event_pending"


class PlatformTakesNoEvents(InvalidState):
    code = "platform_takes_no_events"


def order_lock(order_id: str) -> str:
    return f"order-events:{order_id}"


async def emit(session: AsyncSession, view: OrderView, kind: str, *, now: datetime) -> OrderEvent | None:
    """Record ``kind`` for the order as it is now and queue its delivery; None without a receiver."""
    from merchant.webhooks.tasks import deliver_event  # the task module imports the delivery code

    order = view.order
    if order.platform_id is None:
        return None
    platform = await session.get(AgentPlatform, order.platform_id)
    if platform is None or platform.webhook_url is None or platform.removed_at is not None:
        return None
    await session.flush()  # the order's latest state is what the event carries
    last = await session.scalar(select(func.max(OrderEvent.sequence)).where(OrderEvent.order_id == order.id))
    event = OrderEvent(
        id=f"evt_{secrets.token_hex(12)}",
        order_id=order.id,
        platform_id=platform.id,
        type=kind,
        sequence=(last or 0) + 1,
        acp_version=platform.acp_version,
        payload=event_body(view, kind, platform.acp_version),
        created_at=now,
    )
    session.add(event)
    await session.flush()
    await defer(session, deliver_event, lock=order_lock(order.id), event_id=event.id)
    return event


async def emit_update(session: AsyncSession, order_id: str, *, now: datetime) -> OrderView:
    """After an order change in this transaction: its ``order_update`` event; the order as it is."""
    await session.flush()  # the change's new rows (adjustments, fulfilments) are read back below
    view = await orders.load(session, order_id)
    await emit(session, view, ORDER_UPDATE, now=now)
    return view


# Sending again (staff)

# A delivery job of the event still to run or running (the lock's partial index narrows the scan).
_LIVE_JOB = text(
    "SELECT EXISTS (SELECT 1 FROM procrastinate_jobs WHERE lock = :lock AND status IN ('todo', 'doing')"
    " AND task_name = :task AND args ->> 'event_id' = :event_id)"
)


async def _locked(session: AsyncSession, event_id: str) -> OrderEvent:
    event = await session.scalar(
        select(OrderEvent)
        .where(OrderEvent.id == event_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if event is None:
        raise EventNotFound(f"No webhook event {event_id!r}.")
    return event


@dataclass(frozen=True, slots=True)
class Requeued:
    event: OrderEvent  # now pending, with a new delivery job
    previous_status: str  # what it was before: for the audit trail


async def _requeue(session: AsyncSession, event: OrderEvent, *, why: str, now: datetime) -> Requeued:
    from merchant.webhooks.tasks import deliver_event  # the task module imports the delivery code

    platform = await session.get(AgentPlatform, event.platform_id)
    if platform is None or platform.removed_at is not None or platform.webhook_url is None:
        raise PlatformTakesNoEvents(
            f"The platform {event.platform_id} was removed or has no webhook URL; its events are not sent."
        )
    previous_status = event.status
    event.status = "pending"  # delivered_at / dead_at / last_error stay: the last outcome until the next
    event.requeued_at = now  # its retry window restarts
    await session.flush()
    await defer(session, deliver_event, lock=order_lock(event.order_id), event_id=event.id)
    log.info("webhooks.requeued", event_id=event.id, order_id=event.order_id, why=why, at=now.isoformat())
    return Requeued(event, previous_status)


async def retry_dead(session: AsyncSession, event_id: str, now: datetime) -> Requeued:
    """A dead-lettered event goes back to ``pending`` with a new delivery job (order lock kept).

    Its backoff and its 72 h retry window restart (the window counts from ``requeued_at``), so a dead
    letter retried after a long outage is retried again on a transient failure, not killed at once.
    """
    event = await _locked(session, event_id)
    if event.status != "dead":
        raise EventNotDead(
            f"Webhook event {event_id} is {event.status}, not dead: only a dead letter is retried"
            " (replay sends an event again whatever its status)."
        )
    return await _requeue(session, event, why="retry", now=now)


async def replay(session: AsyncSession, event_id: str, now: datetime) -> Requeued:
    """Send an event again whatever its outcome (the platform lost it): ``pending`` + a new job.

    The receiver gets the same ``Webhook-Id`` and payload. A pending event whose delivery job is
    still queued or running is refused (``webhook_event_pending``): that job sends it; a pending
    event whose job is gone is queued again.
    """
    from merchant.webhooks.tasks import deliver_event

    event = await _locked(session, event_id)
    if event.status == "pending":
        params = {"lock": order_lock(event.order_id), "task": deliver_event.name, "event_id": event.id}
        if await session.scalar(_LIVE_JOB, params):
            raise EventPending(f"Webhook event {event_id} is already queued for delivery.")
    return await _requeue(session, event, why="replay", now=now)
