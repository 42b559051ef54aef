"""Payments as stored: one row per attempt to charge a delegated credential, and its refunds.

An attempt is written (status ``charging``) and committed *before* the PSP is called, with the
idempotency key the PSP will see (``acp-pay-<attempt id>``): a crash or a timeout after the call
leaves a row that the next retry resumes with the same key, so the PSP answers with the first
result instead of charging again. At most one live payment per checkout session (partial unique
index), whatever keys or tokens agents retry with.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from merchant.db.base import Base, sql_in

PAYMENT_STATUSES = (
    "charging",
    "authorized",
    "captured",
    "declined",
    "requires_action",
    "canceled",
    "blocked",
)
LIVE_STATUSES = ("charging", "authorized", "captured")


class Payment(Base):
    __tablename__ = "payment"
    __table_args__ = (
        CheckConstraint(sql_in("status", PAYMENT_STATUSES), name="status"),
        CheckConstraint(sql_in("capture_method", ("manual", "automatic")), name="capture_method"),
        CheckConstraint("amount > 0 AND amount_captured >= 0 AND amount_refunded >= 0", name="amounts"),
        CheckConstraint("amount_refunded <= amount_captured", name="refund_within_capture"),
        Index(
            "uq_payment_live_per_session",
            "checkout_session_id",
            unique=True,
            postgresql_where=text(sql_in("status", LIVE_STATUSES)),
        ),
        Index("ix_payment_charging", "updated_at", postgresql_where=text("status = 'charging'")),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # pay_<24 hex>
    checkout_session_id: Mapped[str] = mapped_column(String(40), index=True)
    order_id: Mapped[str | None] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(16))
    handler_id: Mapped[str] = mapped_column(String(64))
    credential_type: Mapped[str] = mapped_column(String(32))
    token: Mapped[str] = mapped_column(Text)  # the delegated credential (spt_...), reused on resume
    amount: Mapped[int] = mapped_column(BigInteger)
    amount_captured: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    amount_refunded: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    currency: Mapped[str] = mapped_column(String(3))
    capture_method: Mapped[str] = mapped_column(String(16))
    psp: Mapped[str] = mapped_column(String(16), server_default=text("'stripe'"))
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)  # sent to the PSP
    payment_intent_id: Mapped[str | None] = mapped_column(String(64), index=True)
    charge_id: Mapped[str | None] = mapped_column(String(64))
    capture_before: Mapped[datetime | None]
    deadline_alerted_at: Mapped[datetime | None]  # staff were told the authorization will lapse
    card: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # the PSP's risk outcome
    token_details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # the pre-charge inspection
    # {variant id: unit amount} the charge was priced at: the order is made at these prices.
    unit_prices: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    decline_code: Mapped[str | None] = mapped_column(String(64))
    decline: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Refund(Base):
    __tablename__ = "payment_refund"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint(sql_in("status", ("pending", "succeeded", "failed", "canceled")), name="status"),
        Index("uq_payment_refund_request_key", "payment_id", "request_key", unique=True),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # rf_<24 hex>
    payment_id: Mapped[str] = mapped_column(ForeignKey("payment.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    psp_refund_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The caller's Idempotency-Key (staff API): a retried request finds its refund, never a second one.
    request_key: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class StripeEvent(Base):
    """The inbox of Stripe webhook events: stored once per event id, handled by a job."""

    __tablename__ = "stripe_event"
    __table_args__ = (
        Index("ix_stripe_event_unprocessed", "received_at", postgresql_where=text("processed_at IS NULL")),
    )

    id: Mapped[str] = mapped_column(String(80), primary_key=True)  # evt_...
    type: Mapped[str] = mapped_column(String(80))
    created: Mapped[datetime]  # when Stripe created it (events may arrive out of order)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())
    processed_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(Text)  # what handling did, for operations
