"""Authorizations about to lapse: report them once, or cancel their orders (by configuration).

A card authorization lives about seven days (Stripe's ``capture_before``); an order that has not
shipped by then would lose its money silently. The periodic job looks ``authorization_deadline_hours``
ahead.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlalchemy import select

from merchant.db.transaction import transaction
from merchant.errors import DomainError
from merchant.merchant_config import MerchantConfig
from merchant.orders import operations
from merchant.payments.models import Payment
from merchant.payments.operations import Payments

log = structlog.get_logger(__name__)
REASON = "payment authorization about to expire"


async def lapsing(payments: Payments, config: MerchantConfig, *, now: datetime) -> list[tuple[str, str]]:
    """(payment id, order id) of authorizations that lapse within the window and were not reported."""
    horizon = now + timedelta(hours=config.payments.authorization_deadline_hours)
    async with transaction(payments.sessions) as session:
        rows = await session.execute(
            select(Payment.id, Payment.order_id).where(
                Payment.status == "authorized",
                Payment.order_id.is_not(None),
                Payment.capture_before < horizon,
                Payment.deadline_alerted_at.is_(None),
            )
        )
        return [(payment_id, order_id) for payment_id, order_id in rows if order_id]


async def act(payments: Payments, config: MerchantConfig, *, now: datetime) -> dict[str, str]:
    """Report or cancel each lapsing authorization; what was done, by order id."""
    done: dict[str, str] = {}
    for payment_id, order_id in await lapsing(payments, config, now=now):
        outcome = "alerted"
        if config.payments.authorization_deadline_action == "cancel":
            try:
                await operations.cancel(payments, order_id, reason=REASON, now=now)
                outcome = "canceled"
            except DomainError as exc:  # shipped meanwhile, or the provider refused: staff decide
                outcome = f"alerted (not canceled: {exc.message})"
        if outcome != "canceled":
            log.error("payments.authorization_lapsing", order_id=order_id, payment_id=payment_id)
        async with transaction(payments.sessions) as session:
            payment = await session.get(Payment, payment_id, with_for_update=True)
            if payment is not None:
                payment.deadline_alerted_at = now
        done[order_id] = outcome
    return done
