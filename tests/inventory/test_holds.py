"""Inventory holds on real PostgreSQL: all or nothing, never below zero, released and committed."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from merchant.catalog.models import Variant
from merchant.db import create_sessionmaker
from merchant.db.transaction import transaction
from merchant.inventory import service as inventory
from merchant.inventory.models import InventoryHold
from merchant.kit.clock import utc_now
from tests.catalog.helpers import FEEDS, run_feed


async def stock(session: AsyncSession, variant_id: str) -> int | None:
    return await session.scalar(
        select(Variant.inventory_quantity)
        .where(Variant.id == variant_id)
        .execution_options(populate_existing=True)
    )


@pytest.fixture
async def catalog(sessions: async_sessionmaker[AsyncSession]) -> None:
    await run_feed(sessions, FEEDS / "openai.csv")  # tee-red-s: 25 tracked; mug: untracked


async def test_hold_release_commit(catalog: None, session: AsyncSession) -> None:
    now = utc_now()
    holds = await inventory.hold(session, "cs_1", [("tee-red-s", 2), ("mug", 5), ("tee-red-s", 1)], now=now)
    assert [(h.variant_id, h.quantity) for h in holds] == [("tee-red-s", 3)]  # the mug is not tracked
    assert await stock(session, "tee-red-s") == 22
    assert await inventory.release(session, checkout_session_id="cs_1", now=now) == 3
    assert await stock(session, "tee-red-s") == 25
    assert await inventory.release(session, checkout_session_id="cs_1", now=now) == 0  # idempotent

    await inventory.hold(session, "cs_2", [("tee-red-s", 4)], now=now)
    await inventory.attach_order(session, "cs_2", "ord_2", now=now)
    await inventory.commit(session, "ord_2", now=now)
    assert await inventory.release(session, order_id="ord_2", now=now) == 0  # sold units stay sold
    assert await stock(session, "tee-red-s") == 21
    statuses = await session.scalars(select(InventoryHold.status).order_by(InventoryHold.id))
    assert list(statuses) == ["released", "committed"]


async def test_all_or_nothing(catalog: None, session: AsyncSession) -> None:
    with pytest.raises(inventory.OutOfStock) as refused:
        await inventory.hold(
            session, "cs_1", [("tee-red-s", 2), ("tee-red-m", 1), ("ghost", 1)], now=utc_now()
        )
    assert [(s.variant_id, s.available) for s in refused.value.shortages] == [
        ("ghost", None),
        ("tee-red-m", 0),
    ]
    assert await stock(session, "tee-red-s") == 25
    assert list(await session.scalars(select(InventoryHold))) == []


@pytest.mark.usefixtures("committed")
async def test_concurrent_holds_never_oversell(committed: AsyncEngine) -> None:
    sessions = create_sessionmaker(committed)
    await run_feed(sessions, FEEDS / "openai.csv")
    async with transaction(sessions) as session:
        await session.execute(
            text("UPDATE catalog_variant SET inventory_quantity = 5 WHERE id = 'tee-red-s'")
        )

    async def buy(n: int) -> bool:
        try:
            async with transaction(sessions) as session:
                # Opposite orders of the same variants must not deadlock (rows are locked in id order).
                lines = [("tee-red-s", 1), ("mug", 1)] if n % 2 else [("mug", 1), ("tee-red-s", 1)]
                await inventory.hold(session, f"cs_{n}", lines, now=utc_now())
            return True
        except inventory.OutOfStock:
            return False

    results = await asyncio.gather(*(buy(n) for n in range(20)))
    assert results.count(True) == 5
    async with sessions() as session:
        assert await stock(session, "tee-red-s") == 0
