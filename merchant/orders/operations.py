"""What happens to an order after checkout: fulfil (capturing the payment), cancel, refund.

Each operation checks the order's state first and refuses what the state does not allow, moves
money through :mod:`merchant.payments.operations` (idempotent PSP calls between two
transactions), then records the result on the order in one final transaction, with the audit row
of the staff member who asked (``by``) in it. Used by the admin API and by the demo; no HTTP here.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from merchant.audit.service import Caller
from merchant.db.transaction import transaction
from merchant.errors import InvalidRequest, InvalidState
from merchant.inventory import service as inventory
from merchant.kit.clock import rfc3339
from merchant.orders import service
from merchant.orders.models import Order, OrderAdjustment, OrderFulfillment, OrderNote
from merchant.orders.service import (
    CANCELED,
    COMPLETED,
    CONFIRMED,
    MANUAL_REVIEW,
    PROCESSING,
    SHIPPED,
    OrderView,
)
from merchant.payments import operations as payment_ops
from merchant.payments.models import Payment
from merchant.webhooks import service as webhooks

FULFILLABLE = ("confirmed", "processing", "shipped")


class OrderStateError(InvalidState):
    code = "order_state_invalid"


@dataclass(frozen=True, slots=True)
class Shipment:
    lines: Sequence[tuple[str, int]] | None = None  # (line id, quantity); None = everything left
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    type: str = "shipping"


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _state(order: Order) -> dict[str, Any]:
    """The order's state for an audit row's before / after."""
    return {"status": order.status, "amount_refunded": order.amount_refunded}


async def _audit(
    session: AsyncSession,
    by: Caller | None,
    action: str,
    before: dict[str, Any],
    view: OrderView,
    *,
    now: datetime,
    status_code: int = 200,
    **details: Any,
) -> None:
    """The audit row of a staff operation, in the operation's final transaction (none for ``by=None``)."""
    if by is not None:
        order = view.order
        after = _state(order) | {k: v for k, v in details.items() if v is not None}
        await by.record(
            session, action=f"order.{action}", target_type="order", target_id=order.id,
            before=before, after=after, status_code=status_code, now=now,
        )  # fmt: skip


async def _payment_of(payments: payment_ops.Payments, order: Order) -> Payment | None:
    if order.payment_id is None:
        return None
    async with transaction(payments.sessions) as session:
        return await session.get(Payment, order.payment_id)


async def _order(payments: payment_ops.Payments, order_id: str) -> OrderView:
    async with transaction(payments.sessions) as session:
        return await service.load(session, order_id)


def _to_ship(view: OrderView, shipment: Shipment) -> dict[str, int]:
    left = {line.line_id: line.quantity_current - line.quantity_fulfilled for line in view.lines}
    wanted = dict(shipment.lines) if shipment.lines is not None else {k: v for k, v in left.items() if v > 0}
    for index, (line_id, quantity) in enumerate(wanted.items()):
        if line_id not in left:
            raise InvalidRequest(f"Order has no line {line_id!r}.", param=f"$.line_items[{index}].id")
        if not 0 < quantity <= left[line_id]:
            raise InvalidRequest(
                f"Line {line_id} has {left[line_id]} left to ship.", param=f"$.line_items[{index}].quantity"
            )
    if not wanted:
        raise OrderStateError(f"Order {view.order.id} has nothing left to ship.")
    return wanted


async def fulfil(
    payments: payment_ops.Payments,
    order_id: str,
    shipment: Shipment,
    *,
    now: datetime,
    by: Caller | None = None,
) -> OrderView:
    """Ship lines; the first shipment captures an authorized payment (capture at fulfilment)."""
    view = await _order(payments, order_id)
    if view.order.status not in FULFILLABLE:
        raise OrderStateError(f"Order {order_id} is {view.order.status}; it cannot be shipped.")
    wanted = _to_ship(view, shipment)
    payment = await _payment_of(payments, view.order)
    if payment is not None and payment.status == "authorized":
        await payment_ops.capture(payments, payment.id, now=now)
    async with transaction(payments.sessions) as session:
        view = await service.load(session, order_id, lock=True)
        wanted = _to_ship(view, shipment)  # again, under the lock
        before = _state(view.order)
        for line in view.lines:
            line.quantity_fulfilled += wanted.get(line.line_id, 0)
        event = {"id": _id("fev"), "type": "shipped", "occurred_at": rfc3339(now)}
        fulfillment_id = _id("ful")
        session.add(
            OrderFulfillment(
                id=fulfillment_id,
                order_id=order_id,
                type=shipment.type,
                status="shipped",
                line_items=[{"id": k, "quantity": v} for k, v in wanted.items()],
                carrier=shipment.carrier,
                tracking_number=shipment.tracking_number,
                tracking_url=shipment.tracking_url,
                events=[event],
                created_at=now,
                updated_at=now,
            )
        )
        await inventory.commit(session, order_id, now=now)
        done = all(line.quantity_fulfilled >= line.quantity_current for line in view.lines)
        view.order.status, view.order.updated_at = (SHIPPED if done else PROCESSING), now
        await _audit(
            session, by, "fulfil", before, view, now=now, status_code=201,
            fulfillment_id=fulfillment_id, lines=wanted, tracking_number=shipment.tracking_number,
        )  # fmt: skip
        return await webhooks.emit_update(session, order_id, now=now)


async def cancel(
    payments: payment_ops.Payments, order_id: str, *, reason: str, now: datetime, by: Caller | None = None
) -> OrderView:
    """Cancel an order nothing of which has shipped: release the authorization or refund it all."""
    return await _cancel(payments, order_id, reason=reason, now=now, by=by, action="cancel")


async def _cancel(
    payments: payment_ops.Payments,
    order_id: str,
    *,
    reason: str,
    now: datetime,
    by: Caller | None,
    action: str,
) -> OrderView:
    view = await _order(payments, order_id)
    order = view.order
    if order.status == CANCELED:
        return view
    if any(line.quantity_fulfilled for line in view.lines):
        raise OrderStateError(f"Order {order_id} has shipped lines; refund them instead of canceling.")
    payment = await _payment_of(payments, order)
    refunded = 0
    if payment is not None and payment.status == "authorized":
        await payment_ops.cancel(payments, payment.id, now=now)
    elif payment is not None and payment.status == "captured":
        refundable = payment.amount_captured - payment.amount_refunded
        if refundable > 0:
            await payment_ops.refund(payments, payment.id, refundable, now=now)
            refunded = refundable
    async with transaction(payments.sessions) as session:
        view = await service.load(session, order_id, lock=True)
        before = _state(view.order)
        released = await inventory.release(session, order_id=order_id, now=now)
        if not released:  # captured earlier: the units were sold, put them back
            await inventory.restock(session, _quantities(view))
        for line in view.lines:
            line.quantity_current = 0
        view.order.amount_refunded += refunded
        view.order.status, view.order.updated_at = CANCELED, now
        _adjust(session, view, "cancellation", amount=refunded or None, reason=reason, now=now)
        await _audit(session, by, action, before, view, now=now, reason=reason, refunded=refunded or None)
        return await webhooks.emit_update(session, order_id, now=now)


async def refund(
    payments: payment_ops.Payments,
    order_id: str,
    amount: int,
    *,
    reason: str,
    restock: Sequence[tuple[str, int]] = (),
    request_key: str | None = None,
    now: datetime,
    by: Caller | None = None,
) -> OrderView:
    """Refund part of a captured order, optionally putting returned units back in stock.

    With ``request_key`` a retried request (even after a crash) refunds and records once.
    """
    view = await _order(payments, order_id)
    if view.order.status in (CANCELED, MANUAL_REVIEW):
        raise OrderStateError(f"Order {order_id} is {view.order.status}; it cannot be refunded.")
    payment = await _payment_of(payments, view.order)
    if payment is None or payment.status != "captured":
        raise OrderStateError(f"Order {order_id} has no captured payment to refund.")
    row = await payment_ops.refund(payments, payment.id, amount, request_key=request_key, now=now)
    async with transaction(payments.sessions) as session:
        view = await service.load(session, order_id, lock=True)
        if any(adjustment.refund_id == row.id for adjustment in view.adjustments):
            return view  # recorded by the first try of this request
        before = _state(view.order)
        lines = {line.line_id: line for line in view.lines}
        back: dict[str, int] = {}
        for line_id, quantity in restock:
            line = lines[line_id]
            back[line.variant_id] = back.get(line.variant_id, 0) + quantity
            line.quantity_current = max(0, line.quantity_current - quantity)
        await inventory.restock(session, back)
        view.order.amount_refunded += row.amount
        view.order.updated_at = now
        _adjust(session, view, "refund", amount=row.amount, reason=reason, now=now, refund_id=row.id,
                lines=[{"id": k, "quantity": v} for k, v in restock])  # fmt: skip
        await _audit(session, by, "refund", before, view, now=now, amount=row.amount, refund_id=row.id,
                     reason=reason, restocked=dict(restock) or None)  # fmt: skip
        return await webhooks.emit_update(session, order_id, now=now)


def _quantities(view: OrderView) -> dict[str, int]:
    back: dict[str, int] = {}
    for line in view.lines:
        back[line.variant_id] = back.get(line.variant_id, 0) + line.quantity_current
    return back


def _adjust(
    session: AsyncSession,
    view: OrderView,
    kind: str,
    *,
    amount: int | None,
    reason: str,
    now: datetime,
    refund_id: str | None = None,
    lines: list[dict[str, Any]] | None = None,
) -> None:
    session.add(
        OrderAdjustment(
            id=_id("adj"),
            order_id=view.order.id,
            type=kind,
            status="completed",
            amount=amount,
            reason=reason,
            line_items=lines or [],
            refund_id=refund_id,
            created_at=now,
            updated_at=now,
        )
    )


async def approve(
    payments: payment_ops.Payments, order_id: str, *, reason: str, now: datetime, by: Caller | None = None
) -> OrderView:
    """A reviewed order is good: ``confirmed``. Digital orders are captured now; physical ones
    keep their authorization until they ship (capture at fulfilment)."""
    view = await _order(payments, order_id)
    if view.order.status != MANUAL_REVIEW:
        raise OrderStateError(f"Order {order_id} is {view.order.status}, not waiting for review.")
    payment = await _payment_of(payments, view.order)
    digital = (view.order.fulfillment_option or {}).get("type") == "digital"
    if payment is not None and payment.status == "authorized" and digital:
        await payment_ops.capture(payments, payment.id, now=now)
    async with transaction(payments.sessions) as session:
        view = await service.load(session, order_id, lock=True)
        if view.order.status != MANUAL_REVIEW:
            raise OrderStateError(f"Order {order_id} is {view.order.status}, not waiting for review.")
        before = _state(view.order)
        view.order.status, view.order.updated_at = CONFIRMED, now
        _note(session, order_id, f"Approved after review: {reason}", None, now)
        await _audit(session, by, "approve", before, view, now=now, reason=reason)
        return await webhooks.emit_update(session, order_id, now=now)


async def reject(
    payments: payment_ops.Payments, order_id: str, *, reason: str, now: datetime, by: Caller | None = None
) -> OrderView:
    """A reviewed order is refused: the authorization is released, the stock returned, ``canceled``."""
    view = await _order(payments, order_id)
    if view.order.status != MANUAL_REVIEW:
        raise OrderStateError(f"Order {order_id} is {view.order.status}, not waiting for review.")
    return await _cancel(
        payments, order_id, reason=f"rejected after review: {reason}", now=now, by=by, action="reject"
    )


async def add_note(
    payments: payment_ops.Payments, order_id: str, text: str, *, author: str | None, now: datetime,
    by: Caller | None = None,
) -> OrderView:  # fmt: skip
    async with transaction(payments.sessions) as session:
        view = await service.load(session, order_id)
        note_id = _note(session, order_id, text, author, now)
        await session.flush()
        await _audit(session, by, "note", _state(view.order), view, now=now, status_code=201, note_id=note_id)
        return view


def _note(session: AsyncSession, order_id: str, text: str, author: str | None, now: datetime) -> str:
    note_id = _id("note")
    session.add(OrderNote(id=note_id, order_id=order_id, author_key_id=author, text=text, created_at=now))
    return note_id


FULFILLMENT_EVENTS = (
    "processing",
    "shipped",
    "in_transit",
    "out_for_delivery",
    "ready_for_pickup",
    "delivered",
    "failed_attempt",
    "returned_to_sender",
    "canceled",
    "undeliverable",
)
_STATUS_OF_EVENT = {"failed_attempt": "in_transit", "returned_to_sender": "failed", "undeliverable": "failed"}


async def add_fulfillment_event(
    payments: payment_ops.Payments,
    order_id: str,
    fulfillment_id: str,
    kind: str,
    *,
    description: str | None = None,
    location: str | None = None,
    occurred_at: datetime | None = None,
    now: datetime,
    by: Caller | None = None,
) -> OrderView:
    """Append a carrier event to a shipment; the order is ``completed`` once everything is delivered."""
    if kind not in FULFILLMENT_EVENTS:
        raise InvalidRequest(f"Unknown fulfilment event {kind!r}.", param="$.type")
    async with transaction(payments.sessions) as session:
        view = await service.load(session, order_id, lock=True)
        fulfillment = next((f for f in view.fulfillments if f.id == fulfillment_id), None)
        if fulfillment is None:
            raise service.OrderNotFound(f"Order {order_id} has no fulfilment {fulfillment_id!r}.")
        before = _state(view.order)
        event: dict[str, Any] = {"id": _id("fev"), "type": kind, "occurred_at": rfc3339(occurred_at or now)}
        event |= {k: v for k, v in (("description", description), ("location", location)) if v}
        fulfillment.events = [*fulfillment.events, event]
        fulfillment.status, fulfillment.updated_at = _STATUS_OF_EVENT.get(kind, kind), now
        shipped_all = all(line.quantity_fulfilled >= line.quantity_current for line in view.lines)
        delivered_all = all(f.status == "delivered" for f in view.fulfillments)
        if shipped_all and delivered_all and view.order.status != CANCELED:
            view.order.status = COMPLETED
        view.order.updated_at = now
        await _audit(session, by, "fulfillment_event", before, view, now=now,
                     fulfillment_id=fulfillment_id, event=kind)  # fmt: skip
        return await webhooks.emit_update(session, order_id, now=now)


def value_of_lines(view: OrderView, lines: Sequence[tuple[str, int]]) -> int:
    """What ``lines`` cost the buyer, tax included: each line's total, pro rata of its quantity."""
    by_id = {line.line_id: line for line in view.lines}
    amount = 0
    for index, (line_id, quantity) in enumerate(lines):
        line = by_id.get(line_id)
        if line is None:
            raise InvalidRequest(f"Order has no line {line_id!r}.", param=f"$.lines[{index}].id")
        amount += round(line.total * quantity / line.quantity_ordered)
    return amount
