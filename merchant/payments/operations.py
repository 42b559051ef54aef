"""Capture, cancel and refund a payment: two transactions around one PSP call.

Each operation checks and records its intent in a first transaction, calls the PSP outside any
transaction with an idempotency key derived from our rows (``acp-cap-<payment>``,
``acp-cancel-<payment>``, ``acp-refund-<refund>``), then records the answer in a second one. A
crash or timeout in between is repaired by running the same operation again: the PSP replays
its first answer instead of acting twice. Used by order fulfilment and by the admin API.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from merchant.db.transaction import transaction
from merchant.errors import InvalidRequest, InvalidState, ServiceUnavailable
from merchant.payments import service
from merchant.payments.gateway import (
    ChargeStatus,
    GatewayError,
    GatewayRejected,
    GatewayUnavailable,
    PaymentGateway,
)
from merchant.payments.models import Payment, Refund

REFUND_REASONS = ("requested_by_customer", "duplicate", "fraudulent")


class PaymentStateError(InvalidState):
    code = "payment_state_invalid"


class PaymentProviderUnavailable(ServiceUnavailable):
    code = "payment_provider_unavailable"


@dataclass(frozen=True, slots=True)
class Payments:
    sessions: async_sessionmaker[AsyncSession]
    gateway: PaymentGateway


def _unavailable(exc: Exception) -> PaymentProviderUnavailable:
    return PaymentProviderUnavailable(f"The payment provider did not complete the operation: {exc}")


async def _locked(session: AsyncSession, payment_id: str) -> Payment:
    return await service.lock(session, payment_id)


async def capture(
    payments: Payments, payment_id: str, *, amount: int | None = None, now: datetime
) -> Payment:
    """Capture an authorized payment (all of it by default; less releases the rest)."""
    async with transaction(payments.sessions) as session:
        payment = await _locked(session, payment_id)
        if payment.status == "captured":
            return payment
        if payment.status != "authorized" or payment.payment_intent_id is None:
            raise PaymentStateError(
                f"Payment {payment_id} is {payment.status}; only an authorization is captured."
            )
        wanted = payment.amount if amount is None else amount
        if not 0 < wanted <= payment.amount:
            raise InvalidRequest(f"Capture between 1 and {payment.amount}.", param="$.amount")
        intent_id = payment.payment_intent_id
    try:
        result = await payments.gateway.capture(
            intent_id, wanted, idempotency_key=service.psp_key(payment_id, "cap")
        )
    except (GatewayUnavailable, GatewayError) as exc:
        raise _unavailable(exc) from exc
    except GatewayRejected as exc:
        raise PaymentStateError(f"The payment provider refused the capture: {exc}") from exc
    async with transaction(payments.sessions) as session:
        payment = await _locked(session, payment_id)
        service.record_charge(payment, result, now=now)
        if result.status is ChargeStatus.captured:
            payment.amount_captured = result.amount_captured or wanted
        return payment


async def cancel(
    payments: Payments, payment_id: str, *, reason: str = "requested_by_customer", now: datetime
) -> Payment:
    """Release an authorization (nothing was captured, nothing is refunded)."""
    async with transaction(payments.sessions) as session:
        payment = await _locked(session, payment_id)
        if payment.status == "canceled":
            return payment
        if payment.status != "authorized" or payment.payment_intent_id is None:
            raise PaymentStateError(
                f"Payment {payment_id} is {payment.status}; only an authorization is canceled."
            )
        intent_id = payment.payment_intent_id
    key = service.psp_key(payment_id, "cancel")
    try:
        result = await payments.gateway.cancel(intent_id, reason=reason, idempotency_key=key)
    except (GatewayUnavailable, GatewayError) as exc:
        raise _unavailable(exc) from exc
    except GatewayRejected as exc:
        raise PaymentStateError(f"The payment provider refused the cancellation: {exc}") from exc
    async with transaction(payments.sessions) as session:
        payment = await _locked(session, payment_id)
        service.record_charge(payment, result, now=now)
        return payment


async def _pending_refunds(session: AsyncSession, payment_id: str) -> int:
    rows = await session.scalars(
        select(Refund.amount).where(Refund.payment_id == payment_id, Refund.status == "pending")
    )
    return sum(rows)


async def refund(
    payments: Payments,
    payment_id: str,
    amount: int,
    *,
    reason: str = "requested_by_customer",
    request_key: str | None = None,
    now: datetime,
) -> Refund:
    """Refund part or all of a captured payment; never more than was captured.

    ``request_key`` (the caller's Idempotency-Key) makes a retried request find its refund
    instead of making a second one, also after a crash between the refund and the answer.
    """
    if reason not in REFUND_REASONS:
        raise InvalidRequest(f"reason must be one of {', '.join(REFUND_REASONS)}.", param="$.reason")
    if request_key is not None:
        earlier = await _refund_for_request(payments, payment_id, request_key)
        if earlier is not None:
            if earlier.status != "pending":
                return earlier
            intent_id = await _intent_id(payments, payment_id)
            return await _send_refund(
                payments, earlier.id, intent_id, earlier.amount, earlier.reason, now=now
            )
    async with transaction(payments.sessions) as session:
        payment = await _locked(session, payment_id)
        if payment.status != "captured" or payment.payment_intent_id is None:
            raise PaymentStateError(
                f"Payment {payment_id} is {payment.status}; only a captured payment is refunded."
            )
        refundable = (
            payment.amount_captured - payment.amount_refunded - await _pending_refunds(session, payment_id)
        )
        if not 0 < amount <= refundable:
            raise InvalidRequest(
                f"At most {refundable} can be refunded.", code="refund_exceeds_capture", param="$.amount"
            )
        row = Refund(
            id=f"rf_{secrets.token_hex(12)}",
            payment_id=payment_id,
            amount=amount,
            reason=reason,
            status="pending",
            request_key=request_key,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        intent_id, refund_id = payment.payment_intent_id, row.id
    return await _send_refund(payments, refund_id, intent_id, amount, reason, now=now)


async def _refund_for_request(payments: Payments, payment_id: str, request_key: str) -> Refund | None:
    async with transaction(payments.sessions) as session:
        query = select(Refund).where(Refund.payment_id == payment_id, Refund.request_key == request_key)
        return await session.scalar(query)


async def _intent_id(payments: Payments, payment_id: str) -> str:
    async with transaction(payments.sessions) as session:
        payment = await session.get(Payment, payment_id)
        if payment is None or payment.payment_intent_id is None:
            raise PaymentStateError(f"Payment {payment_id} has no payment intent.")
        return payment.payment_intent_id


async def _send_refund(
    payments: Payments, refund_id: str, intent_id: str, amount: int, reason: str, *, now: datetime
) -> Refund:
    """Ask the PSP for a recorded refund (again, after a failure: same key, no second refund)."""
    key = service.psp_key(refund_id, "refund")
    try:
        result = await payments.gateway.refund(intent_id, amount, reason=reason, idempotency_key=key)
    except (GatewayUnavailable, GatewayError) as exc:
        raise _unavailable(exc) from exc
    except GatewayRejected as exc:
        async with transaction(payments.sessions) as session:
            row = await session.get(Refund, refund_id, with_for_update=True)
            assert row is not None
            row.status, row.updated_at = "failed", now
        raise PaymentStateError(f"The payment provider refused the refund: {exc}") from exc
    async with transaction(payments.sessions) as session:
        row = await session.get(Refund, refund_id, with_for_update=True, populate_existing=True)
        assert row is not None
        payment = await _locked(session, row.payment_id)
        row.psp_refund_id, row.updated_at = result.refund_id, now
        if row.status == "pending" and result.status in ("succeeded", "pending"):
            # Stripe refunds are final for cards in practice; a later refund.failed webhook reverts.
            row.status = "succeeded"
            payment.amount_refunded += row.amount
            payment.updated_at = now
        return row
