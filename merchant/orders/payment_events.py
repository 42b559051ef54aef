"""Act on a stored Stripe event: keep payments, orders and fraud assessments in step with Stripe.

Stripe is the source of truth for money: captures, cancellations (including expired
authorizations), refunds made elsewhere (the Stripe dashboard), disputes and early fraud
warnings all reach us here. Handling is idempotent: it compares Stripe's figures with ours and
changes only the difference, so a repeated or late event changes nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.fraud import service as fraud
from merchant.fraud.config import FraudConfig
from merchant.inventory import service as inventory
from merchant.orders import service as orders
from merchant.orders.models import Order, OrderAdjustment
from merchant.orders.service import CANCELED
from merchant.payments.models import Payment, StripeEvent
from merchant.webhooks import service as webhooks

log = structlog.get_logger(__name__)
Json = Mapping[str, Any]


async def _payment(session: AsyncSession, payment_intent_id: str | None) -> Payment | None:
    if not payment_intent_id:
        return None
    query = select(Payment).where(Payment.payment_intent_id == payment_intent_id).with_for_update()
    return await session.scalar(query)


async def _payment_of_intent(session: AsyncSession, intent: Json) -> Payment | None:
    """By the intent's id, or by our payment id in its metadata (a charge whose answer we lost)."""
    payment = await _payment(session, intent.get("id"))
    attempt = (intent.get("metadata") or {}).get("acp_attempt_id")
    if payment is None and attempt:
        payment = await session.scalar(select(Payment).where(Payment.id == attempt).with_for_update())
    return payment


async def _order(session: AsyncSession, payment: Payment | None) -> Order | None:
    if payment is None or payment.order_id is None:
        return None
    return await session.scalar(select(Order).where(Order.id == payment.order_id).with_for_update())


def _adjustment(
    order: Order, kind: str, status: str, amount: int | None, reason: str, now: datetime
) -> OrderAdjustment:
    return OrderAdjustment(
        id=f"adj_{secrets.token_hex(12)}",
        order_id=order.id,
        type=kind,
        status=status,
        amount=amount,
        reason=reason,
        line_items=[],
        created_at=now,
        updated_at=now,
    )


async def _captured(session: AsyncSession, data: Json, fraud_config: FraudConfig, now: datetime) -> str:
    payment = await _payment(session, data.get("id"))
    if payment is None or payment.status == "captured":
        return "nothing to do"
    payment.status, payment.updated_at = "captured", now
    payment.amount_captured = int(data.get("amount_received") or payment.amount)
    if payment.order_id:
        await inventory.commit(session, payment.order_id, now=now)
    return "payment captured"


async def _canceled(session: AsyncSession, data: Json, fraud_config: FraudConfig, now: datetime) -> str:
    """An authorization canceled at Stripe (expired, or canceled in the dashboard)."""
    payment = await _payment(session, data.get("id"))
    if payment is None or payment.status in ("canceled", "captured"):
        return "nothing to do"
    payment.status, payment.updated_at = "canceled", now
    order = await _order(session, payment)
    if order is None or order.status == CANCELED:
        return "payment canceled"
    view = await orders.load(session, order.id)
    if any(line.quantity_fulfilled for line in view.lines):
        log.error("payments.authorization_lost_after_shipping", order_id=order.id)
        return "payment canceled after shipping: needs staff"
    await inventory.release(session, order_id=order.id, now=now)
    for line in view.lines:
        line.quantity_current = 0
    order.status, order.updated_at = CANCELED, now
    reason = str(data.get("cancellation_reason") or "authorization canceled at the payment provider")
    session.add(_adjustment(order, "cancellation", "completed", None, reason, now))
    await webhooks.emit_update(session, order.id, now=now)
    return "order canceled"


async def _failed(session: AsyncSession, data: Json, fraud_config: FraudConfig, now: datetime) -> str:
    """A charge whose answer never reached us failed: its held stock goes back."""
    payment = await _payment_of_intent(session, data)
    if payment is None or payment.status != "charging":
        return "nothing to do"
    error = data.get("last_payment_error") or {}
    payment.status, payment.updated_at = "declined", now
    payment.payment_intent_id = payment.payment_intent_id or data.get("id")
    payment.decline_code = error.get("decline_code") or error.get("code")
    await inventory.release(session, checkout_session_id=payment.checkout_session_id, now=now)
    return "payment declined"


async def _refunded(session: AsyncSession, data: Json, fraud_config: FraudConfig, now: datetime) -> str:
    """A charge's refunded total (refunds made by us are already counted; others are added)."""
    payment = await _payment(session, data.get("payment_intent"))
    if payment is None:
        return "unknown payment"
    refunded = int(data.get("amount_refunded") or 0)
    missing = refunded - payment.amount_refunded
    if missing <= 0:
        return "nothing to do"
    payment.amount_refunded, payment.updated_at = refunded, now
    order = await _order(session, payment)
    if order is not None:
        order.amount_refunded = min(order.total, order.amount_refunded + missing)
        order.updated_at = now
        session.add(
            _adjustment(order, "refund", "completed", missing, "refunded at the payment provider", now)
        )
        await webhooks.emit_update(session, order.id, now=now)
    return f"refund of {missing} recorded"


async def _dispute(session: AsyncSession, data: Json, fraud_config: FraudConfig, now: datetime) -> str:
    payment = await _payment(session, data.get("payment_intent"))
    order = await _order(session, payment)
    if order is None:
        return "unknown payment"
    closed = data.get("status") in ("won", "lost", "warning_closed", "charge_refunded")
    reason = f"dispute {data.get('id')}: {data.get('reason') or 'unspecified'} ({data.get('status')})"
    session.add(
        _adjustment(order, "dispute", "completed" if closed else "pending", data.get("amount"), reason, now)
    )
    detail = {"dispute": data.get("id"), "reason": data.get("reason"), "status": data.get("status")}
    await fraud.record_event(
        session, order_id=order.id, kind="dispute", detail=detail, config=fraud_config, now=now
    )
    await webhooks.emit_update(session, order.id, now=now)
    return "dispute recorded"


async def _early_fraud_warning(
    session: AsyncSession, data: Json, fraud_config: FraudConfig, now: datetime
) -> str:
    payment = await _payment(session, data.get("payment_intent"))
    order = await _order(session, payment)
    if order is None:
        return "unknown payment"
    detail = {
        "warning": data.get("id"),
        "fraud_type": data.get("fraud_type"),
        "actionable": data.get("actionable"),
    }
    await fraud.record_event(
        session, order_id=order.id, kind="early_fraud_warning", detail=detail, config=fraud_config, now=now
    )
    return "early fraud warning recorded"


Handler = Callable[[AsyncSession, Json, FraudConfig, datetime], Awaitable[str]]
HANDLERS: dict[str, Handler] = {
    "payment_intent.succeeded": _captured,
    "payment_intent.canceled": _canceled,
    "payment_intent.payment_failed": _failed,
    "charge.refunded": _refunded,
    "charge.dispute.created": _dispute,
    "charge.dispute.closed": _dispute,
    "radar.early_fraud_warning.created": _early_fraud_warning,
}


async def handle(session: AsyncSession, event_id: str, fraud_config: FraudConfig, *, now: datetime) -> str:
    """Handle one stored event (once: a handled event is skipped)."""
    query = select(StripeEvent).where(StripeEvent.id == event_id).with_for_update(skip_locked=True)
    event = await session.scalar(query)
    if event is None or event.processed_at is not None:
        return "already handled"
    handler = HANDLERS.get(event.type)
    data = (event.payload.get("data") or {}).get("object") or {}
    outcome = await handler(session, data, fraud_config, now) if handler else "ignored"
    event.processed_at, event.outcome = now, outcome
    log.info("payments.stripe_event_handled", event_id=event_id, type=event.type, outcome=outcome)
    return outcome
