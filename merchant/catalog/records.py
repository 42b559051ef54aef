"""Pure: the canonical catalog record every feed format maps to, and row errors.

A ``VariantRecord`` is one purchasable item (the id agents send at checkout).
Mappers (``merchant.catalog.mapping``) turn a source row into a record or into
``FieldError``s; the loader COPYs records into staging in ``STAGE_COLUMNS`` order.
Money is integer minor units in ``currency`` (upper-case ISO 4217).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from decimal import Decimal
from enum import StrEnum
from typing import Any


class Availability(StrEnum):
    """Union of the OpenAI flat-file values and the ACP feed statuses."""

    IN_STOCK = "in_stock"
    LIMITED_STOCK = "limited_stock"  # ACP only
    OUT_OF_STOCK = "out_of_stock"
    PRE_ORDER = "pre_order"  # ACP and Google spell it "preorder"
    BACKORDER = "backorder"
    DISCONTINUED = "discontinued"  # ACP only
    UNKNOWN = "unknown"  # OpenAI only

    @property
    def purchasable(self) -> bool:
        return self in _PURCHASABLE


_PURCHASABLE = frozenset(
    {Availability.IN_STOCK, Availability.LIMITED_STOCK, Availability.PRE_ORDER, Availability.BACKORDER}
)


class Condition(StrEnum):
    NEW = "new"
    REFURBISHED = "refurbished"
    USED = "used"


class FeedFormat(StrEnum):
    OPENAI_CSV = "openai-csv"
    OPENAI_TSV = "openai-tsv"
    OPENAI_JSONL = "openai-jsonl"
    GOOGLE_TSV = "google-tsv"
    GOOGLE_CSV = "google-csv"
    GOOGLE_XML = "google-xml"
    ACP_JSONL = "acp-jsonl"
    PARQUET = "openai-parquet"  # recognised (its runs fail with ``unsupported_format``), not read


# What a caller may name as a feed's format (our OpenAPI document lists only these).
READABLE_FORMATS: tuple[FeedFormat, ...] = tuple(f for f in FeedFormat if f is not FeedFormat.PARQUET)


class FeedMode(StrEnum):
    SNAPSHOT = "snapshot"  # full replacement: variants missing from the file are delisted
    UPSERT = "upsert"  # only the variants in the file change


@dataclass(frozen=True, slots=True)
class Media:
    url: str
    type: str = "image"
    alt_text: str | None = None
    width: int | None = None
    height: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON object (as stored and as ACP writes it): optional members only when set."""
        media: dict[str, Any] = {"type": self.type, "url": self.url}
        if self.alt_text is not None:
            media["alt_text"] = self.alt_text
        if self.width is not None:
            media["width"] = self.width
        if self.height is not None:
            media["height"] = self.height
        return media


@dataclass(frozen=True, slots=True)
class ProductInfo:
    """Product-level data some formats carry (ACP products, legacy group titles)."""

    title: str | None = None
    description: str | None = None
    url: str | None = None
    media: tuple[Media, ...] = ()
    attributes: dict[str, Any] = field(default_factory=dict)  # e.g. description_html


# Not ``frozen``: a frozen dataclass sets every field through ``object.__setattr__`` and
# builds 8x slower (10.7 vs 1.4 us for this class), which is most of a feed row's mapping
# budget. Records are still treated as immutable values: build a new one with ``replace``.
@dataclass(slots=True)
class VariantRecord:
    id: str
    product_id: str  # the group id; equals ``id`` for an item without variants
    title: str
    price_amount: int
    currency: str
    availability: Availability
    description: str | None = None
    url: str | None = None
    media: tuple[Media, ...] = ()  # first = primary image
    brand: str | None = None
    gtin: str | None = None
    mpn: str | None = None
    condition: Condition | None = None
    category: str | None = None
    variant_options: tuple[tuple[str, str], ...] = ()  # (name, value) in feed order
    sale_price_amount: int | None = None  # strictly below price_amount
    inventory_quantity: int | None = None  # None = not tracked
    weight: Decimal | None = None
    weight_unit: str | None = None  # g, kg, oz, lb
    length: Decimal | None = None
    width: Decimal | None = None
    height: Decimal | None = None
    dimension_unit: str | None = None  # in, cm, ft, m, mm
    is_digital: bool = False
    seller_name: str | None = None
    seller_url: str | None = None
    is_eligible_search: bool = True
    is_eligible_checkout: bool = False
    target_countries: tuple[str, ...] = ()
    store_country: str | None = None
    tax_category: str | None = None
    max_quantity_per_order: int | None = None
    # Everything else the formats carry, kept so export loses nothing; JSON values only.
    # Keys shared by every mapper (so a feed imported in one format exports in another):
    #   seller_privacy_policy, seller_tos (URLs)  <-> ACP seller.links privacy_policy/terms_of_service
    #   color, size, material, gender, age_group, offer_id, shipping_price ("5.00 USD"),
    #   accepts_returns, return_policy, return_deadline_in_days, review_count, star_rating
    # Format-specific keys are prefixed: "acp_" (e.g. acp_unit_price) or "google_".
    attributes: dict[str, Any] = field(default_factory=dict)
    product: ProductInfo = field(default_factory=ProductInfo)

    @property
    def effective_price(self) -> int:
        """What a buyer pays per unit: the sale price when there is one."""
        return self.sale_price_amount if self.sale_price_amount is not None else self.price_amount


VARIANT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(VariantRecord) if f.name != "product")


@dataclass(frozen=True, slots=True)
class FieldError:
    """What a mapper reports: which field (column name or JSONPath) is wrong, and why."""

    field: str
    code: str  # missing_required_field | invalid_value | too_long | ...
    message: str


@dataclass(frozen=True, slots=True)
class RowError:
    """A rejected row as the feed run stores it."""

    line: int
    item_id: str | None
    field: str | None
    code: str
    message: str


MapResult = VariantRecord | list[FieldError]
