"""A purchase as an agent platform makes it, over the real app with real commits, for tests."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from merchant.catalog.models import Variant
from merchant.db import create_sessionmaker
from merchant.db.transaction import transaction
from merchant.identity import service as identity_service
from merchant.identity.roles import Role
from merchant.payments.stripe_emulator import StripeEmulator
from tests.catalog.helpers import FEEDS, run_feed
from tests.checkout.test_service import ADDRESS

Headers = dict[str, str]
Json = dict[str, Any]


class Agent:
    """An agent platform: its key, fresh Idempotency-Keys, the calls it makes."""

    def __init__(self, client: httpx.AsyncClient, token: str, version: str = "2026-04-17") -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}", "API-Version": version}
        self.prefix = "k" if version == "2026-04-17" else f"k{version}"
        self.n = 0

    def under(self, version: str) -> Agent:
        """The same platform (key), calling with ``API-Version: version``."""
        other = Agent(self.client, "", version)
        other.headers = {**self.headers, "API-Version": version}
        return other

    def key(self) -> Headers:
        self.n += 1
        return {**self.headers, "Idempotency-Key": f"{self.prefix}-{self.n}"}

    async def ready_session(self, items: list[Json] | None = None) -> Json:
        body = {
            "currency": "usd",
            "line_items": items or [{"id": "tee-red-s", "quantity": 2}],
            "capabilities": {},
            "buyer": {"email": "ada@example.com", "first_name": "Ada"},
            "fulfillment_details": {"name": "Ada", "address": ADDRESS},
        }
        created = await self.client.post("/checkout_sessions", headers=self.key(), json=body)
        assert created.status_code == 201, created.text
        session_id = created.json()["id"]
        choose = {"selected_fulfillment_options": [{"type": "shipping", "option_id": "standard"}]}
        updated = await self.client.post(f"/checkout_sessions/{session_id}", headers=self.key(), json=choose)
        assert updated.json()["status"] == "ready_for_payment", updated.text
        body = updated.json()
        assert isinstance(body, dict)
        return body

    async def buy(self, stripe: StripeEmulator, payment_method: str = "pm_card_visa") -> Json:
        """A ready session paid with a token minted from ``payment_method``: the order."""
        session = await self.ready_session()
        token = stripe.create_granted_token(payment_method=payment_method, max_amount=total_of(session))
        response = await self.complete(session["id"], token)
        assert response.json()["status"] == "completed", response.text
        order: Json = response.json()["order"]
        return order

    async def complete(
        self, session_id: str, token: str, *, key: str | None = None, handler: str = "card_tokenized"
    ) -> httpx.Response:
        headers = {**self.headers, "Idempotency-Key": key} if key else self.key()
        body = complete_body(token, handler)
        return await self.client.post(f"/checkout_sessions/{session_id}/complete", headers=headers, json=body)


def complete_body(token: str, handler: str = "card_tokenized") -> Json:
    """The body of ``Agent.complete``."""
    return {
        "payment_data": {
            "handler_id": handler,
            "instrument": {"type": "card", "credential": {"type": "spt", "token": token}},
        },
        "risk_signals": {"ip_address": "203.0.113.7", "device_fingerprint": "fp_1"},
    }


@pytest.fixture
async def agent(committing_client: httpx.AsyncClient, committed: AsyncEngine) -> Agent:
    sessions = create_sessionmaker(committed)
    await run_feed(sessions, FEEDS / "openai.csv")
    async with transaction(sessions) as session:
        created = await identity_service.create_key(session, role=Role.agent, name="platform")
    return Agent(committing_client, created.token)


@pytest.fixture
def stripe(app: FastAPI) -> StripeEmulator:
    emulator: StripeEmulator = app.state.stripe_emulator
    return emulator


def total_of(session: Json) -> int:
    return int(next(t["amount"] for t in session["totals"] if t["type"] == "total"))


async def scalar(engine: AsyncEngine, statement: Any) -> Any:
    async with create_sessionmaker(engine)() as session:
        return await session.scalar(statement)


async def stock(engine: AsyncEngine, variant_id: str = "tee-red-s") -> int | None:
    quantity: int | None = await scalar(
        engine, select(Variant.inventory_quantity).where(Variant.id == variant_id)
    )
    return quantity


def intents_for(stripe: StripeEmulator, session_id: str) -> list[dict[str, Any]]:
    return [
        pi for pi in stripe.payment_intents() if pi["metadata"].get("acp_checkout_session_id") == session_id
    ]
