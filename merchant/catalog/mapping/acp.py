"""Pure: the ACP feed format (``products.jsonl`` + ``metadata.json``) <-> ``VariantRecord``.

One ``products.jsonl`` line is an ACP ``Product`` (schema ``schema.feed.json#/$defs/Product``)
grouping purchasable ``Variant``s; every variant becomes one ``VariantRecord``.

Import (``map_acp_product``) validates the line like the official JSON Schema (every object is
closed; types, required properties, patterns) plus what we need to sell: a variant must have a
``price``, ``list_price`` shares its currency and is not below it, currencies are real ISO 4217
codes, a GTIN-typed barcode has a valid check digit, URLs are absolute http(s). Errors are
``FieldError``s whose ``field`` is an RFC 9535 JSONPath relative to the line
(``$.variants[1].price.amount``). A product-level error rejects every variant of the product;
a variant-level error rejects only that variant.

Export (``to_acp_product``) is the inverse and always yields a schema-valid ``Product``, also for
records that came from other formats. ``map_acp_product(to_acp_product(records))`` gives back
``records`` for records this module produced, and a product exports exactly as imported (JSON
equality) except for these normalisations:

* empty ``media`` / ``variant_options`` arrays and an empty ``seller`` object are omitted;
* a float amount/width/height with an integral value (``1999.0``) becomes an int.

Price semantics: ACP ``price`` is the active selling price and ``list_price`` the pre-discount
one; our ``price_amount`` is the regular price and ``sale_price_amount`` the sale price. So
``list_price > price`` imports as ``price_amount=list_price, sale_price_amount=price``. A
``list_price`` equal to ``price`` carries no information, but is remembered as
``acp_list_price_equal: True`` so the product exports exactly as received.

Availability: a known status (any casing; ``preorder`` is our ``pre_order``) decides, except
that ``available: false`` beside a purchasable status means out of stock (the cautious side
wins); an unknown status follows ``available``; no object, or neither property, is UNKNOWN,
which exports as no ``availability`` at all.

Attribute keys written here (``VariantRecord.attributes``):

* ``description_html``, ``description_markdown``: Description.html / .markdown (also in
  ``ProductInfo.attributes`` for the product description);
* ``seller_privacy_policy``, ``seller_tos``: URL of the first seller link of type
  ``privacy_policy`` / ``terms_of_service`` (shared with the other formats);
* ``acp_barcodes``: the barcode list verbatim, unless it is exactly ``[{"type": "GTIN", "value":
  gtin}]``;
* ``acp_list_price_equal``: ``True`` when ``list_price`` equals ``price``;
* ``acp_unit_price``: the UnitPrice object verbatim;
* ``acp_availability_status``: a status string we do not know (availability then follows
  ``available``);
* ``acp_availability``: the Availability object verbatim, when the canonical export
  ``{"available": <purchasable>, "status": <status>}`` would not reproduce it (``available``
  disagreeing with or missing next to ``status``, no ``status``, other casing, ``{}``);
* ``acp_category_taxonomy``: taxonomy of the first category;
* ``acp_categories``: the category list verbatim when it does not hold exactly one category;
* ``acp_condition``: the condition list verbatim unless it is exactly one of new/refurbished/used;
* ``acp_seller_links``: seller.links verbatim unless it is exactly the canonical
  ``[privacy_policy, terms_of_service]`` links without titles;
* ``acp_marketplace``: the marketplace (Seller) object verbatim.

Export uses a verbatim ``acp_*`` value only while it still agrees with the record's typed fields
(e.g. ``acp_barcodes`` only if it yields ``record.gtin``), so an edited record exports its edit.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from merchant.catalog.mapping.common import blank, gtin_valid, url_problem
from merchant.catalog.records import (
    Availability,
    Condition,
    FieldError,
    MapResult,
    Media,
    ProductInfo,
    VariantRecord,
)
from merchant.kit.jsonpath import jsonpath
from merchant.kit.money import MoneyError, exponent

_Path = tuple[str | int, ...]
_Json = dict[str, Any]

_CURRENCY = re.compile(r"[A-Z]{3}")
_COUNTRY = re.compile(r"[A-Z]{2}")
# RFC 3339 date-time (JSON Schema "format": "date-time").
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})")

_PRODUCT_KEYS = ("id", "title", "description", "url", "media", "variants")
_VARIANT_KEYS = (
    "id",
    "title",
    "description",
    "url",
    "barcodes",
    "price",
    "list_price",
    "unit_price",
    "availability",
    "categories",
    "condition",
    "variant_options",
    "media",
    "seller",
    "marketplace",
)
_DESCRIPTION_KEYS = ("plain", "html", "markdown")
_MEDIA_KEYS = ("type", "url", "alt_text", "width", "height")
_PRICE_KEYS = ("amount", "currency")
_UNIT_PRICE_KEYS = ("amount", "currency", "measure", "reference")
_MEASURE_KEYS = ("value", "unit")
_AVAILABILITY_KEYS = ("available", "status")
_BARCODE_KEYS = ("type", "value")
_CATEGORY_KEYS = ("value", "taxonomy")
_OPTION_KEYS = ("name", "value")
_SELLER_KEYS = ("name", "links")
_LINK_KEYS = ("type", "title", "url")
_METADATA_KEYS = ("id", "target_country", "updated_at")

_GTIN_TYPES = ("GTIN", "UPC", "EAN")
_PRIVACY = "privacy_policy"
_TOS = "terms_of_service"

# ACP status spelling -> ours. Matched case-insensitively; other casings keep the raw object.
_STATUS: dict[str, Availability] = {
    "in_stock": Availability.IN_STOCK,
    "limited_stock": Availability.LIMITED_STOCK,
    "out_of_stock": Availability.OUT_OF_STOCK,
    "backorder": Availability.BACKORDER,
    "discontinued": Availability.DISCONTINUED,
    "preorder": Availability.PRE_ORDER,
}
_SPELLING: dict[Availability, str] = {ours: acp for acp, ours in _STATUS.items()}
_CONDITIONS = {c.value: c for c in Condition}


# --------------------------------------------------------------------------- validation helpers


def _kind(value: Any) -> str:
    """The JSON type name of a parsed value, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object" if isinstance(value, dict) else type(value).__name__


def _fail(errors: list[FieldError], path: _Path, code: str, message: str) -> None:
    where = jsonpath(path)
    errors.append(FieldError(where, code, f"{where} {message}"))


def _object(
    errors: list[FieldError],
    value: Any,
    path: _Path,
    kind: str,
    allowed: tuple[str, ...],
    required: tuple[str, ...] = (),
) -> _Json | None:
    """``value`` as a closed object: unknown and missing properties are reported."""
    if not isinstance(value, dict):
        _fail(errors, path, "invalid_value", f"must be a {kind} object, not {_kind(value)}")
        return None
    for key in value:
        if key not in allowed:
            _fail(errors, (*path, key), "unknown_field", f"is not a property of {kind}")
    for key in required:
        if key not in value:
            _fail(errors, (*path, key), "missing_required_field", f"is required in {kind}")
    return value


def _string(
    errors: list[FieldError], obj: _Json, key: str, path: _Path, *, nonblank: bool = False
) -> str | None:
    """The string at ``obj[key]``; None when absent or wrong (wrong is reported)."""
    if key not in obj:
        return None
    value = obj[key]
    if not isinstance(value, str):
        _fail(errors, (*path, key), "invalid_value", f"must be a string, not {_kind(value)}")
        return None
    if nonblank and blank(value):
        _fail(errors, (*path, key), "invalid_value", "must not be empty")
        return None
    return value


def _as_int(value: Any) -> int | None:
    """A JSON Schema integer (``2`` or ``2.0``, never a boolean) as an int."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _integer(
    errors: list[FieldError], obj: _Json, key: str, path: _Path, *, minimum: int | None = None
) -> int | None:
    if key not in obj:
        return None
    number = _as_int(obj[key])
    if number is None or (minimum is not None and number < minimum):
        floor = "" if minimum is None else f" of at least {minimum}"
        _fail(errors, (*path, key), "invalid_value", f"must be an integer{floor}, not {obj[key]!r}")
        return None
    return number


def _url(errors: list[FieldError], obj: _Json, key: str, path: _Path) -> str | None:
    value: str | None = _string(errors, obj, key, path)
    if value is None:
        return None
    problem = url_problem(value)
    if problem:
        _fail(errors, (*path, key), "invalid_value", problem)
        return None
    return value


def _array(errors: list[FieldError], obj: _Json, key: str, path: _Path) -> list[Any] | None:
    if key not in obj:
        return None
    value = obj[key]
    if not isinstance(value, list):
        _fail(errors, (*path, key), "invalid_value", f"must be an array, not {_kind(value)}")
        return None
    return value


def _currency(errors: list[FieldError], obj: _Json, key: str, path: _Path) -> str | None:
    value: str | None = _string(errors, obj, key, path)
    if value is None:
        return None
    if not _CURRENCY.fullmatch(value):
        _fail(
            errors, (*path, key), "invalid_value", f"must be 3 upper-case letters (ISO 4217), not {value!r}"
        )
        return None
    try:
        exponent(value)
    except MoneyError as exc:
        _fail(errors, (*path, key), "invalid_value", str(exc))
        return None
    return value


# --------------------------------------------------------------------------- schema objects


def _description(errors: list[FieldError], value: Any, path: _Path) -> dict[str, str] | None:
    obj = _object(errors, value, path, "Description", _DESCRIPTION_KEYS)
    if obj is None:
        return None
    if not obj:
        _fail(errors, path, "invalid_value", "must have at least one of plain, html, markdown")
    found: dict[str, str] = {}
    for key in _DESCRIPTION_KEYS:
        text = _string(errors, obj, key, path)
        if text is not None:
            found[key] = text
    return found


def _media(errors: list[FieldError], obj: _Json, key: str, path: _Path) -> tuple[Media, ...]:
    items = _array(errors, obj, key, path)
    if not items:
        return ()
    media: list[Media] = []
    for index, item in enumerate(items):
        where = (*path, key, index)
        before = len(errors)
        asset = _object(errors, item, where, "Media", _MEDIA_KEYS, ("type", "url"))
        if asset is None:
            continue
        kind = _string(errors, asset, "type", where)
        url = _url(errors, asset, "url", where)
        alt_text = _string(errors, asset, "alt_text", where)
        width = _integer(errors, asset, "width", where)
        height = _integer(errors, asset, "height", where)
        if len(errors) == before and url is not None and kind is not None:
            media.append(Media(url=url, type=kind, alt_text=alt_text, width=width, height=height))
    return tuple(media)


def _price(errors: list[FieldError], value: Any, path: _Path) -> tuple[int, str] | None:
    before = len(errors)
    obj = _object(errors, value, path, "Price", _PRICE_KEYS, ("amount", "currency"))
    if obj is None:
        return None
    amount = _integer(errors, obj, "amount", path, minimum=0)
    currency = _currency(errors, obj, "currency", path)
    if len(errors) != before or amount is None or currency is None:
        return None
    return amount, currency


def _measure(errors: list[FieldError], obj: _Json, key: str, path: _Path, kind: str) -> None:
    where = (*path, key)
    measure = _object(errors, obj[key], where, kind, _MEASURE_KEYS, ("value", "unit"))
    if measure is None:
        return
    if "value" in measure:
        value = measure["value"]
        if kind == "ReferenceMeasure":
            _integer(errors, measure, "value", where)
        elif isinstance(value, bool) or not isinstance(value, int | float):
            _fail(errors, (*where, "value"), "invalid_value", f"must be a number, not {_kind(value)}")
    _string(errors, measure, "unit", where)


def _unit_price(errors: list[FieldError], value: Any, path: _Path) -> None:
    obj = _object(
        errors, value, path, "UnitPrice", _UNIT_PRICE_KEYS, ("amount", "currency", "measure", "reference")
    )
    if obj is None:
        return
    _integer(errors, obj, "amount", path, minimum=0)
    _currency(errors, obj, "currency", path)
    if "measure" in obj:
        _measure(errors, obj, "measure", path, "Measure")
    if "reference" in obj:
        _measure(errors, obj, "reference", path, "ReferenceMeasure")


def _availability_object(errors: list[FieldError], value: Any, path: _Path) -> _Json | None:
    obj = _object(errors, value, path, "Availability", _AVAILABILITY_KEYS)
    if obj is None:
        return None
    if "available" in obj and not isinstance(obj["available"], bool):
        _fail(
            errors, (*path, "available"), "invalid_value", f"must be a boolean, not {_kind(obj['available'])}"
        )
    _string(errors, obj, "status", path)
    return obj


def _objects(
    errors: list[FieldError],
    obj: _Json,
    key: str,
    path: _Path,
    kind: str,
    allowed: tuple[str, ...],
    required: tuple[str, ...],
    urls: tuple[str, ...] = (),
) -> list[_Json] | None:
    """An array of closed objects whose properties are all strings (Barcode, Category, ...)."""
    items = _array(errors, obj, key, path)
    if items is None:
        return None
    for index, item in enumerate(items):
        where = (*path, key, index)
        element = _object(errors, item, where, kind, allowed, required)
        if element is None:
            continue
        for name in allowed:
            if name in urls:
                _url(errors, element, name, where)
            else:
                _string(errors, element, name, where)
    return items


def _seller(errors: list[FieldError], value: Any, path: _Path) -> _Json | None:
    obj = _object(errors, value, path, "Seller", _SELLER_KEYS)
    if obj is None:
        return None
    _string(errors, obj, "name", path)
    _objects(errors, obj, "links", path, "Link", _LINK_KEYS, ("type", "url"), urls=("url",))
    return obj


def _condition(errors: list[FieldError], obj: _Json, path: _Path) -> list[Any] | None:
    items = _array(errors, obj, "condition", path)
    for index, item in enumerate(items or ()):
        if not isinstance(item, str):
            _fail(
                errors, (*path, "condition", index), "invalid_value", f"must be a string, not {_kind(item)}"
            )
    return items


def _valid(check: Callable[[list[FieldError], Any, _Path], object], value: Any) -> bool:
    """Whether ``value`` passes a validator (export re-checks verbatim attributes)."""
    errors: list[FieldError] = []
    check(errors, value, ())
    return not errors


# --------------------------------------------------------------------------- derived values


def _barcode_gtin(barcodes: list[_Json]) -> str | None:
    """The first GTIN/UPC/EAN barcode value with a valid check digit."""
    for barcode in barcodes:
        if barcode["type"].upper() in _GTIN_TYPES and gtin_valid(barcode["value"]):
            value: str = barcode["value"]
            return value
    return None


def _read_availability(obj: _Json) -> tuple[Availability, str | None]:
    """Our availability for an ACP Availability object, and its status if we do not know it.

    A known status decides, except that ``available: false`` next to a purchasable status
    (``{"available": false, "status": "in_stock"}``) means out of stock: when the two disagree
    the more cautious one wins (``{"available": true, "status": "out_of_stock"}`` stays out of
    stock). Either way the object is kept verbatim so export reproduces it.
    """
    status = obj.get("status")
    available = obj.get("available")
    if status is not None:
        known = _STATUS.get(status.lower())
        if known is not None:
            if available is False and known.purchasable:
                return Availability.OUT_OF_STOCK, None
            return known, None
    if available is None:
        return Availability.UNKNOWN, status
    return (Availability.IN_STOCK if available else Availability.OUT_OF_STOCK), status


def _canonical_availability(availability: Availability, unknown_status: str | None) -> _Json | None:
    """What export writes when no verbatim object is kept; UNKNOWN omits availability."""
    if availability is Availability.UNKNOWN:
        return None
    if unknown_status is not None and availability in (Availability.IN_STOCK, Availability.OUT_OF_STOCK):
        status = unknown_status
    else:
        status = _SPELLING[availability]
    return {"available": availability.purchasable, "status": status}


def _policy_urls(links: list[_Json]) -> tuple[str | None, str | None]:
    """URLs of the first privacy_policy and terms_of_service links."""
    privacy = next((link["url"] for link in links if link["type"] == _PRIVACY), None)
    tos = next((link["url"] for link in links if link["type"] == _TOS), None)
    return privacy, tos


def _canonical_links(privacy: Any, tos: Any) -> list[_Json] | None:
    links = [
        {"type": kind, "url": url} for kind, url in ((_PRIVACY, privacy), (_TOS, tos)) if isinstance(url, str)
    ]
    return links or None


def _first_category(categories: list[_Json]) -> tuple[str | None, str | None]:
    if not categories:
        return None, None
    return categories[0]["value"], categories[0].get("taxonomy")


def _description_attributes(description: dict[str, str] | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if description:
        if "html" in description:
            attributes["description_html"] = description["html"]
        if "markdown" in description:
            attributes["description_markdown"] = description["markdown"]
    return attributes


# --------------------------------------------------------------------------- import


def map_acp_product(obj: Any, *, target_country: str | None = None) -> list[tuple[str | None, MapResult]]:
    """One ``products.jsonl`` line -> one (variant id, record or errors) per variant.

    A line whose variants cannot be enumerated (not an object, ``variants`` missing or not an
    array) yields a single ``(None, errors)``; a valid product without variants yields ``[]``.
    ``target_country`` (from ``metadata.json``) becomes every record's ``target_countries``.
    """
    if target_country is not None and not _COUNTRY.fullmatch(target_country):
        raise ValueError(f"target_country must be an ISO 3166-1 alpha-2 code, not {target_country!r}")
    errors: list[FieldError] = []
    product = _object(errors, obj, (), "Product", _PRODUCT_KEYS, ("id", "variants"))
    if product is None:
        return [(None, errors)]
    product_id: str | None = _string(errors, product, "id", (), nonblank=True)
    title: str | None = _string(errors, product, "title", ())
    description = (
        _description(errors, product["description"], ("description",)) if "description" in product else None
    )
    url = _url(errors, product, "url", ())
    media = _media(errors, product, "media", ())
    variants = _array(errors, product, "variants", ())
    if variants is None or (errors and not variants):
        return [(None, errors)]
    info = ProductInfo(
        title=title,
        description=description.get("plain") if description else None,
        url=url,
        media=media,
        attributes=_description_attributes(description),
    )
    countries = (target_country,) if target_country is not None else ()
    results: list[tuple[str | None, MapResult]] = []
    for index, variant in enumerate(variants):
        variant_id, result = _map_variant(variant, index, product_id or "", info, countries)
        if errors:
            own = result if isinstance(result, list) else []
            results.append((variant_id, [*errors, *own]))
        else:
            results.append((variant_id, result))
    return results


def _map_variant(
    value: Any, index: int, product_id: str, info: ProductInfo, countries: tuple[str, ...]
) -> tuple[str | None, MapResult]:
    errors: list[FieldError] = []
    path: _Path = ("variants", index)
    variant = _object(errors, value, path, "Variant", _VARIANT_KEYS, ("id", "title"))
    if variant is None:
        return None, errors
    variant_id: str | None = _string(errors, variant, "id", path, nonblank=True)
    title: str | None = _string(errors, variant, "title", path)
    attributes: dict[str, Any] = {}

    description = (
        _description(errors, variant["description"], (*path, "description"))
        if "description" in variant
        else None
    )
    attributes.update(_description_attributes(description))
    url = _url(errors, variant, "url", path)
    media = _media(errors, variant, "media", path)

    # Price: ACP price = active selling price, list_price = pre-discount price.
    price = list_price = None
    if "price" not in variant:
        _fail(
            errors,
            (*path, "price"),
            "missing_required_field",
            "is required: a variant without a price cannot be sold",
        )
    else:
        price = _price(errors, variant["price"], (*path, "price"))
    if "list_price" in variant:
        list_price = _price(errors, variant["list_price"], (*path, "list_price"))
    price_amount = sale_amount = None
    if price is not None:
        price_amount = price[0]
        if list_price is not None:
            if list_price[1] != price[1]:
                _fail(
                    errors,
                    (*path, "list_price", "currency"),
                    "invalid_value",
                    f"must equal the price currency {price[1]}, not {list_price[1]}",
                )
            elif list_price[0] < price[0]:
                _fail(
                    errors,
                    (*path, "list_price", "amount"),
                    "invalid_value",
                    f"({list_price[0]}) must not be below price.amount ({price[0]})",
                )
            elif list_price[0] > price[0]:
                price_amount, sale_amount = list_price[0], price[0]
            else:
                attributes["acp_list_price_equal"] = True

    if "unit_price" in variant:
        before = len(errors)
        _unit_price(errors, variant["unit_price"], (*path, "unit_price"))
        if len(errors) == before:
            attributes["acp_unit_price"] = variant["unit_price"]

    availability = Availability.UNKNOWN
    if "availability" in variant:
        before = len(errors)
        raw = _availability_object(errors, variant["availability"], (*path, "availability"))
        if raw is not None and len(errors) == before:
            availability, unknown_status = _read_availability(raw)
            if unknown_status is not None:
                attributes["acp_availability_status"] = unknown_status
            if _canonical_availability(availability, unknown_status) != raw:
                attributes["acp_availability"] = raw

    gtin = None
    before = len(errors)
    barcodes = _objects(errors, variant, "barcodes", path, "Barcode", _BARCODE_KEYS, ("type", "value"))
    if barcodes is not None and len(errors) == before:
        for position, barcode in enumerate(barcodes):
            if barcode["type"].upper() == "GTIN" and not gtin_valid(barcode["value"]):
                _fail(
                    errors,
                    (*path, "barcodes", position, "value"),
                    "invalid_gtin",
                    f"{barcode['value']!r} is not a GTIN-8/12/13/14 with a valid check digit",
                )
        gtin = _barcode_gtin(barcodes)
        if barcodes != [{"type": "GTIN", "value": gtin}]:
            attributes["acp_barcodes"] = barcodes

    category = None
    before = len(errors)
    categories = _objects(errors, variant, "categories", path, "Category", _CATEGORY_KEYS, ("value",))
    if categories is not None and len(errors) == before:
        category, taxonomy = _first_category(categories)
        if taxonomy is not None:
            attributes["acp_category_taxonomy"] = taxonomy
        if len(categories) != 1:
            attributes["acp_categories"] = categories

    condition = None
    before = len(errors)
    conditions = _condition(errors, variant, path)
    if conditions is not None and len(errors) == before:
        if len(conditions) == 1 and conditions[0] in _CONDITIONS:
            condition = _CONDITIONS[conditions[0]]
        else:
            attributes["acp_condition"] = conditions

    before = len(errors)
    options = _objects(
        errors, variant, "variant_options", path, "VariantOption", _OPTION_KEYS, ("name", "value")
    )
    variant_options = (
        tuple((option["name"], option["value"]) for option in options)
        if options and len(errors) == before
        else ()
    )

    seller_name = None
    if "seller" in variant:
        before = len(errors)
        seller = _seller(errors, variant["seller"], (*path, "seller"))
        if seller is not None and len(errors) == before:
            seller_name = seller.get("name")
            links = seller.get("links")
            if links is not None:
                privacy, tos = _policy_urls(links)
                if privacy is not None:
                    attributes["seller_privacy_policy"] = privacy
                if tos is not None:
                    attributes["seller_tos"] = tos
                if links != _canonical_links(privacy, tos):
                    attributes["acp_seller_links"] = links

    if "marketplace" in variant:
        before = len(errors)
        _seller(errors, variant["marketplace"], (*path, "marketplace"))
        if len(errors) == before:
            attributes["acp_marketplace"] = variant["marketplace"]

    if errors or variant_id is None or title is None or price is None or price_amount is None:
        return variant_id, errors
    return variant_id, VariantRecord(
        id=variant_id,
        product_id=product_id,
        title=title,
        price_amount=price_amount,
        currency=price[1],
        availability=availability,
        description=description.get("plain") if description else None,
        url=url,
        media=media,
        gtin=gtin,
        condition=condition,
        category=category,
        variant_options=variant_options,
        sale_price_amount=sale_amount,
        seller_name=seller_name,
        is_eligible_search=True,
        is_eligible_checkout=True,
        target_countries=countries,
        attributes=attributes,
        product=info,
    )


# --------------------------------------------------------------------------- metadata


@dataclass(frozen=True, slots=True)
class AcpFeedMetadata:
    """``metadata.json`` of an offline ACP feed (schema ``FeedMetadata``)."""

    id: str
    target_country: str | None = None
    updated_at: datetime | None = None  # always timezone-aware


def map_acp_metadata(obj: Any) -> tuple[AcpFeedMetadata | None, list[FieldError]]:
    """Validate ``metadata.json``; the metadata is None whenever there are errors."""
    errors: list[FieldError] = []
    meta = _object(errors, obj, (), "FeedMetadata", _METADATA_KEYS, ("id",))
    if meta is None:
        return None, errors
    feed_id: str | None = _string(errors, meta, "id", (), nonblank=True)
    country: str | None = _string(errors, meta, "target_country", ())
    if country is not None and not _COUNTRY.fullmatch(country):
        _fail(
            errors,
            ("target_country",),
            "invalid_value",
            f"must be an ISO 3166-1 alpha-2 code, not {country!r}",
        )
    stamp: str | None = _string(errors, meta, "updated_at", ())
    updated_at = None
    if stamp is not None:
        if _DATE_TIME.fullmatch(stamp):
            try:
                updated_at = datetime.fromisoformat(stamp.upper())
            except ValueError:
                updated_at = None
        if updated_at is None:
            _fail(errors, ("updated_at",), "invalid_value", f"must be an RFC 3339 date-time, not {stamp!r}")
    if errors or feed_id is None:
        return None, errors
    return AcpFeedMetadata(id=feed_id, target_country=country, updated_at=updated_at), []


def to_acp_metadata(feed_id: str, target_country: str | None, updated_at: datetime | None) -> dict[str, Any]:
    """A ``FeedMetadata`` object; ``updated_at`` keeps its offset, UTC is written ``Z``."""
    metadata: dict[str, Any] = {"id": feed_id}
    if target_country is not None:
        metadata["target_country"] = target_country
    if updated_at is not None:
        if updated_at.tzinfo is None or updated_at.utcoffset() is None:
            raise ValueError("updated_at must be timezone-aware")
        text = updated_at.isoformat()
        metadata["updated_at"] = text[:-6] + "Z" if updated_at.utcoffset() == timedelta(0) else text
    return metadata


# --------------------------------------------------------------------------- export


def to_acp_product(records: Sequence[VariantRecord]) -> dict[str, Any]:
    """The ACP ``Product`` for the records of one product (same ``product_id``, in order).

    Product-level fields come from the first record's ``ProductInfo``. The result validates
    against ``schema.feed.json#/$defs/Product`` whatever format the records came from.
    """
    if not records:
        raise ValueError("a product needs at least one variant record")
    product_id = records[0].product_id
    if any(record.product_id != product_id for record in records):
        raise ValueError(f"records of several products given (expected product_id {product_id!r})")
    info = records[0].product
    product: dict[str, Any] = {"id": product_id}
    if info.title is not None:
        product["title"] = info.title
    description = _export_description(info.description, info.attributes)
    if description:
        product["description"] = description
    if info.url is not None:
        product["url"] = info.url
    if info.media:
        product["media"] = [asset.to_dict() for asset in info.media]
    product["variants"] = [_export_variant(record) for record in records]
    return product


def _export_description(plain: str | None, attributes: dict[str, Any]) -> dict[str, str]:
    description: dict[str, str] = {}
    if plain is not None:
        description["plain"] = plain
    for key, name in (("html", "description_html"), ("markdown", "description_markdown")):
        value = attributes.get(name)
        if isinstance(value, str):
            description[key] = value
    return description


def _export_variant(record: VariantRecord) -> dict[str, Any]:
    attributes = record.attributes
    variant: dict[str, Any] = {"id": record.id, "title": record.title}
    description = _export_description(record.description, attributes)
    if description:
        variant["description"] = description
    if record.url is not None:
        variant["url"] = record.url

    barcodes = _verbatim_barcodes(attributes.get("acp_barcodes"), record.gtin)
    if barcodes is None and record.gtin is not None:
        barcodes = [{"type": "GTIN", "value": record.gtin}]
    if barcodes is not None:
        variant["barcodes"] = barcodes

    sale = record.sale_price_amount
    if sale is not None and sale < record.price_amount:
        variant["price"] = {"amount": sale, "currency": record.currency}
        variant["list_price"] = {"amount": record.price_amount, "currency": record.currency}
    else:
        variant["price"] = {"amount": record.price_amount, "currency": record.currency}
        if attributes.get("acp_list_price_equal") is True:
            variant["list_price"] = {"amount": record.price_amount, "currency": record.currency}
    unit_price = attributes.get("acp_unit_price")
    if unit_price is not None and _valid(_unit_price, unit_price):
        variant["unit_price"] = copy.deepcopy(unit_price)

    availability = _export_availability(record)
    if availability is not None:
        variant["availability"] = availability

    categories = _export_categories(record)
    if categories is not None:
        variant["categories"] = categories

    if record.condition is not None:
        variant["condition"] = [record.condition.value]
    else:
        conditions = attributes.get("acp_condition")
        if isinstance(conditions, list) and all(isinstance(item, str) for item in conditions):
            variant["condition"] = list(conditions)

    if record.variant_options:
        variant["variant_options"] = [
            {"name": name, "value": value} for name, value in record.variant_options
        ]
    if record.media:
        variant["media"] = [asset.to_dict() for asset in record.media]

    seller = _export_seller(record)
    if seller:
        variant["seller"] = seller
    marketplace = attributes.get("acp_marketplace")
    if marketplace is not None and _valid(_seller, marketplace):
        variant["marketplace"] = copy.deepcopy(marketplace)
    return variant


def _checked_objects(
    value: Any, kind: str, allowed: tuple[str, ...], required: tuple[str, ...], urls: tuple[str, ...] = ()
) -> list[_Json] | None:
    """A verbatim attribute list re-validated as the schema array it came from, else None."""
    errors: list[FieldError] = []
    items = _objects(errors, {"items": value}, "items", (), kind, allowed, required, urls)
    return None if errors or items is None else items


def _verbatim_barcodes(value: Any, gtin: str | None) -> list[_Json] | None:
    barcodes = _checked_objects(value, "Barcode", _BARCODE_KEYS, ("type", "value"))
    if barcodes is None or _barcode_gtin(barcodes) != gtin:
        return None
    if any(b["type"].upper() == "GTIN" and not gtin_valid(b["value"]) for b in barcodes):
        return None
    return copy.deepcopy(barcodes)


def _export_availability(record: VariantRecord) -> _Json | None:
    raw = record.attributes.get("acp_availability")
    if (
        raw is not None
        and _valid(_availability_object, raw)
        and _read_availability(raw)[0] == record.availability
    ):
        return dict(raw)
    status = record.attributes.get("acp_availability_status")
    return _canonical_availability(record.availability, status if isinstance(status, str) else None)


def _export_categories(record: VariantRecord) -> list[_Json] | None:
    found = record.attributes.get("acp_category_taxonomy")
    taxonomy = found if isinstance(found, str) else None
    raw = _checked_objects(record.attributes.get("acp_categories"), "Category", _CATEGORY_KEYS, ("value",))
    if raw is not None and _first_category(raw) == (record.category, taxonomy):
        return copy.deepcopy(raw)
    if record.category is None:
        return None
    category = {"value": record.category}
    if taxonomy is not None:
        category["taxonomy"] = taxonomy
    return [category]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _export_seller(record: VariantRecord) -> _Json:
    attributes = record.attributes
    seller: _Json = {}
    if record.seller_name is not None:
        seller["name"] = record.seller_name
    privacy, tos = _text(attributes.get("seller_privacy_policy")), _text(attributes.get("seller_tos"))
    links = _checked_objects(
        attributes.get("acp_seller_links"), "Link", _LINK_KEYS, ("type", "url"), ("url",)
    )
    if links is None or _policy_urls(links) != (privacy, tos):
        links = _canonical_links(privacy, tos)
    else:
        links = copy.deepcopy(links)
    if links is not None:
        seller["links"] = links
    return seller
