"""Pure: Google Merchant Center product data (TSV/CSV rows, RSS/Atom XML items) -> ``VariantRecord``.

Field rules: ``/work/shared/docs/feeds-and-openai.md`` §1.7 (Google-compatible product data feeds),
with the OpenAI value conventions of §1.2 (placeholders, booleans, URLs) and money rules of §1.3.6.

``map_google_row`` reads one row as ``merchant.catalog.sources`` delivers it: delimited rows keyed by
normalised header (``image link`` and ``g:image_link`` are ``image_link``) with ``str`` cells ("" = no
value); XML items keyed by local tag name, where a repeated tag is a list (``additional_image_link``,
``product_type``) and a nested element a dict (``shipping``). It returns a record, or every
``FieldError`` of the row (``field`` = the Google attribute name). It never raises on bad input.

Mapping decisions beyond the OpenAI flat-file rules (``merchant.catalog.mapping.openai``, whose
readers are reused here so both formats accept and reject values the same way):

* availability: ``in stock``/``in_stock``, ``out of stock``/``out_of_stock``, ``preorder`` (also
  ``pre_order``), ``backorder`` (any case); ``unknown`` is rejected, as on OpenAI's Google path.
* price/sale_price: ``"89.00 EUR"`` or ``"EUR 89.00"``, exact minor units, never rounded; price > 0;
  a sale price needs the price's currency and 0 < sale < price, else the row is rejected.
* gtin: spaces and dashes are stripped, then 8/12/13/14 digits with a valid check digit.
* category: the first non-empty ``product_type`` (XML may repeat it), else ``google_product_category``
  (kept as ``google_product_category`` in ``attributes`` when ``product_type`` won).
* ``item_group_id`` is the product id (else the item's own id) and makes the row a variant: its
  ``variant_options`` are the present ``_OPTION_NAMES`` attributes, in that order.
* weight: ``product_weight`` (net), else ``shipping_weight``, as ``"<number> <unit>"`` (g, kg, oz, lb).
  Dimensions: the ``product_length/width/height`` set if any is given, else the ``shipping_*`` set,
  each ``"<number> <unit>"`` (in, cm, ft, m, mm) with one unit for all. Units are never inferred.
* media: ``image_link`` first, then the valid ``additional_image_link`` URLs (XML list or
  comma-separated cell); invalid additional URLs are dropped silently.
* seller: ``seller_url`` is the scheme + host of ``link``; ``seller_name`` only from a
  ``seller_name`` column.
* flags: search defaults to true and checkout to **true** (a Google feed is the merchant's own
  catalog); ``enable_*`` over ``is_eligible_*``; search false forces checkout false.
* ``shipping`` (string or XML dict/list) is kept verbatim as ``attributes["google_shipping"]``;
  ``pattern`` / ``size_type`` as ``google_pattern`` / ``google_size_type``; ``color``, ``size``,
  ``material``, ``gender``, ``age_group`` under their shared keys; ``inventory_quantity`` (a column
  of Stripe's Google-like schema) as in the OpenAI feed. Other columns are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

from merchant.catalog.mapping.common import Row, blank, gtin_valid, url_problem
from merchant.catalog.mapping.openai import (
    _AGE_GROUPS,
    _CONDITIONS,
    _DIMENSION_UNITS,
    _GENDERS,
    _WEIGHT_UNITS,
    _choice,
    _flag,
    _integer,
    _money,
    _text,
    _url,
)
from merchant.catalog.records import Availability, MapResult, Media, ProductInfo, VariantRecord

T = TypeVar("T")

_AVAILABILITY: dict[str, Availability] = {
    "in_stock": Availability.IN_STOCK,
    "in stock": Availability.IN_STOCK,
    "out_of_stock": Availability.OUT_OF_STOCK,
    "out of stock": Availability.OUT_OF_STOCK,
    "preorder": Availability.PRE_ORDER,
    "pre_order": Availability.PRE_ORDER,
    "backorder": Availability.BACKORDER,
}
_ABSENT: tuple[Any, ...] = (None, "")
_EMPTY_PRODUCT = ProductInfo()  # Google rows carry no product-level data; shared, never mutated
_AVAILABILITY_SPELLINGS = {spelling: spelling for spelling in _AVAILABILITY}
_WEIGHT_SPELLINGS = {**_WEIGHT_UNITS, "lbs": "lb"}
_AXES = ("length", "width", "height")
_DIMENSION_SETS = tuple(tuple(f"{prefix}_{axis}" for axis in _AXES) for prefix in ("product", "shipping"))
# Variant option attributes of a grouped item, in the order they become ``variant_options``.
_OPTION_NAMES = ("color", "size", "material", "pattern", "gender", "age_group", "size_type")
_TEXT_LIMITS = {"color": 100, "size": 100, "material": 200, "pattern": 100, "size_type": 100}
_PREFIXED = {"pattern": "google_pattern", "size_type": "google_size_type"}
_MEASURE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]+)\s*")
_ORIGIN = re.compile(r"https?://[^/?#]*")


# -- readers for the Google spellings; each falls back to the shared ``Row`` rules ----------------


def _read_as(row: Row, name: str, value: Any, read: Callable[[Row], T]) -> T:
    """Run a reader on ``value`` in place of the row's ``name`` cell, keeping the errors it finds."""
    probe = Row({name: value})
    result = read(probe)
    row.errors.extend(probe.errors)
    return result


def _availability(row: Row) -> Availability | None:
    value = row.values.get("availability")
    if value.__class__ is str:
        hit = _AVAILABILITY.get(value)
        if hit is not None:
            return hit
        if value.strip().lower() == "unknown":
            row.error(
                "availability",
                "invalid_value",
                "availability 'unknown' is not accepted in Google feeds; "
                "send in_stock, out_of_stock, preorder or backorder",
            )
            return None
    return _choice(row, "availability", _AVAILABILITY, _AVAILABILITY_SPELLINGS, True)


def _price(row: Row, name: str, required: bool = False) -> tuple[int, str] | None:
    """``"89.00 EUR"`` (or Google's ``"EUR 89.00"``) -> (8900, "EUR"), exact as ``kit.money``."""
    value = row.values.get(name)
    if value.__class__ is str and value and not value[0].isdigit():
        code, _, amount = value.strip().partition(" ")
        amount = amount.strip()
        if len(code) == 3 and code.isalpha() and amount:
            swapped = f"{amount} {code}"
            return _read_as(row, name, swapped, lambda probe: _money(probe, name, required))
    return _money(row, name, required)


def _gtin(row: Row) -> str | None:
    """A GTIN with Google's formatting (spaces, dashes) removed; the check digit must hold."""
    value = row.values.get("gtin")
    if value in _ABSENT:
        return None
    if isinstance(value, str):
        value = value.strip().replace("-", "").replace(" ", "")
        if gtin_valid(value):
            return value
    return _read_as(row, "gtin", value, lambda probe: probe.gtin("gtin"))


def _first_text(row: Row, name: str) -> str | None:
    """Text Google lets repeat (a list from XML): the first non-blank value wins."""
    value = row.values.get(name)
    if isinstance(value, list):
        first = next((item for item in value if not blank(item)), None)
        if first is None:
            return None
        return _read_as(row, name, first, lambda probe: probe.text(name))
    return _text(row, name)


def _joined_text(row: Row, name: str, max_len: int) -> str | None:
    """Text Google lets repeat as a list (XML) or a comma-separated cell: one comma-separated string."""
    value = row.values.get(name)
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            row.error(name, "invalid_value", f"{name} must be text")
            return None
        value = ",".join(item.strip() for item in value if item.strip())
        return _read_as(row, name, value, lambda probe: probe.text(name, max_len=max_len))
    return _text(row, name, max_len)


def _measure(row: Row, name: str, units: Mapping[str, str]) -> tuple[Decimal, str] | None:
    """``"0.9 kg"`` -> (Decimal("0.9"), "kg"): a positive decimal and a listed unit."""
    value = row.values.get(name)
    if blank(value):
        return None
    text = value if isinstance(value, str) else row.text(name)  # non-text: ``Row`` says why
    if text is None:
        return None
    match = _MEASURE.fullmatch(text)
    if match:
        number, unit = Decimal(match.group(1)), units.get(match.group(2).lower())
        if unit is not None and number > 0:
            return number, unit
    row.error(
        name,
        "invalid_value",
        f"{name} must be a positive number and a unit ({', '.join(sorted(set(units.values())))}), "
        f"e.g. '1.5 {next(iter(units.values()))}'",
    )
    return None


def _dimensions(row: Row) -> tuple[Decimal | None, Decimal | None, Decimal | None, str | None]:
    """The ``product_*`` measurements if any is given, else the ``shipping_*`` ones; one unit for all."""
    get = row.values.get
    for names in _DIMENSION_SETS:
        if get(names[0]) in _ABSENT and get(names[1]) in _ABSENT and get(names[2]) in _ABSENT:
            continue
        axes: list[Decimal | None] = []
        unit: str | None = None
        first = ""
        bad = False
        for name in names:
            measured = _measure(row, name, _DIMENSION_UNITS)
            if measured is None:
                bad = bad or not blank(get(name))  # ``_measure`` recorded why
                axes.append(None)
                continue
            if unit is None:
                unit, first = measured[1], name
            elif measured[1] != unit:
                row.error(name, "invalid_value", f"{name} must use the unit of {first} ({unit})")
                bad = True
            axes.append(measured[0])
        if bad or unit is None:  # no unit: the given cells were all blanks
            return None, None, None, None
        return axes[0], axes[1], axes[2], unit
    return None, None, None, None


def _media(row: Row, image_link: str) -> tuple[Media, ...]:
    """``image_link`` first, then the valid ``additional_image_link`` URLs (invalid ones dropped)."""
    raw = row.values.get("additional_image_link")
    if raw is None or raw == "":
        return (Media(image_link),)
    items: list[Any] = raw.split(",") if isinstance(raw, str) else raw if isinstance(raw, list) else []
    media = [Media(image_link)]
    for item in items:
        if isinstance(item, str):
            url = item.strip()
            if url and url_problem(url) is None:
                media.append(Media(url))
    return tuple(media)


def _origin(link: str) -> str:
    """``https://shop.example/shoe?s=40`` -> ``https://shop.example`` (a link already validated)."""
    match = _ORIGIN.match(link)
    if match is not None:
        return match.group(0)
    parts = urlsplit(link)  # an upper-case scheme
    return f"{parts.scheme}://{parts.netloc}"


def _shipping(value: Any) -> Any:
    """The ``shipping`` value as JSON (string, XML dict or list of them), or None."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, dict | list) and value:
        return value
    return None


# -- the mapper ----------------------------------------------------------------------------------


def map_google_row(values: Mapping[str, Any]) -> MapResult:
    """One Google feed row (or XML item) -> a record, or every error of the row."""
    row = Row(values)
    get = values.get

    # The seven required attributes (``sources.GOOGLE_REQUIRED``).
    item_id = _text(row, "id", 100, True)
    title = _text(row, "title", 150, True)
    description = _text(row, "description", 5000, True)
    link = _url(row, "link", True)
    image_link = _url(row, "image_link", True)
    availability = _availability(row)
    price = _price(row, "price", True)
    if price is not None and price[0] <= 0:
        row.error("price", "invalid_price", "price must be greater than 0")
        price = None

    sale_amount: int | None = None
    sale = _price(row, "sale_price")
    if sale is not None and price is not None:
        if sale[1] != price[1]:
            row.error("sale_price", "invalid_price", f"sale_price must be in {price[1]}, like price")
        elif not 0 < sale[0] < price[0]:
            row.error("sale_price", "invalid_price", "sale_price must be greater than 0 and below price")
        else:
            sale_amount = sale[0]

    # Product identifiers and description.
    gtin = _gtin(row)
    mpn = _text(row, "mpn", 70)
    brand = _text(row, "brand", 70)
    condition = _choice(row, "condition", _CONDITIONS, _CONDITIONS)
    category = _first_text(row, "product_type")
    google_category = _first_text(row, "google_product_category")
    attributes: dict[str, Any] = {}
    if category is None:
        category = google_category
    elif google_category is not None:
        attributes["google_product_category"] = google_category

    # Variant attributes: shared keys (or ``google_`` ones), and the options of a grouped item.
    group_id = _text(row, "item_group_id", 100)
    options: list[tuple[str, str]] = []
    for name in _OPTION_NAMES:
        if get(name) in _ABSENT:
            continue
        if name == "gender":
            value = _choice(row, name, _GENDERS, _GENDERS)
        elif name == "age_group":
            value = _choice(row, name, _AGE_GROUPS, _AGE_GROUPS)
        elif name == "size_type":
            value = _joined_text(row, name, _TEXT_LIMITS[name])
        else:
            value = _text(row, name, _TEXT_LIMITS[name])
        if value is not None:
            attributes[_PREFIXED.get(name, name)] = value
            if group_id is not None:
                options.append((name, value))

    # Weight and dimensions.
    weight = weight_unit = None
    weight_column = (
        "shipping_weight"
        if get("product_weight") in _ABSENT or blank(get("product_weight"))
        else "product_weight"
    )
    if (measured := _measure(row, weight_column, _WEIGHT_SPELLINGS)) is not None:
        weight, weight_unit = measured
    length, width, height, dimension_unit = _dimensions(row)

    # Flags: a Google feed is the merchant's own catalog, so checkout defaults to on.
    search = _flag(row, ("enable_search", "is_eligible_search"), True)
    checkout = search and _flag(row, ("enable_checkout", "is_eligible_checkout"), True)

    seller_name = _text(row, "seller_name", 70)
    inventory = _integer(row, ("inventory_quantity",), 0)
    shipping = get("shipping")
    if shipping not in _ABSENT and (kept := _shipping(shipping)) is not None:
        attributes["google_shipping"] = kept

    if (
        row.errors
        or item_id is None
        or title is None
        or link is None
        or image_link is None
        or availability is None
        or price is None
    ):
        return row.errors  # the required readers recorded why any of them is None
    return VariantRecord(
        id=item_id,
        product_id=group_id or item_id,
        title=title,
        price_amount=price[0],
        currency=price[1],
        availability=availability,
        description=description,
        url=link,
        media=_media(row, image_link),
        brand=brand,
        gtin=gtin,
        mpn=mpn,
        condition=condition,
        category=category,
        variant_options=tuple(options),
        sale_price_amount=sale_amount,
        inventory_quantity=inventory,
        weight=weight,
        weight_unit=weight_unit,
        length=length,
        width=width,
        height=height,
        dimension_unit=dimension_unit,
        seller_name=seller_name,
        seller_url=_origin(link),
        is_eligible_search=search,
        is_eligible_checkout=checkout,
        attributes=attributes,
        product=_EMPTY_PRODUCT,
    )


__all__ = ["map_google_row"]
