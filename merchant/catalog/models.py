"""Catalog tables: products, variants (the checkout item), feed runs and their row errors.

Nothing here is ever deleted by a feed: a variant that leaves a full snapshot
gets ``delisted_at`` and stays, so past orders keep their references.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from merchant.db.base import Base, TimestampMixin, sql_in

AVAILABILITY_VALUES = (
    "in_stock",
    "limited_stock",
    "out_of_stock",
    "pre_order",
    "backorder",
    "discontinued",
    "unknown",
)
RUN_STATUSES = ("queued", "running", "succeeded", "failed")


class Product(TimestampMixin, Base):
    __tablename__ = "catalog_product"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    title: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    media: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))


class Variant(TimestampMixin, Base):
    """One purchasable item; ``id`` is the item id agents send at checkout."""

    __tablename__ = "catalog_variant"
    __table_args__ = (
        CheckConstraint(sql_in("availability", AVAILABILITY_VALUES), name="availability"),
        CheckConstraint("price_amount >= 0", name="price_amount"),
        CheckConstraint(
            "sale_price_amount IS NULL OR (sale_price_amount > 0 AND sale_price_amount < price_amount)",
            name="sale_price_amount",
        ),
        CheckConstraint("inventory_quantity IS NULL OR inventory_quantity >= 0", name="inventory_quantity"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        Index("ix_catalog_variant_gtin", "gtin", postgresql_where=text("gtin IS NOT NULL")),
    )

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    # No foreign key to catalog_product, on purpose: only the feed merge writes variants,
    # and it upserts a chunk's products before its variants in the same transaction;
    # products are never deleted. A row-level FK check cost ~7 s per million rows.
    product_id: Mapped[str] = mapped_column(String(200), index=True)
    title: Mapped[str] = mapped_column(Text)
    price_amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    availability: Mapped[str] = mapped_column(String(16))
    description: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    media: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    brand: Mapped[str | None] = mapped_column(Text)
    gtin: Mapped[str | None] = mapped_column(String(14))
    mpn: Mapped[str | None] = mapped_column(Text)
    condition: Mapped[str | None] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(Text)
    variant_options: Mapped[list[list[str]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    sale_price_amount: Mapped[int | None] = mapped_column(BigInteger)
    inventory_quantity: Mapped[int | None] = mapped_column(Integer)
    weight: Mapped[Decimal | None] = mapped_column(Numeric)
    weight_unit: Mapped[str | None] = mapped_column(String(8))
    length: Mapped[Decimal | None] = mapped_column(Numeric)
    width: Mapped[Decimal | None] = mapped_column(Numeric)
    height: Mapped[Decimal | None] = mapped_column(Numeric)
    dimension_unit: Mapped[str | None] = mapped_column(String(8))
    is_digital: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    seller_name: Mapped[str | None] = mapped_column(Text)
    seller_url: Mapped[str | None] = mapped_column(Text)
    is_eligible_search: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    is_eligible_checkout: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    target_countries: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    store_country: Mapped[str | None] = mapped_column(String(2))
    tax_category: Mapped[str | None] = mapped_column(Text)
    max_quantity_per_order: Mapped[int | None] = mapped_column(Integer)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    delisted_at: Mapped[datetime | None]
    last_feed_run_id: Mapped[str | None] = mapped_column(String(40))

    @property
    def effective_price(self) -> int:
        return self.sale_price_amount if self.sale_price_amount is not None else self.price_amount


class FeedRun(Base):
    """One ingest of one file: where it came from, how it went, what it changed."""

    __tablename__ = "catalog_feed_run"
    __table_args__ = (
        CheckConstraint(sql_in("status", RUN_STATUSES), name="status"),
        CheckConstraint("mode IN ('snapshot', 'upsert')", name="mode"),
        Index("ix_catalog_feed_run_created_at", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    source_kind: Mapped[str] = mapped_column(String(16))  # upload | url | file
    source: Mapped[str] = mapped_column(Text)  # file name, URL or path
    format: Mapped[str | None] = mapped_column(String(32))  # None until detected
    format_requested: Mapped[str | None] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    rows_total: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    rows_accepted: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    rows_rejected: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    variants_created: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    variants_updated: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    variants_unchanged: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    variants_delisted: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    timings: Mapped[dict[str, float]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class FeedRowError(Base):
    __tablename__ = "catalog_feed_row_error"

    run_id: Mapped[str] = mapped_column(
        ForeignKey("catalog_feed_run.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    line: Mapped[int] = mapped_column(Integer)
    item_id: Mapped[str | None] = mapped_column(Text)
    field: Mapped[str | None] = mapped_column(Text)
    code: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)


class FeedUpload(Base):
    """An uploaded file waiting for its ingest job, in chunks (any API node, any worker)."""

    __tablename__ = "catalog_feed_upload"

    run_id: Mapped[str] = mapped_column(
        ForeignKey("catalog_feed_run.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
