"""Wire shapes of the staff catalog API (``/admin/v1``): feed runs and variants.

Money is integer minor units with its ISO 4217 currency; measurements are exact
decimals (serialised as strings). Lists are keyset pages: ``has_more`` and the
``next_cursor`` to send back as ``starting_after`` (``errors_after`` for row errors).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StrictInt, WithJsonSchema, field_validator

from merchant.catalog.models import FeedRowError, FeedRun, Product, Variant
from merchant.catalog.records import READABLE_FORMATS, Availability, FeedFormat, FeedMode

INT4_MAX = 2**31 - 1

RunStatus = Literal["queued", "running", "succeeded", "failed"]
SourceKind = Literal["upload", "url", "file"]
# A format the caller names: one the ingest reads (a named ``openai-parquet`` is refused).
READABLE_FORMAT_SCHEMA: dict[str, Any] = {"type": "string", "enum": [f.value for f in READABLE_FORMATS]}


# Feed runs


class FeedUrlRequest(BaseModel):
    """``POST /admin/v1/feeds`` as JSON: fetch the feed from a URL."""

    model_config = ConfigDict(extra="forbid")

    url: HttpUrl = Field(description="Where the worker downloads the feed (http or https).")
    mode: FeedMode = Field(
        default=FeedMode.UPSERT,
        description="`upsert` changes only the items in the file; `snapshot` also delists the others.",
    )
    format: Annotated[FeedFormat, WithJsonSchema(READABLE_FORMAT_SCHEMA)] | None = Field(
        default=None, description="The file's format; detected when absent."
    )


class RowCounts(BaseModel):
    total: int
    accepted: int
    rejected: int


class VariantCounts(BaseModel):
    created: int
    updated: int
    unchanged: int
    delisted: int


class RunError(BaseModel):
    code: str
    message: str


class FeedRunView(BaseModel):
    id: str
    status: RunStatus
    source_kind: SourceKind
    source: str = Field(description="The uploaded file's name, the URL or the server path.")
    format: FeedFormat | None = Field(description="The format read (null until detected).")
    format_requested: FeedFormat | None = Field(description="The format the caller named, if any.")
    mode: FeedMode
    size_bytes: int | None
    requested_by: str | None = Field(description="The API key id that started the run.")
    rows: RowCounts
    variants: VariantCounts
    error: RunError | None = Field(description="Why a failed run failed.")
    timings: dict[str, float]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def fields_of(cls, run: FeedRun) -> dict[str, Any]:
        error = RunError(code=run.error_code, message=run.error_message or "") if run.error_code else None
        return {
            "id": run.id,
            "status": run.status,
            "source_kind": run.source_kind,
            "source": run.source,
            "format": run.format,
            "format_requested": run.format_requested,
            "mode": run.mode,
            "size_bytes": run.size_bytes,
            "requested_by": run.requested_by,
            "rows": RowCounts(total=run.rows_total, accepted=run.rows_accepted, rejected=run.rows_rejected),
            "variants": VariantCounts(
                created=run.variants_created,
                updated=run.variants_updated,
                unchanged=run.variants_unchanged,
                delisted=run.variants_delisted,
            ),
            "error": error,
            "timings": run.timings,
            "created_at": run.created_at,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
        }

    @classmethod
    def of(cls, run: FeedRun) -> FeedRunView:
        return cls(**cls.fields_of(run))


class FeedRunPage(BaseModel):
    data: list[FeedRunView]
    has_more: bool
    next_cursor: str | None = Field(description="Send as `starting_after` for the next page.")

    @classmethod
    def of(cls, runs: Sequence[FeedRun], has_more: bool) -> FeedRunPage:
        return cls(
            data=[FeedRunView.of(run) for run in runs],
            has_more=has_more,
            next_cursor=runs[-1].id if has_more and runs else None,
        )


class RowErrorView(BaseModel):
    line: int = Field(description="The line (or JSON line / XML item number) in the file.")
    item_id: str | None
    field: str | None = Field(description="The column name or JSONPath of the wrong value.")
    code: str
    message: str


class RowErrorPage(BaseModel):
    data: list[RowErrorView]
    has_more: bool
    next_cursor: str | None = Field(description="Send as `errors_after` for the next page.")

    @classmethod
    def of(cls, errors: Sequence[FeedRowError], has_more: bool) -> RowErrorPage:
        return cls(
            data=[
                RowErrorView(line=e.line, item_id=e.item_id, field=e.field, code=e.code, message=e.message)
                for e in errors
            ],
            has_more=has_more,
            next_cursor=str(errors[-1].seq) if has_more and errors else None,
        )


class FeedRunDetail(FeedRunView):
    errors: RowErrorPage = Field(description="The run's row errors, in file order.")

    @classmethod
    def with_errors(cls, run: FeedRun, errors: Sequence[FeedRowError], has_more: bool) -> FeedRunDetail:
        return cls(**cls.fields_of(run), errors=RowErrorPage.of(errors, has_more))


# Variants


class Money(BaseModel):
    amount: int = Field(description="Integer minor units (cents for USD).")
    currency: str = Field(description="ISO 4217, upper case.")


class VariantSummary(BaseModel):
    id: str = Field(description="The item id agents send at checkout.")
    product_id: str
    title: str
    price: Money
    sale_price: Money | None
    availability: Availability
    inventory_quantity: int | None = Field(description="null: inventory is not tracked.")
    is_eligible_search: bool
    is_eligible_checkout: bool
    gtin: str | None
    mpn: str | None
    brand: str | None
    url: str | None
    image_url: str | None = Field(description="The first media item's URL.")
    listed: bool = Field(description="false once a snapshot feed dropped the variant.")
    delisted_at: datetime | None
    updated_at: datetime

    @classmethod
    def fields_of(cls, variant: Variant) -> dict[str, Any]:
        sale = variant.sale_price_amount
        media = variant.media or []
        return {
            "id": variant.id,
            "product_id": variant.product_id,
            "title": variant.title,
            "price": Money(amount=variant.price_amount, currency=variant.currency),
            "sale_price": None if sale is None else Money(amount=sale, currency=variant.currency),
            "availability": variant.availability,
            "inventory_quantity": variant.inventory_quantity,
            "is_eligible_search": variant.is_eligible_search,
            "is_eligible_checkout": variant.is_eligible_checkout,
            "gtin": variant.gtin,
            "mpn": variant.mpn,
            "brand": variant.brand,
            "url": variant.url,
            "image_url": media[0].get("url") if media else None,
            "listed": variant.delisted_at is None,
            "delisted_at": variant.delisted_at,
            "updated_at": variant.updated_at,
        }

    @classmethod
    def of(cls, variant: Variant) -> VariantSummary:
        return cls(**cls.fields_of(variant))


class VariantPage(BaseModel):
    data: list[VariantSummary]
    has_more: bool
    next_cursor: str | None = Field(description="Send as `starting_after` for the next page.")

    @classmethod
    def of(cls, variants: Sequence[Variant], has_more: bool) -> VariantPage:
        return cls(
            data=[VariantSummary.of(v) for v in variants],
            has_more=has_more,
            next_cursor=variants[-1].id if has_more and variants else None,
        )


class MediaView(BaseModel):
    type: str
    url: str
    alt_text: str | None = None
    width: int | None = None
    height: int | None = None


class VariantOption(BaseModel):
    name: str
    value: str


class Weight(BaseModel):
    value: Decimal
    unit: str | None


class Dimensions(BaseModel):
    length: Decimal | None
    width: Decimal | None
    height: Decimal | None
    unit: str | None


class Seller(BaseModel):
    name: str | None
    url: str | None


class ProductRef(BaseModel):
    id: str
    title: str | None
    url: str | None


class VariantDetail(VariantSummary):
    description: str | None
    media: list[MediaView]
    variant_options: list[VariantOption]
    condition: str | None
    category: str | None
    weight: Weight | None
    dimensions: Dimensions | None
    is_digital: bool
    seller: Seller | None
    target_countries: list[str]
    store_country: str | None
    tax_category: str | None
    max_quantity_per_order: int | None
    attributes: dict[str, Any]
    product: ProductRef
    last_feed_run_id: str | None
    created_at: datetime

    @classmethod
    def of_variant(cls, variant: Variant, product: Product) -> VariantDetail:
        v = variant
        has_dimensions = any(x is not None for x in (v.length, v.width, v.height))
        has_seller = v.seller_name is not None or v.seller_url is not None
        return cls(
            **cls.fields_of(v),
            description=v.description,
            media=[MediaView.model_validate(m) for m in v.media or []],
            variant_options=[
                VariantOption(name=name, value=value) for name, value in v.variant_options or []
            ],
            condition=v.condition,
            category=v.category,
            weight=None if v.weight is None else Weight(value=v.weight, unit=v.weight_unit),
            dimensions=Dimensions(length=v.length, width=v.width, height=v.height, unit=v.dimension_unit)
            if has_dimensions
            else None,
            is_digital=v.is_digital,
            seller=Seller(name=v.seller_name, url=v.seller_url) if has_seller else None,
            target_countries=list(v.target_countries or []),
            store_country=v.store_country,
            tax_category=v.tax_category,
            max_quantity_per_order=v.max_quantity_per_order,
            attributes=v.attributes or {},
            product=ProductRef(id=product.id, title=product.title, url=product.url),
            last_feed_run_id=v.last_feed_run_id,
            created_at=v.created_at,
        )


def _not_nullable(schema: dict[str, Any]) -> None:
    """Document an optional field as its non-null type: null is accepted only as "not sent"."""
    options = [option for option in schema.pop("anyOf", []) if option != {"type": "null"}]
    if len(options) == 1:
        schema.update(options[0])
    elif options:
        schema["anyOf"] = options
    schema.pop("default", None)


class InventoryUpdate(BaseModel):
    """``PATCH .../inventory``: send ``inventory_quantity``, ``availability`` or both."""

    model_config = ConfigDict(extra="forbid")

    inventory_quantity: StrictInt | None = Field(
        default=None, ge=0, le=INT4_MAX, description="Units on hand; null stops tracking inventory."
    )
    # Optional only so that "not sent" is None; an explicit null is refused. (A union with
    # SkipJsonSchema[None] would put the union member in the error's param.)
    availability: Availability | None = Field(
        default=None,
        description="The availability to set (omit it to keep the current one; not null).",
        json_schema_extra=_not_nullable,
    )

    @field_validator("availability", mode="before")
    @classmethod
    def _availability_not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("availability may not be null")
        return value
