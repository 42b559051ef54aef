"""The catalog as checkout sees it: the variants of a cart as ``CatalogItem``s (checkout reads catalog)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.catalog.models import Variant
from merchant.catalog.records import Availability
from merchant.checkout.evaluate import CatalogItem


def to_catalog_item(variant: Variant) -> CatalogItem:
    purchasable = (
        variant.delisted_at is None
        and variant.is_eligible_checkout
        and Availability(variant.availability).purchasable
    )
    price = variant.sale_price_amount if variant.sale_price_amount is not None else variant.price_amount
    return CatalogItem(
        variant_id=variant.id,
        title=variant.title,
        unit_amount=price,
        currency=variant.currency,
        purchasable=purchasable,
        inventory_quantity=variant.inventory_quantity,
        max_quantity_per_order=variant.max_quantity_per_order,
        is_digital=variant.is_digital,
        weight=variant.weight,
        weight_unit=variant.weight_unit,
    )


async def catalog_items(session: AsyncSession, variant_ids: Collection[str]) -> dict[str, CatalogItem]:
    """The known variants among ``variant_ids`` (unknown ids are simply absent), in one query."""
    if not variant_ids:
        return {}
    rows = await session.scalars(select(Variant).where(Variant.id.in_(set(variant_ids))))
    return {variant.id: to_catalog_item(variant) for variant in rows}
