"""Authorizations about to lapse are reported once, or their orders canceled, by configuration."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from merchant.db import create_sessionmaker
from merchant.db.transaction import transaction
from merchant.kit.clock import utc_now
from merchant.merchant_config import parse_merchant_config
from merchant.orders import deadlines
from merchant.orders.models import Order
from merchant.payments.models import Payment
from merchant.payments.operations import Payments
from merchant.payments.stripe_emulator import StripeEmulator
from tests.checkout.purchase import Agent, scalar

pytestmark = pytest.mark.usefixtures("committed")


async def lapse_soon(engine: AsyncEngine, order_id: str, hours: float) -> None:
    async with transaction(create_sessionmaker(engine)) as session:
        await session.execute(
            update(Payment)
            .where(Payment.order_id == order_id)
            .values(capture_before=utc_now() + timedelta(hours=hours))
        )


@pytest.mark.parametrize(("action", "status"), [("alert", "confirmed"), ("cancel", "canceled")])
async def test_lapsing_authorizations(
    app: FastAPI, agent: Agent, stripe: StripeEmulator, committed: AsyncEngine, action: str, status: str
) -> None:
    config = parse_merchant_config(
        {"payments": {"authorization_deadline_hours": 24, "authorization_deadline_action": action}}
    )
    payments = Payments(create_sessionmaker(committed), app.state.payment_gateway)
    later, soon = await agent.buy(stripe), await agent.buy(stripe)
    await lapse_soon(committed, later["id"], 48)
    await lapse_soon(committed, soon["id"], 6)

    outcome = {"alert": "alerted", "cancel": "canceled"}[action]
    assert await deadlines.act(payments, config, now=utc_now()) == {soon["id"]: outcome}
    assert await deadlines.act(payments, config, now=utc_now()) == {}  # reported once
    assert await scalar(committed, select(Order.status).where(Order.id == soon["id"])) == status
    assert await scalar(committed, select(Order.status).where(Order.id == later["id"])) == "confirmed"
