"""Wire shapes of the staff order API (``/admin/v1/orders``, ``/admin/v1/reviews``).

Money is integer minor units with the order's ISO 4217 currency. Lists are keyset pages:
``has_more`` and the ``next_cursor`` to send back as ``starting_after``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from merchant.orders.admin import OrderDetail, OrderPage
from merchant.orders.models import Order
from merchant.orders.operations import FULFILLMENT_EVENTS
from merchant.orders.wire_2026_04_17 import render_order

Reason = Annotated[str, Field(min_length=1, max_length=1000)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrderSummary(BaseModel):
    id: str
    order_number: str
    status: str
    currency: str
    total: int
    amount_refunded: int
    email: str | None
    buyer_name: str | None
    fraud_decision: str | None
    fraud_score: int | None
    platform_id: str | None
    created_at: datetime

    @classmethod
    def of(cls, order: Order) -> Self:
        return cls(
            id=order.id,
            order_number=str(order.number),
            status=order.status,
            currency=order.currency,
            total=order.total,
            amount_refunded=order.amount_refunded,
            email=order.email,
            buyer_name=order.buyer_display_name,
            fraud_decision=order.fraud_decision,
            fraud_score=order.fraud_score,
            platform_id=order.platform_id,
            created_at=order.created_at,
        )


class OrderList(BaseModel):
    data: list[OrderSummary]
    has_more: bool
    next_cursor: str | None = Field(description="Send as `starting_after` for the next page.")

    @classmethod
    def of(cls, page: OrderPage) -> Self:
        return cls(
            data=[OrderSummary.of(o) for o in page.items],
            has_more=page.has_more,
            next_cursor=page.next_cursor,
        )


class OrderDetailOut(BaseModel):
    summary: OrderSummary
    order: dict[str, Any] = Field(description="The ACP 2026-04-17 Order, as agents see it.")
    payments: list[dict[str, Any]]
    fraud: dict[str, Any] | None
    webhook_events: list[dict[str, Any]]
    notes: list[dict[str, Any]]
    timeline: list[dict[str, Any]]

    @classmethod
    def of(cls, found: OrderDetail) -> Self:
        refunds_by_payment: dict[str, list[dict[str, Any]]] = {}
        for refund in found.refunds:
            refunds_by_payment.setdefault(refund.payment_id, []).append(
                {
                    "id": refund.id,
                    "amount": refund.amount,
                    "status": refund.status,
                    "created_at": refund.created_at,
                }
            )
        payments = [
            {
                "id": p.id,
                "status": p.status,
                "amount": p.amount,
                "amount_captured": p.amount_captured,
                "amount_refunded": p.amount_refunded,
                "capture_method": p.capture_method,
                "capture_before": p.capture_before,
                "payment_intent_id": p.payment_intent_id,
                "card": p.card,
                "outcome": p.outcome,
                "decline": p.decline,
                "created_at": p.created_at,
                "refunds": refunds_by_payment.get(p.id, []),
            }
            for p in found.payments
        ]
        fraud = None
        if found.assessment is not None:
            fraud = {
                "id": found.assessment.id,
                "score": found.assessment.score,
                "decision": found.assessment.decision,
                "signals": [
                    {
                        "name": s.name,
                        "value": s.value,
                        "weight": s.weight,
                        "detail": s.detail,
                        "source": s.source,
                    }
                    for s in found.signals
                ],
            }
        attempts: dict[str, list[dict[str, Any]]] = {}
        for attempt in found.attempts:
            attempts.setdefault(attempt.event_id, []).append(
                {
                    "started_at": attempt.started_at,
                    "status_code": attempt.status_code,
                    "duration_ms": attempt.duration_ms,
                    "error": attempt.error,
                }
            )
        events = [
            {
                "id": e.id,
                "type": e.type,
                "sequence": e.sequence,
                "status": e.status,
                "attempts": attempts.get(e.id, []),
                "last_error": e.last_error,
                "created_at": e.created_at,
            }
            for e in found.events
        ]
        notes = [
            {"id": n.id, "author": n.author_key_id, "text": n.text, "created_at": n.created_at}
            for n in found.notes
        ]
        return cls(
            summary=OrderSummary.of(found.view.order),
            order=render_order(found.view),
            payments=payments,
            fraud=fraud,
            webhook_events=events,
            notes=notes,
            timeline=found.timeline(),
        )


class ReasonIn(_In):
    reason: Reason


class LineQuantity(_In):
    id: Annotated[str, Field(min_length=1, max_length=40, description="The order line id (li_0, ...).")]
    quantity: Annotated[int, Field(ge=1, le=100_000)]


class RefundIn(_In):
    amount: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="Minor units; default: the value of `lines`."
    )
    lines: list[LineQuantity] | None = None
    reason: Reason
    restock: bool = Field(default=False, description="Put the refunded lines' units back in stock.")

    @model_validator(mode="after")
    def _amount_or_lines(self) -> Self:
        if self.amount is None and not self.lines:
            raise ValueError("send an amount, lines, or both")
        return self


class FulfillmentIn(_In):
    lines: list[LineQuantity] | None = Field(default=None, description="Default: everything not shipped yet.")
    carrier: Annotated[str, Field(max_length=100)] | None = None
    tracking_number: Annotated[str, Field(max_length=100)] | None = None
    tracking_url: Annotated[str, Field(max_length=2000, pattern=r"^https?://")] | None = None


class FulfillmentEventIn(_In):
    type: Literal[FULFILLMENT_EVENTS]  # type: ignore[valid-type]
    description: Annotated[str, Field(max_length=1000)] | None = None
    location: Annotated[str, Field(max_length=200)] | None = None
    occurred_at: datetime | None = None


class NoteIn(_In):
    text: Annotated[str, Field(min_length=1, max_length=5000)]
