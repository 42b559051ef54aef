"""Completes hold no database connection while Stripe answers, and never need two at once.

The session's completion lease and the Idempotency-Key's pending claim keep concurrent completes
apart across the commits between the recovery points; a lease or claim left by a dead process
runs out and is taken over.

Before: a complete held its pooled connection for the whole call (its advisory locks lived in
the request's transaction) and asked for a second one for its prepare step, so a handful of
completes waiting on a slow Stripe exhausted the pool: the rest, and every unrelated request,
got 503 ``overloaded`` after the pool timeout.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from merchant.app import create_app
from merchant.catalog.models import Variant
from merchant.config import Settings
from merchant.db import create_sessionmaker
from merchant.db.transaction import transaction
from merchant.kit.canonical_json import fingerprint
from merchant.orders.models import Order
from merchant.payments.stripe_emulator import StripeEmulator
from tests.checkout.purchase import Agent, complete_body, intents_for, scalar, total_of

PARALLEL = 50
STRIPE_LATENCY = 1.0  # seconds, every Stripe call
TOKEN_PATH = "/v1/shared_payment/granted_tokens/"


@pytest_asyncio.fixture(scope="module")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The real app, admitting all the completes at once: the pool, not admission, is under test."""
    app = create_app(settings.model_copy(update={"max_inflight_requests": 2 * PARALLEL}))
    async with app.router.lifespan_context(app):
        yield app


async def _stock_up(engine: AsyncEngine) -> None:
    async with transaction(create_sessionmaker(engine)) as session:
        await session.execute(
            update(Variant).where(Variant.id == "tee-red-s").values(inventory_quantity=1000)
        )


async def _when_all_wait_on_stripe(stripe: StripeEmulator, count: int, since: int) -> None:
    """Until ``count`` token look-ups have reached Stripe after journal entry ``since`` (each
    then waits STRIPE_LATENCY)."""
    deadline = time.monotonic() + 30
    while sum(e.path.startswith(TOKEN_PATH) for e in stripe.journal[since:]) < count:
        assert time.monotonic() < deadline, "the completes never all reached Stripe (pool starved?)"
        await asyncio.sleep(0.01)


async def _timed_get(agent: Agent, session_id: str) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await agent.client.get(f"/checkout_sessions/{session_id}", headers=agent.headers)
    return response, time.perf_counter() - started


async def test_fifty_slow_completes_and_a_get_share_a_small_pool(
    agent: Agent, stripe: StripeEmulator, committed: AsyncEngine, app: FastAPI
) -> None:
    settings = app.state.settings
    assert settings.db_pool_size + settings.db_max_overflow < PARALLEL  # the pool is the constraint
    await _stock_up(committed)
    config = app.state.merchant_config  # fifty buys from one buyer and card: no velocity rules here
    app.state.merchant_config = config.model_copy(
        update={"fraud": config.fraud.model_copy(update={"velocity": ()})}
    )
    ready = [await agent.ready_session() for _ in range(PARALLEL)]
    tokens = [
        stripe.create_granted_token(payment_method="pm_card_visa", max_amount=total_of(s)) for s in ready
    ]
    other = await agent.ready_session()
    stripe.latency = STRIPE_LATENCY
    since = len(stripe.journal)
    try:
        completes = asyncio.gather(*(agent.complete(s["id"], t) for s, t in zip(ready, tokens, strict=True)))
        await _when_all_wait_on_stripe(stripe, PARALLEL, since)
        got, elapsed = await _timed_get(agent, other["id"])  # while all fifty wait on Stripe
        responses = await completes
    finally:
        stripe.latency = 0.0

    assert got.status_code == 200, got.text
    assert elapsed < 0.1, f"a GET waited {elapsed:.3f} s behind the completes"
    assert [r.status_code for r in responses] == [200] * PARALLEL, [r.text for r in responses][:3]
    refused = [r.json().get("messages") for r in responses if r.json()["status"] != "completed"]
    assert not refused, refused[:2]
    assert await scalar(committed, select(func.count()).select_from(Order)) == PARALLEL
    assert all(len(intents_for(stripe, s["id"])) == 1 for s in ready)  # one PaymentIntent each


async def _slow_complete(agent: Agent, stripe: StripeEmulator, session_id: str, token: str, key: str) -> Any:
    """Start a complete that waits on a slow Stripe; returns once it is waiting there."""
    stripe.latency = STRIPE_LATENCY
    since = len(stripe.journal)
    first = asyncio.ensure_future(agent.complete(session_id, token, key=key))
    await _when_all_wait_on_stripe(stripe, 1, since)
    return first


async def test_a_complete_in_flight_holds_its_key_and_its_session(
    agent: Agent, stripe: StripeEmulator
) -> None:
    session = await agent.ready_session()
    token = stripe.create_granted_token(max_amount=total_of(session))
    try:
        first = await _slow_complete(agent, stripe, session["id"], token, "pay-1")
        same_key = await agent.complete(session["id"], token, key="pay-1")
        other_key = await agent.complete(session["id"], token, key="pay-2")
        done = await first
    finally:
        stripe.latency = 0.0
    assert same_key.status_code == 409, same_key.text
    assert same_key.json()["code"] == "idempotency_in_flight"
    assert (other_key.status_code, other_key.json()["code"]) == (409, "checkout_session_in_progress")
    assert "Retry-After" in same_key.headers
    assert "Retry-After" in other_key.headers
    assert (done.status_code, done.json()["status"]) == (200, "completed")
    replay = await agent.complete(session["id"], token, key="pay-1")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["order"]["id"] == done.json()["order"]["id"]
    assert len(intents_for(stripe, session["id"])) == 1


async def _leave_dead_claims(
    engine: AsyncEngine, session_id: str, key: str, *, until: str, fingerprint: str = "f" * 64
) -> None:
    """What a process killed mid-complete leaves: its lease and its key's pending claim."""
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE checkout_session SET completion_lease_until = now() + CAST(:until AS interval),"
                " completion_lease_token = 'dead' WHERE id = :id"
            ),
            {"id": session_id, "until": until},
        )
        await connection.execute(
            text(
                "INSERT INTO idempotency_record (principal, endpoint, key, fingerprint, created_at,"
                " expires_at, locked_until) SELECT owner, :endpoint, :key, :fingerprint, now(),"
                " now() + interval '1 day', now() + CAST(:until AS interval)"
                " FROM checkout_session WHERE id = :id"
            ),
            {
                "id": session_id,
                "endpoint": f"POST /checkout_sessions/{session_id}/complete",
                "key": key,
                "fingerprint": fingerprint,
                "until": until,
            },
        )


async def test_a_dead_complete_blocks_until_its_lease_runs_out(
    agent: Agent, stripe: StripeEmulator, committed: AsyncEngine
) -> None:
    session = await agent.ready_session()
    token = stripe.create_granted_token(max_amount=total_of(session))
    await _leave_dead_claims(committed, session["id"], "other-key", until="1 hour")
    held = await agent.complete(session["id"], token, key="pay-1")
    assert (held.status_code, held.json()["code"]) == (409, "checkout_session_in_progress")

    await _leave_dead_claims(committed, session["id"], "dead-key", until="-1 second")
    taken_over = await agent.complete(session["id"], token, key="pay-1")
    assert (taken_over.status_code, taken_over.json()["status"]) == (200, "completed"), taken_over.text
    assert len(intents_for(stripe, session["id"])) == 1
    lease = await scalar(
        committed, text(f"SELECT completion_lease_until FROM checkout_session WHERE id = '{session['id']}'")
    )
    assert lease is None  # ended by the complete that took it over


async def test_a_dead_claim_on_the_key_is_taken_over_by_its_retry(
    agent: Agent, stripe: StripeEmulator, committed: AsyncEngine
) -> None:
    session = await agent.ready_session()
    token = stripe.create_granted_token(max_amount=total_of(session))
    same_body = fingerprint(json.dumps(complete_body(token)).encode())
    await _leave_dead_claims(committed, session["id"], "pay-1", until="1 hour", fingerprint=same_body)
    assert (await agent.complete(session["id"], token, key="pay-1")).json()["code"] == "idempotency_in_flight"
    async with committed.begin() as connection:  # the dead process's claim runs out
        await connection.execute(
            text("UPDATE idempotency_record SET locked_until = now() - interval '1 second'")
        )
        await connection.execute(text("UPDATE checkout_session SET completion_lease_until = NULL"))
    done = await agent.complete(session["id"], token, key="pay-1")
    assert (done.status_code, done.json()["status"]) == (200, "completed"), done.text
    replay = await agent.complete(session["id"], token, key="pay-1")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert len(intents_for(stripe, session["id"])) == 1
