"""Staff order lists against a reference: every filter and sort, walked page by page through the cursor.

Orders share created_at and total values on purpose, so pages must break ties by id and the cursor
must resume exactly after the last row, without skipping or repeating one.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.orders import admin
from merchant.orders.admin import OrderFilters, OrderSort
from merchant.orders.models import Order

START = datetime(2026, 11, 1, tzinfo=UTC)
NAMES = ("ada lovelace", "ada byron", "ada bell", "alan turing", "grace hopper", "adam smith")


def seed_orders(count: int) -> list[Order]:
    rng = random.Random(11)
    orders = []
    for i in range(count):
        name = rng.choice(NAMES)
        orders.append(
            Order(
                id=f"ord_{i:024x}",
                checkout_session_id=f"cs_list_{i}",
                owner="key_test",
                platform_id=rng.choice(("plat_a", "plat_b", None)),
                status=rng.choice(("confirmed", "manual_review", "canceled")),
                currency="usd",
                email=f"{name.split()[0]}@example.com",
                buyer_name=name,
                totals={},
                total=rng.choice((500, 1200, 1200, 3000, 9900)),
                permalink_token=f"tok_list_{i}",
                capture_method="automatic",
                fraud_decision=rng.choice(("approve", "review")),
                fraud_score=rng.randrange(0, 101),
                created_at=START + timedelta(minutes=rng.randrange(0, 12)),  # many ties
            )
        )
    return orders


SORT_KEYS: dict[OrderSort, Callable[[Order], tuple[object, str]]] = {
    OrderSort.newest: lambda o: (o.created_at, o.id),
    OrderSort.oldest: lambda o: (o.created_at, o.id),
    OrderSort.largest: lambda o: (o.total, o.id),
    OrderSort.smallest: lambda o: (o.total, o.id),
}

CASES: list[tuple[OrderFilters, Callable[[Order], bool]]] = [
    (OrderFilters(), lambda o: True),
    (OrderFilters(q=" Ada B"), lambda o: (o.buyer_name or "").startswith("ada b")),
    (OrderFilters(q="AD"), lambda o: (o.buyer_name or "").startswith("ad")),
    (
        OrderFilters(platform_id="plat_a", total_min=1000, total_max=5000),
        lambda o: o.platform_id == "plat_a" and 1000 <= o.total <= 5000,
    ),
    (
        OrderFilters(status="manual_review", score_min=30),
        lambda o: o.status == "manual_review" and (o.fraud_score or 0) >= 30,
    ),
    (
        OrderFilters(created_from=START + timedelta(minutes=3), created_to=START + timedelta(minutes=8)),
        lambda o: START + timedelta(minutes=3) <= o.created_at < START + timedelta(minutes=8),
    ),
]


@pytest.mark.parametrize("sort", list(OrderSort))
@pytest.mark.parametrize("case", range(len(CASES)))
async def test_walking_the_pages_gives_the_reference_order(
    session: AsyncSession, sort: OrderSort, case: int
) -> None:
    orders = seed_orders(90)
    session.add_all(orders)
    await session.flush()
    filters, keep = CASES[case]
    chosen = sorted(filter(keep, orders), key=SORT_KEYS[sort], reverse=sort.value.startswith("-"))
    expected = [o.id for o in chosen]
    assert len(expected) > 7  # several pages

    walked: list[str] = []
    cursor: str | None = None
    while True:
        page = await admin.list_orders(session, filters, sort=sort, starting_after=cursor, limit=7)
        walked += [o.id for o in page.items]
        assert page.has_more == (page.next_cursor is not None)
        if not page.has_more:
            break
        cursor = page.next_cursor
    assert walked == expected
