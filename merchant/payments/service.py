"""Payment records: start an attempt, record what the PSP answered (no HTTP, no PSP calls).

The caller owns the transaction. ``start`` must be committed before the PSP is called (the
attempt's id is the PSP idempotency key), ``record_charge`` in the transaction that acts on
the result.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.payments.gateway import CaptureMethod, ChargeResult, ChargeStatus, TokenInfo
from merchant.payments.models import LIVE_STATUSES, Payment

CHARGING = "charging"


def psp_key(payment_id: str, operation: str = "pay") -> str:
    """The idempotency key the PSP sees: derived from our row, never random."""
    return f"acp-{operation}-{payment_id}"


async def live_payment(
    session: AsyncSession, checkout_session_id: str, *, lock: bool = False
) -> Payment | None:
    """The session's payment being made or made (at most one, by a unique index)."""
    query = select(Payment).where(
        Payment.checkout_session_id == checkout_session_id, Payment.status.in_(LIVE_STATUSES)
    )
    return await session.scalar(query.with_for_update() if lock else query)


def _token_details(info: TokenInfo | None) -> dict[str, Any] | None:
    if info is None:
        return None
    return {
        "usable": info.usable,
        "reason": info.reason,
        "currency": info.currency,
        "max_amount": info.max_amount,
        "expires_at": info.expires_at.isoformat() if info.expires_at else None,
        "risk": dict(info.risk) if info.risk else None,
    }


async def start(
    session: AsyncSession,
    *,
    checkout_session_id: str,
    handler_id: str,
    credential_type: str,
    token: str,
    amount: int,
    currency: str,
    capture_method: CaptureMethod,
    token_info: TokenInfo | None,
    unit_prices: dict[str, int],
    now: datetime,
) -> Payment:
    payment_id = f"pay_{secrets.token_hex(12)}"
    payment = Payment(
        id=payment_id,
        checkout_session_id=checkout_session_id,
        status=CHARGING,
        handler_id=handler_id,
        credential_type=credential_type,
        token=token,
        amount=amount,
        currency=currency.upper(),
        capture_method=capture_method,
        idempotency_key=psp_key(payment_id),
        card=dict(token_info.card) if token_info else {},
        token_details=_token_details(token_info),
        unit_prices=unit_prices,
        created_at=now,
        updated_at=now,
    )
    session.add(payment)
    await session.flush()
    return payment


async def lock(session: AsyncSession, payment_id: str) -> Payment:
    query = select(Payment).where(Payment.id == payment_id).with_for_update()
    payment = await session.scalar(query.execution_options(populate_existing=True))
    if payment is None:  # pragma: no cover - rows are never deleted
        raise LookupError(payment_id)
    return payment


def record_charge(payment: Payment, result: ChargeResult, *, now: datetime) -> None:
    """Store the PSP's answer on the attempt."""
    payment.status = result.status.value
    payment.payment_intent_id = result.payment_intent_id or payment.payment_intent_id
    payment.charge_id = result.charge_id or payment.charge_id
    if result.status is ChargeStatus.captured:
        payment.amount_captured = result.amount_captured or payment.amount
    if result.card:
        payment.card = {**payment.card, **result.card}
    if result.outcome is not None:
        payment.outcome = dict(result.outcome)
    payment.capture_before = result.capture_before or payment.capture_before
    if result.decline is not None:
        payment.decline_code = result.decline.decline_code or result.decline.code
        payment.decline = {
            "code": result.decline.code,
            "decline_code": result.decline.decline_code,
            "message": result.decline.message,
            "advice_code": result.decline.advice_code,
        }
    payment.updated_at = now
