"""Checkout's view of catalog variants, read from real rows."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from merchant.catalog.models import Variant
from merchant.catalog.records import FeedMode
from merchant.checkout.items import catalog_items
from tests.catalog.helpers import FEEDS, run_feed


async def test_cart_variants_as_checkout_sees_them(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
) -> None:
    await run_feed(sessions, FEEDS / "openai.csv")
    items = await catalog_items(session, ["tee-red-s", "tee-red-m", "yen", "dinar", "nope"])
    assert set(items) == {"tee-red-s", "tee-red-m", "yen", "dinar"}
    tee = items["tee-red-s"]
    assert (tee.unit_amount, tee.currency, tee.purchasable, tee.inventory_quantity) == (
        1499,
        "USD",
        True,
        25,
    )  # on sale
    assert not items["tee-red-m"].purchasable  # out_of_stock in the feed
    assert (items["yen"].unit_amount, items["yen"].currency) == (1500, "JPY")
    assert not items["dinar"].purchasable  # is_eligible_checkout=false in the feed

    lines = (FEEDS / "openai.csv").read_text().splitlines()
    only_mug = tmp_path / "mug.csv"
    only_mug.write_text("\n".join([lines[0], lines[3]]) + "\n")
    await run_feed(sessions, only_mug, mode=FeedMode.SNAPSHOT)  # delists the tee
    await session.execute(update(Variant).where(Variant.id == "mug").values(sale_price_amount=900))
    items = await catalog_items(session, ["tee-red-s", "mug"])
    assert not items["tee-red-s"].purchasable
    assert items["mug"].unit_amount == 900  # the sale price is what the buyer pays
    assert await catalog_items(session, []) == {}
