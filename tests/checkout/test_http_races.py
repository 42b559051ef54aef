"""Idempotency races over real HTTP: `merchant serve` with 2 workers, many parallel same-key POSTs."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from merchant.checkout.models import CheckoutSession
from merchant.db import create_sessionmaker, transaction
from tests.cli.helpers import background, free_port, run_cli, wait_ready

pytestmark = pytest.mark.slow
PARALLEL = 16


async def test_parallel_duplicates_create_one_session(
    committed: AsyncEngine, subprocess_env: dict[str, str]
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # Every racer is admitted (the race, not load shedding, is under test: tests/http/test_overload.py).
    env = {**subprocess_env, "MERCHANT_MAX_INFLIGHT_REQUESTS": str(2 * PARALLEL)}
    with background("serve", "--port", str(port), "--workers", "2", env=env) as process:
        wait_ready(base, process)
        created = run_cli("keys", "create", "--role", "agent", "--name", "racer", env=subprocess_env)
        assert created.returncode == 0, created.stderr
        headers = {
            "Authorization": f"Bearer {created.stdout.strip()}",
            "API-Version": "2026-04-17",
            "Idempotency-Key": "race-1",
        }
        body = {"currency": "usd", "line_items": [{"id": "anything", "quantity": 1}]}
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            responses = await asyncio.gather(
                *(client.post("/checkout_sessions", headers=headers, json=body) for _ in range(PARALLEL))
            )
            settled = await client.post("/checkout_sessions", headers=headers, json=body)

    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 409}, [r.text for r in responses if r.status_code not in (201, 409)]
    for response in responses:
        if response.status_code == 409:
            assert response.json()["code"] == "idempotency_in_flight"
            assert response.headers["Retry-After"] == "1"
    successes = [r for r in responses if r.status_code == 201]
    ids = {r.json()["id"] for r in successes}
    assert len(ids) == 1  # every success is the one session
    assert sum("Idempotent-Replayed" not in r.headers for r in successes) == 1  # created once
    assert (settled.status_code, settled.headers["Idempotent-Replayed"], settled.json()["id"]) == (
        201,
        "true",
        ids.pop(),
    )
    async with transaction(create_sessionmaker(committed)) as session:
        assert await session.scalar(select(func.count()).select_from(CheckoutSession)) == 1
