"""Stripe webhooks in: signature checked, stored once per event id, handled by a job that keeps
payments, orders and fraud assessments in step with Stripe (events from the Stripe emulator)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import stripe as stripe_lib
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from merchant.db import create_sessionmaker
from merchant.db.transaction import transaction
from merchant.fraud.models import FraudAssessment
from merchant.kit.clock import utc_now
from merchant.merchant_config import MerchantConfig
from merchant.orders import operations, payment_events
from merchant.orders import service as orders
from merchant.payments.models import Payment, StripeEvent
from merchant.payments.operations import Payments
from merchant.payments.stripe_emulator import StripeEmulator
from merchant.payments.stripe_gateway import stripe_client
from tests.checkout.purchase import Agent, scalar, stock

pytestmark = pytest.mark.usefixtures("committed")


def event_of(stripe: StripeEmulator, kind: str, intent_id: str) -> dict[str, Any]:
    for event in reversed(stripe.events()):
        data = event["data"]["object"]
        if event["type"] == kind and intent_id in (data.get("id"), data.get("payment_intent")):
            return event
    raise AssertionError(f"no {kind} event for {intent_id}")


async def deliver(client: httpx.AsyncClient, stripe: StripeEmulator, event: dict[str, Any]) -> httpx.Response:
    payload, signature = stripe.signed_event(event)
    return await client.post(
        "/stripe/webhooks",
        content=payload,
        headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
    )


async def handle(app: FastAPI, engine: AsyncEngine, event_id: str) -> str:
    config: MerchantConfig = app.state.merchant_config
    async with transaction(create_sessionmaker(engine)) as session:
        return await payment_events.handle(session, event_id, config.fraud, now=utc_now())


async def intent_of(engine: AsyncEngine, order_id: str) -> str:
    intent: str = await scalar(engine, select(Payment.payment_intent_id).where(Payment.order_id == order_id))
    return intent


async def test_signatures_are_checked(committing_client: httpx.AsyncClient, stripe: StripeEmulator) -> None:
    event = {"id": "evt_1", "type": "payment_intent.succeeded", "created": 1, "data": {"object": {}}}
    payload, _ = stripe.signed_event(event)
    missing = await committing_client.post("/stripe/webhooks", content=payload)
    assert (missing.status_code, missing.json()["code"]) == (400, "invalid_signature")
    _, forged = stripe.signed_event(event, secret="whsec_wrong")
    wrong = await committing_client.post(
        "/stripe/webhooks", content=payload, headers={"Stripe-Signature": forged}
    )
    assert (wrong.status_code, wrong.json()["code"]) == (400, "invalid_signature")
    _, stale = stripe.signed_event(event, timestamp=int(utc_now().timestamp()) - 3600)
    old = await committing_client.post(
        "/stripe/webhooks", content=payload, headers={"Stripe-Signature": stale}
    )
    assert old.status_code == 400


async def test_a_dispute_is_stored_once_and_reaches_the_order_and_its_assessment(
    app: FastAPI,
    agent: Agent,
    stripe: StripeEmulator,
    committing_client: httpx.AsyncClient,
    committed: AsyncEngine,
) -> None:
    order = await agent.buy(stripe, "pm_card_createDispute")
    payments = Payments(create_sessionmaker(committed), app.state.payment_gateway)
    await operations.fulfil(payments, order["id"], operations.Shipment(), now=utc_now())  # capture
    event = event_of(stripe, "charge.dispute.created", await intent_of(committed, order["id"]))
    for _ in range(3):  # Stripe redelivers: one row, one job
        response = await deliver(committing_client, stripe, event)
        assert (response.status_code, response.json()) == (200, {"received": True})
    assert await scalar(committed, select(func.count()).select_from(StripeEvent)) == 1
    jobs = text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'payments.handle_stripe_event'")
    assert await scalar(committed, jobs) == 1
    score_before = await scalar(committed, select(FraudAssessment.score))

    assert await handle(app, committed, event["id"]) == "dispute recorded"
    assert await handle(app, committed, event["id"]) == "already handled"
    async with transaction(create_sessionmaker(committed)) as session:
        view = await orders.load(session, order["id"])
    assert [(a.type, a.status) for a in view.adjustments] == [("dispute", "pending")]
    assert await scalar(committed, select(FraudAssessment.score)) > score_before


async def test_refunds_and_cancellations_made_at_stripe_reach_the_order(
    app: FastAPI,
    agent: Agent,
    stripe: StripeEmulator,
    committing_client: httpx.AsyncClient,
    committed: AsyncEngine,
) -> None:
    client = stripe_client("sk_test_dashboard", api_base=stripe.url, timeout=5)
    payments = Payments(create_sessionmaker(committed), app.state.payment_gateway)

    shipped = await agent.buy(stripe)
    await operations.fulfil(payments, shipped["id"], operations.Shipment(), now=utc_now())
    intent = await intent_of(committed, shipped["id"])
    await client.v1.refunds.create_async({"payment_intent": intent, "amount": 700})  # the dashboard
    refund_event = event_of(stripe, "charge.refunded", intent)
    assert (await deliver(committing_client, stripe, refund_event)).status_code == 200
    assert await handle(app, committed, refund_event["id"]) == "refund of 700 recorded"
    async with transaction(create_sessionmaker(committed)) as session:
        view = await orders.load(session, shipped["id"])
    assert view.order.amount_refunded == 700
    assert [(a.type, a.amount) for a in view.adjustments] == [("refund", 700)]

    before = await stock(committed)
    held = await agent.buy(stripe)
    intent = await intent_of(committed, held["id"])
    await client.v1.payment_intents.cancel_async(intent)  # e.g. the authorization expired
    cancel_event = event_of(stripe, "payment_intent.canceled", intent)
    assert (await deliver(committing_client, stripe, cancel_event)).status_code == 200
    assert await handle(app, committed, cancel_event["id"]) == "order canceled"
    async with transaction(create_sessionmaker(committed)) as session:
        view = await orders.load(session, held["id"])
    assert view.order.status == "canceled"
    assert await stock(committed) == before  # the held units are back


def test_the_stripe_library_accepts_our_signature_helper(stripe: StripeEmulator) -> None:
    payload, header = stripe.signed_event(
        {"id": "evt_x", "type": "ping", "created": 1, "data": {"object": {}}}
    )
    event = stripe_lib.Webhook.construct_event(payload.decode(), header, stripe.webhook_secret)
    assert event["id"] == "evt_x"


async def test_a_failed_charge_whose_answer_was_lost_releases_the_stock(
    app: FastAPI,
    agent: Agent,
    stripe: StripeEmulator,
    committing_client: httpx.AsyncClient,
    committed: AsyncEngine,
) -> None:
    session = await agent.ready_session()
    before = await stock(committed)
    token = stripe.create_granted_token(payment_method="pm_card_chargeDeclined")
    stripe.inject_fault(path_prefix="/v1/payment_intents", kind="drop", times=5, method="POST")
    lost = await agent.complete(session["id"], token)
    stripe.clear_faults()
    assert lost.status_code == 503  # the decline happened at Stripe, its answer never came
    assert await stock(committed) == (before or 0) - 2
    failed = next(
        e
        for e in reversed(stripe.events())
        if e["type"] == "payment_intent.payment_failed"
        and e["data"]["object"]["metadata"].get("acp_checkout_session_id") == session["id"]
    )
    assert (await deliver(committing_client, stripe, failed)).status_code == 200
    assert await handle(app, committed, failed["id"]) == "payment declined"
    assert await stock(committed) == before
    status = select(Payment.status).where(Payment.checkout_session_id == session["id"])
    assert await scalar(committed, status) == "declined"
