"""Emit an order event in the transaction of the order change that caused it (no HTTP here).

The event row and its delivery job are written on the caller's connection, in the caller's
transaction: no order change without its event, no event without its change. Jobs of one order
share a procrastinate lock, so its events are delivered one at a time, in order; different
orders go in parallel.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.jobs.defer import defer
from merchant.orders import service as orders
from merchant.orders.service import OrderView
from merchant.platforms.models import AgentPlatform
from merchant.webhooks.models import OrderEvent
from merchant.webhooks.payloads import event_body

ORDER_CREATE, ORDER_UPDATE = "order_create", "order_update"


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
