"""Hold, release and commit stock (no HTTP; the caller owns the transaction).

Variant rows are locked in id order before they change, so two completes that share variants
wait for each other instead of deadlocking; the decrement is conditional, so stock never goes
below zero whatever the concurrency. Untracked variants (``inventory_quantity`` null) need no hold.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.catalog.models import Variant
from merchant.errors import InvalidState
from merchant.inventory.models import InventoryHold

HELD, COMMITTED, RELEASED = "held", "committed", "released"


@dataclass(frozen=True, slots=True)
class Shortage:
    variant_id: str
    wanted: int
    available: int | None  # None: the variant does not exist any more


class OutOfStock(InvalidState):
    """Some units could not be held; nothing was held (the caller's transaction rolls back)."""

    code = "out_of_stock"

    def __init__(self, shortages: list[Shortage]) -> None:
        names = ", ".join(s.variant_id for s in shortages)
        super().__init__(f"Not enough stock for {names}.")
        self.shortages = shortages


async def _lock(session: AsyncSession, variant_ids: Iterable[str]) -> dict[str, int | None]:
    """Lock the variants in id order; their current stock (None = not tracked)."""
    rows = await session.execute(
        select(Variant.id, Variant.inventory_quantity)
        .where(Variant.id.in_(sorted(set(variant_ids))))
        .order_by(Variant.id)
        .with_for_update()
    )
    return {row[0]: row[1] for row in rows}


async def hold(
    session: AsyncSession, checkout_session_id: str, lines: Iterable[tuple[str, int]], *, now: datetime
) -> list[InventoryHold]:
    """Take ``lines`` (variant id, quantity) out of stock for a checkout; all or nothing."""
    wanted = Counter[str]()
    for variant_id, quantity in lines:
        wanted[variant_id] += quantity
    stock = await _lock(session, wanted)
    shortages = [
        Shortage(variant_id, quantity, stock.get(variant_id))
        for variant_id, quantity in sorted(wanted.items())
        if variant_id not in stock or ((have := stock[variant_id]) is not None and have < quantity)
    ]
    if shortages:
        raise OutOfStock(shortages)
    tracked = {variant_id: q for variant_id, q in wanted.items() if stock[variant_id] is not None}
    await _add_stock(session, {variant_id: -q for variant_id, q in tracked.items()})
    holds = [
        InventoryHold(
            variant_id=variant_id,
            checkout_session_id=checkout_session_id,
            quantity=quantity,
            status=HELD,
            created_at=now,
            updated_at=now,
        )
        for variant_id, quantity in sorted(tracked.items())
    ]
    session.add_all(holds)
    await session.flush()
    return holds


async def _add_stock(session: AsyncSession, deltas: dict[str, int]) -> None:
    """Apply stock changes to rows the caller has locked (Core statement, one round trip)."""
    if not deltas:
        return
    table = cast(Table, Variant.__table__)
    statement = (
        update(table)
        .where(table.c.id == bindparam("variant_id"))
        .values(inventory_quantity=table.c.inventory_quantity + bindparam("delta"))
    )
    await session.execute(statement, [{"variant_id": v, "delta": d} for v, d in sorted(deltas.items())])


async def _held(session: AsyncSession, **where: str) -> list[InventoryHold]:
    query = select(InventoryHold).where(InventoryHold.status == HELD).with_for_update()
    for column, value in where.items():
        query = query.where(getattr(InventoryHold, column) == value)
    return list(await session.scalars(query.order_by(InventoryHold.variant_id)))


async def release(
    session: AsyncSession,
    *,
    now: datetime,
    checkout_session_id: str | None = None,
    order_id: str | None = None,
) -> int:
    """Return the held units of a checkout or an order to stock; the number of units returned."""
    where = {"checkout_session_id": checkout_session_id} if checkout_session_id else {}
    if order_id:
        where["order_id"] = order_id
    if not where:
        raise ValueError("release needs a checkout session or an order")
    holds = await _held(session, **where)
    if not holds:
        return 0
    back = Counter[str]()
    for item in holds:
        back[item.variant_id] += item.quantity
        item.status, item.updated_at = RELEASED, now
    await _lock(session, back)
    await _add_stock(session, dict(back))
    await session.flush()
    return sum(back.values())


async def attach_order(
    session: AsyncSession, checkout_session_id: str, order_id: str, *, now: datetime
) -> None:
    """The checkout's held units now belong to its order (held until capture or cancel)."""
    for item in await _held(session, checkout_session_id=checkout_session_id):
        item.order_id, item.updated_at = order_id, now
    await session.flush()


async def commit(session: AsyncSession, order_id: str, *, now: datetime) -> None:
    """The payment is captured: the held units are sold."""
    for item in await _held(session, order_id=order_id):
        item.status, item.updated_at = COMMITTED, now
    await session.flush()


async def restock(session: AsyncSession, lines: dict[str, int]) -> None:
    """Put sold units back (a refund with restock): tracked variants only."""
    stock = await _lock(session, lines)
    await _add_stock(session, {v: q for v, q in lines.items() if stock.get(v) is not None and q > 0})
