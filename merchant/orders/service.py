"""Orders: created from a paid checkout session, read back with their lines and history.

No HTTP and no wire format; the caller owns the transaction. The order is created in the
same transaction that records the successful payment, and ``checkout_session_id`` is unique,
so a session can never produce two orders.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.checkout.evaluate import Evaluation
from merchant.checkout.models import CheckoutSession
from merchant.errors import NotFound
from merchant.orders.models import Order, OrderAdjustment, OrderFulfillment, OrderLine

MANUAL_REVIEW, CONFIRMED, CANCELED = "manual_review", "confirmed", "canceled"
PERMALINK_PATH = "/order-status/{token}"  # served by merchant.orders.pages
PROCESSING, SHIPPED, COMPLETED = "processing", "shipped", "completed"


class OrderNotFound(NotFound):
    code = "order_not_found"


@dataclass(frozen=True, slots=True)
class OrderView:
    order: Order
    lines: list[OrderLine]
    adjustments: list[OrderAdjustment]
    fulfillments: list[OrderFulfillment]

    @property
    def number(self) -> str:
        return str(self.order.number)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _totals(evaluation: Evaluation) -> dict[str, Any]:
    totals = evaluation.totals
    return {
        "items_base_amount": totals.items_base_amount,
        "items_discount": totals.items_discount,
        "subtotal": totals.subtotal,
        "discount": totals.discount,
        "fulfillment": totals.fulfillment,
        "tax": totals.tax,
        "total": totals.total,
        "tax_inclusive": evaluation.tax_rule.inclusive,
        "tax_breakdown": [[name, amount] for name, amount in totals.tax_breakdown if amount],
    }


def _buyer_name(record: CheckoutSession) -> str | None:
    """The buyer's name as typed (``buyer_name`` is its lower-cased copy, for the prefix search)."""
    buyer = record.buyer or {}
    name = buyer.get("full_name") or " ".join(
        part for part in (buyer.get("first_name"), buyer.get("last_name")) if part
    )
    name = name or (record.fulfillment_details or {}).get("name") or ""
    return name.strip()[:300] or None


def _option(evaluation: Evaluation) -> dict[str, Any] | None:
    chosen = next((o for o in evaluation.options if o.id == evaluation.selected_option), None)
    if chosen is None:
        return None
    return {
        "id": chosen.id,
        "type": chosen.type,
        "title": chosen.title,
        "amount": chosen.amount,
        "carrier": chosen.carrier,
        "min_days": chosen.min_days,
        "max_days": chosen.max_days,
    }


async def create_from_checkout(
    session: AsyncSession,
    record: CheckoutSession,
    evaluation: Evaluation,
    *,
    payment_id: str,
    capture_method: str,
    review: bool,
    fraud: tuple[str, int] | None,
    public_base: str,
    now: datetime,
) -> OrderView:
    """The order of a paid session: a snapshot of what was bought and charged."""
    email = (record.buyer or {}).get("email")
    name = _buyer_name(record)
    token = secrets.token_urlsafe(24)
    order = Order(
        id=new_id("ord"),
        checkout_session_id=record.id,
        owner=record.owner,
        status=MANUAL_REVIEW if review else CONFIRMED,
        currency=record.currency,
        email=email.lower() if email else None,
        buyer_name=name.lower() if name else None,
        buyer_display_name=name,
        buyer=record.buyer,
        fulfillment_details=record.fulfillment_details,
        fulfillment_option=_option(evaluation),
        totals=_totals(evaluation),
        total=evaluation.totals.total,
        order_notes=record.order_notes,
        permalink_token=token,
        permalink_url=f"{public_base}{PERMALINK_PATH.format(token=token)}",
        platform_id=record.platform_id,
        payment_id=payment_id,
        capture_method=capture_method,
        fraud_decision=fraud[0] if fraud else None,
        fraud_score=fraud[1] if fraud else None,
        created_at=now,
        updated_at=now,
    )
    session.add(order)
    await session.flush()  # the order number comes from its sequence
    lines = [
        OrderLine(
            order_id=order.id,
            line_id=line.priced.id,
            position=position,
            variant_id=line.item.variant_id,
            title=line.item.title,
            unit_amount=line.priced.unit_amount,
            quantity_ordered=line.priced.quantity,
            quantity_current=line.priced.quantity,
            quantity_fulfilled=0,
            base_amount=line.priced.base_amount,
            discount=line.priced.discount,
            subtotal=line.priced.subtotal,
            tax=line.priced.tax,
            total=line.priced.total,
        )
        for position, line in enumerate(evaluation.lines)
    ]
    session.add_all(lines)
    await session.flush()
    return OrderView(order, lines, [], [])


async def order_id_for_session(session: AsyncSession, checkout_session_id: str) -> str | None:
    return await session.scalar(select(Order.id).where(Order.checkout_session_id == checkout_session_id))


async def load(session: AsyncSession, order_id: str, *, lock: bool = False) -> OrderView:
    query = select(Order).where(Order.id == order_id)
    order = await session.scalar(query.with_for_update() if lock else query)
    if order is None:
        raise OrderNotFound(f"No order {order_id!r}.")
    return await _view(session, order)


async def load_by_permalink(session: AsyncSession, token: str) -> OrderView | None:
    order = await session.scalar(select(Order).where(Order.permalink_token == token))
    return None if order is None else await _view(session, order)


async def _view(session: AsyncSession, order: Order) -> OrderView:
    lines = await session.scalars(
        select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.position)
    )
    adjustments = await session.scalars(
        select(OrderAdjustment)
        .where(OrderAdjustment.order_id == order.id)
        .order_by(OrderAdjustment.created_at, OrderAdjustment.id)
    )
    fulfillments = await session.scalars(
        select(OrderFulfillment)
        .where(OrderFulfillment.order_id == order.id)
        .order_by(OrderFulfillment.created_at, OrderFulfillment.id)
    )
    return OrderView(order, list(lines), list(adjustments), list(fulfillments))
