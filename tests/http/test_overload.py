"""Load shedding at the door: beyond ``max_inflight_requests`` a request gets 503 at once.

Before: every request was taken and queued behind the ones being worked on, so at twice the
saturating load every answer came late (create p99 ~0.4 s) instead of most in time and the excess
refused; nothing bounded the work one process took on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from merchant.app import create_app
from merchant.config import Settings
from merchant.kit.admission import Admission, admitted_to, waiting_elsewhere
from merchant.payments.stripe_emulator import StripeEmulator
from tests.checkout.purchase import Agent, total_of

LIMIT = 2


class Gate:
    """A test-only route that holds its request until opened."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.waiting = 0

    async def hold(self) -> dict[str, str]:
        self.waiting += 1
        try:
            await self.opened.wait()
        finally:
            self.waiting -= 1
        return {"status": "done"}


@pytest_asyncio.fixture(scope="module")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The real app with room for LIMIT requests at once and a gated route."""
    app = create_app(settings.model_copy(update={"max_inflight_requests": LIMIT}))
    gate = Gate()
    app.state.gate = gate
    app.add_api_route("/_test/hold", gate.hold, methods=["GET"])
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
def gate(app: FastAPI) -> Gate:
    gate: Gate = app.state.gate
    gate.opened = asyncio.Event()
    return gate


async def _fill(client: httpx.AsyncClient, gate: Gate) -> asyncio.Future[list[httpx.Response]]:
    """LIMIT requests in progress, held at the gate."""
    held = asyncio.gather(*(client.get("/_test/hold") for _ in range(LIMIT)))
    deadline = time.monotonic() + 5
    while gate.waiting < LIMIT:
        assert time.monotonic() < deadline, "the held requests never arrived"
        await asyncio.sleep(0.005)
    return held


async def _timed(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await client.get(path)
    return response, time.perf_counter() - started


async def test_beyond_the_limit_a_request_is_refused_at_once(
    committing_client: httpx.AsyncClient, gate: Gate
) -> None:
    held = await _fill(committing_client, gate)
    try:
        refused, elapsed = await _timed(committing_client, "/checkout_sessions/cs_anything")
    finally:
        gate.opened.set()
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.json() == {
        "type": "service_unavailable",
        "code": "overloaded",
        "message": "The service is at capacity; retry after the Retry-After delay.",
    }
    assert elapsed < 0.010, f"refusal took {elapsed * 1000:.1f} ms"
    assert [r.status_code for r in await held] == [200] * LIMIT


async def test_health_and_staff_routes_are_served_while_full(
    committing_client: httpx.AsyncClient, gate: Gate
) -> None:
    held = await _fill(committing_client, gate)
    try:
        health = await committing_client.get("/healthz")
        ready = await committing_client.get("/readyz")
        staff = await committing_client.get("/admin/v1/orders")  # no credentials: 401, not 503
    finally:
        gate.opened.set()
    await held
    assert (health.status_code, ready.status_code) == (200, 200)
    assert staff.status_code == 401


async def test_room_comes_back_when_requests_finish(committing_client: httpx.AsyncClient, gate: Gate) -> None:
    held = await _fill(committing_client, gate)
    gate.opened.set()
    await held
    again = await committing_client.get("/checkout_sessions/cs_anything")
    assert again.status_code != 503  # 401 without credentials: it was let in


async def test_a_complete_waiting_on_stripe_leaves_its_place_free(
    agent: Agent, stripe: StripeEmulator, committed: AsyncEngine, app: FastAPI
) -> None:
    """LIMIT completes wait on a slow Stripe; meanwhile a GET is still admitted and answered."""
    ready = [await agent.ready_session() for _ in range(LIMIT)]
    other = await agent.ready_session()
    tokens = [
        stripe.create_granted_token(payment_method="pm_card_visa", max_amount=total_of(s)) for s in ready
    ]
    since = len(stripe.journal)
    stripe.latency = 1.0
    try:
        completes = asyncio.gather(*(agent.complete(s["id"], t) for s, t in zip(ready, tokens, strict=True)))
        deadline = time.monotonic() + 10
        while len(stripe.journal) - since < LIMIT:  # each is now waiting on its first Stripe call
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        meanwhile = await agent.client.get(f"/checkout_sessions/{other['id']}", headers=agent.headers)
        done = await completes
    finally:
        stripe.latency = 0.0
    assert meanwhile.status_code == 200
    assert [r.status_code for r in done] == [200] * LIMIT


async def test_waiting_elsewhere_gives_the_place_back_and_takes_it_again() -> None:
    admission = Admission(1)
    assert admission.try_enter()
    async with admitted_to(admission):
        async with waiting_elsewhere():
            assert admission.busy == 0
            assert admission.try_enter()  # another request takes the free place
            admission.leave()
        assert admission.busy == 1
        assert not admission.try_enter()
    assert admission.busy == 0
    assert admission.refused == 1


async def test_waiting_elsewhere_outside_a_request_does_nothing() -> None:
    async with waiting_elsewhere():
        pass
