"""The catalog as checkout sees it: the variants of a cart as ``CatalogItem``s (checkout reads catalog)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.catalog.models import Variant
from merchant.catalog.records import Availability
from merchant.checkout.evaluate import CatalogItem

_COLUMNS = (
    Variant.id,
    Variant.title,
    Variant.price_amount,
    Variant.sale_price_amount,
    Variant.currency,
    Variant.delisted_at,
    Variant.is_eligible_checkout,
    Variant.availability,
    Variant.inventory_quantity,
    Variant.max_quantity_per_order,
    Variant.is_digital,
    Variant.weight,
    Variant.weight_unit,
)
# Built once; only the columns checkout reads (whole ORM objects cost ~0.2 ms per request).
_ITEMS = select(*_COLUMNS).where(Variant.id.in_(bindparam("ids", expanding=True)))


async def catalog_items(session: AsyncSession, variant_ids: Collection[str]) -> dict[str, CatalogItem]:
    """The known variants among ``variant_ids`` (unknown ids are simply absent), in one query."""
    if not variant_ids:
        return {}
    rows = await session.execute(_ITEMS, {"ids": sorted(set(variant_ids))})
    return {row.id: _item(row) for row in rows}


def _item(row: Any) -> CatalogItem:
    purchasable = (
        row.delisted_at is None and row.is_eligible_checkout and Availability(row.availability).purchasable
    )
    return CatalogItem(
        variant_id=row.id,
        title=row.title,
        unit_amount=row.sale_price_amount if row.sale_price_amount is not None else row.price_amount,
        currency=row.currency,
        purchasable=purchasable,
        inventory_quantity=row.inventory_quantity,
        max_quantity_per_order=row.max_quantity_per_order,
        is_digital=row.is_digital,
        weight=row.weight,
        weight_unit=row.weight_unit,
    )
