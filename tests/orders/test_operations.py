"""After checkout: fulfil (capturing the payment), cancel, refund; real PostgreSQL, Stripe emulator."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from merchant.db import create_sessionmaker
from merchant.errors import InvalidRequest
from merchant.inventory.models import InventoryHold
from merchant.kit.clock import utc_now
from merchant.orders import operations
from merchant.orders.service import OrderView
from merchant.orders.wire_2026_04_17 import render_order
from merchant.payments.models import Payment
from merchant.payments.operations import Payments
from merchant.payments.stripe_emulator import StripeEmulator
from tests.catalog.acp_schema import CHECKOUT_SCHEMA_PATH, schema_problems
from tests.checkout.purchase import Agent, scalar, stock

pytestmark = pytest.mark.usefixtures("committed")


@pytest.fixture
def payments(app: FastAPI, committed: AsyncEngine) -> Payments:
    return Payments(create_sessionmaker(committed), app.state.payment_gateway)


def valid(view: OrderView) -> dict[str, Any]:
    body = render_order(view)
    assert schema_problems(body, "Order", CHECKOUT_SCHEMA_PATH) == []
    return body


async def payment_of(engine: AsyncEngine, order_id: str) -> Payment:
    payment: Payment = await scalar(engine, select(Payment).where(Payment.order_id == order_id))
    return payment


async def test_shipping_captures_the_authorization(
    agent: Agent, stripe: StripeEmulator, payments: Payments, committed: AsyncEngine
) -> None:
    order = await agent.buy(stripe)
    first = await operations.fulfil(
        payments, order["id"], operations.Shipment(lines=[("li_0", 1)], carrier="UPS"), now=utc_now()
    )
    assert first.order.status == "processing"  # one of two shirts shipped
    payment = await payment_of(committed, order["id"])
    assert (payment.status, payment.amount_captured) == ("captured", payment.amount)
    assert stripe.payment_intent(payment.payment_intent_id or "")["status"] == "succeeded"

    done = await operations.fulfil(
        payments, order["id"], operations.Shipment(tracking_number="1Z"), now=utc_now()
    )
    body = valid(done)
    assert body["status"] == "shipped"
    assert body["line_items"][0]["quantity"] == {"ordered": 2, "current": 2, "fulfilled": 2}
    assert [f["line_items"] for f in body["fulfillments"]] == [
        [{"id": "li_0", "quantity": 1}],
        [{"id": "li_0", "quantity": 1}],
    ]
    statuses = await scalar(
        committed, select(InventoryHold.status).where(InventoryHold.order_id == order["id"])
    )
    assert statuses == "committed"
    with pytest.raises(operations.OrderStateError, match="nothing left to ship"):
        await operations.fulfil(payments, order["id"], operations.Shipment(), now=utc_now())
    with pytest.raises(operations.OrderStateError, match="refund them"):
        await operations.cancel(payments, order["id"], reason="too late", now=utc_now())


async def test_cancel_releases_the_authorization_and_the_stock(
    agent: Agent, stripe: StripeEmulator, payments: Payments, committed: AsyncEngine
) -> None:
    before = await stock(committed)
    order = await agent.buy(stripe)
    assert await stock(committed) == (before or 0) - 2
    canceled = await operations.cancel(
        payments, order["id"], reason="buyer changed their mind", now=utc_now()
    )
    body = valid(canceled)
    assert body["status"] == "canceled"
    assert [(a["type"], a["reason"]) for a in body["adjustments"]] == [
        ("cancellation", "buyer changed their mind")
    ]
    assert await stock(committed) == before
    payment = await payment_of(committed, order["id"])
    assert stripe.payment_intent(payment.payment_intent_id or "")["status"] == "canceled"
    again = await operations.cancel(payments, order["id"], reason="again", now=utc_now())
    assert len(again.adjustments) == 1  # canceling twice changes nothing


async def test_refunds_never_exceed_the_capture(
    agent: Agent, stripe: StripeEmulator, payments: Payments, committed: AsyncEngine
) -> None:
    order = await agent.buy(stripe)
    with pytest.raises(operations.OrderStateError, match="no captured payment"):
        await operations.refund(payments, order["id"], 100, reason="early", now=utc_now())
    await operations.fulfil(payments, order["id"], operations.Shipment(), now=utc_now())
    before = await stock(committed)
    refunded = await operations.refund(
        payments, order["id"], 500, reason="one shirt returned", restock=[("li_0", 1)], now=utc_now()
    )
    body = valid(refunded)
    totals = {t["type"]: t["amount"] for t in body["totals"]}
    assert (totals["amount_refunded"], totals["total"]) == (500, refunded.order.total)
    assert [(a["type"], a["amount"], a["line_items"]) for a in body["adjustments"]] == [
        ("refund", 500, [{"id": "li_0", "quantity": 1}])
    ]
    assert await stock(committed) == (before or 0) + 1
    left = refunded.order.total - 500
    with pytest.raises(InvalidRequest, match=f"At most {left}"):
        await operations.refund(payments, order["id"], left + 1, reason="too much", now=utc_now())
    rest = await operations.refund(payments, order["id"], left, reason="all of it", now=utc_now())
    assert rest.order.amount_refunded == rest.order.total
    payment = await payment_of(committed, order["id"])
    assert payment.amount_refunded == payment.amount_captured
    refunds = [
        e.idempotency_key or ""
        for e in stripe.journal
        if (e.method, e.path) == ("POST", "/v1/refunds")
        and e.params["payment_intent"] == payment.payment_intent_id
    ]
    assert [key.startswith("acp-refund-rf_") for key in refunds] == [True, True]


async def test_a_retried_refund_request_refunds_once(
    agent: Agent, stripe: StripeEmulator, payments: Payments, committed: AsyncEngine
) -> None:
    order = await agent.buy(stripe)
    await operations.fulfil(payments, order["id"], operations.Shipment(), now=utc_now())
    for _ in range(2):  # the answer of the first was lost (crash after the refund): the staff retry
        view = await operations.refund(
            payments, order["id"], 400, reason="damaged", request_key="staff-key-1", now=utc_now()
        )
    assert (view.order.amount_refunded, len(view.adjustments)) == (400, 1)
    payment = await payment_of(committed, order["id"])
    assert payment.amount_refunded == 400
    assert (
        len(
            [
                r
                for r in stripe.journal
                if r.path == "/v1/refunds" and r.params.get("payment_intent") == payment.payment_intent_id
            ]
        )
        == 1
    )
