"""Pure: the OpenAI flat-file product feed (CSV, TSV, JSONL rows) <-> ``VariantRecord``.

Field rules: ``/work/shared/docs/feeds-and-openai.md`` §1.2-§1.3 (latest version), including the
compatibility aliases of §1.3.13 and their precedence (``item_id`` > ``id`` > ``sku``, ``group_id`` >
``item_group_id``, ``enable_*`` > ``is_eligible_*``, ``return_window`` > ``return_deadline_in_days``).

``map_openai_row`` reads one row whose keys are lower-cased column names; values are ``str`` for
CSV/TSV ("" = no value) or JSON values for JSONL. It returns a record, or every ``FieldError`` of the
row. ``to_openai_row`` / ``to_openai_cells`` are the inverse (JSONL dict / CSV cells, canonical
column names only) and round-trip: ``map_openai_row(to_openai_row(r)) == r`` (a ``MapResult`` is the
record itself), and the same for the cells, for every record the format can express; so import ->
export -> import is lossless.

What the format cannot express (export leaves it out or writes the nearest value; such records
do not come back equal): ``product`` beyond ``title`` (``item_group_title``); media other than
plain images (``Media(url)``: type, alt text and size are lost); a record without ``description``,
``url``, ``brand``, ``seller_name`` or an image (required here); ``limited_stock`` and
``discontinued`` (exported as ``in_stock`` / ``out_of_stock``); ``is_eligible_checkout`` without
``is_eligible_search``; a weight or dimensions without their unit and a unit without a number;
attributes other than the columns below (``acp_*``, ``google_*`` ...) and shared ones whose value
is not in this format's canonical form (``shipping_price`` "5.00 USD" in the record's currency,
``star_rating`` a decimal string, ``accepts_returns`` a bool, the day/review counts ints); text
that is not stripped, is a placeholder word (``null``, ``n/a`` ...) or is over a length limit;
variant options with a repeated name; in CSV cells only, an additional image URL holding a comma
(written as ``%2C``, as §1.3.5 asks).

Speed: this runs on every row of million-row feeds. Each reader below first tries a cheap check that
accepts only values the matching ``Row`` helper would return unchanged, and otherwise falls back to
that helper, which produces the canonical value or the error. So the error rules live in
``common.Row`` alone; the fast paths only skip work for well-formed values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from sys import maxsize
from typing import Any, TypeVar

import orjson

from merchant.catalog.mapping.common import PLACEHOLDERS, Row, blank, url_problem
from merchant.catalog.records import (
    Availability,
    Condition,
    MapResult,
    Media,
    ProductInfo,
    VariantRecord,
)
from merchant.kit.money import Money, exponent, format_price

T = TypeVar("T")

OPENAI_COLUMNS: tuple[str, ...] = (
    "item_id",
    "group_id",
    "listing_has_variations",
    "variant_dict",
    "item_group_title",
    "title",
    "description",
    "url",
    "brand",
    "gtin",
    "mpn",
    "condition",
    "product_category",
    "material",
    "color",
    "size",
    "gender",
    "age_group",
    "dimensions",
    "length",
    "width",
    "height",
    "dimensions_unit",
    "weight",
    "item_weight_unit",
    "image_url",
    "additional_image_urls",
    "price",
    "sale_price",
    "availability",
    "inventory_quantity",
    "is_eligible_search",
    "is_eligible_checkout",
    "is_digital",
    "seller_name",
    "seller_url",
    "seller_privacy_policy",
    "seller_tos",
    "offer_id",
    "shipping_price",
    "accepts_returns",
    "return_policy",
    "return_deadline_in_days",
    "review_count",
    "star_rating",
    "target_countries",
    "store_country",
    "tax_category",
    "max_quantity_per_order",
)
"""The columns a CSV export writes, in order: every column ``to_openai_cells`` produces."""

_AVAILABILITY: dict[str, Availability] = {
    a.value: a
    for a in (
        Availability.IN_STOCK,
        Availability.OUT_OF_STOCK,
        Availability.PRE_ORDER,
        Availability.BACKORDER,
        Availability.UNKNOWN,  # valid here: the spec asks to send it explicitly
    )
}
# Exporting a record mapped from another format: the nearest OpenAI status.
_EXPORT_AVAILABILITY = {Availability.LIMITED_STOCK: "in_stock", Availability.DISCONTINUED: "out_of_stock"}
_CONDITIONS: dict[str, Condition] = {c.value: c for c in Condition}
_GENDERS = {"male": "male", "female": "female", "unisex": "unisex"}
_AGE_GROUPS = {g: g for g in ("newborn", "infant", "toddler", "kids", "adult")}
_DIMENSION_UNITS = {u: u for u in ("in", "cm", "ft", "m", "mm")}
_WEIGHT_UNITS = {u: u for u in ("g", "kg", "oz", "lb")}
_AXES = ("length", "width", "height")
_VARIANT_PAIRS = tuple((f"custom_variant{n}_category", f"custom_variant{n}_option") for n in (1, 2, 3))
_GTIN_LENGTHS = frozenset({8, 12, 13, 14})
_NO_LIMIT = maxsize

# Aliases in precedence order (§1.3.13): the first name holding a value wins.
_ITEM_IDS = ("item_id", "id", "sku")
_GROUP_IDS = ("group_id", "item_group_id")
_SEARCH_FLAGS = ("enable_search", "is_eligible_search")
_CHECKOUT_FLAGS = ("enable_checkout", "is_eligible_checkout")
_RETURN_DAYS = ("return_window", "return_deadline_in_days")
_DIMENSION_COLUMNS = frozenset({"dimensions", *_AXES, "dimensions_unit"})
_WEIGHT_COLUMNS = frozenset({"weight", "item_weight_unit"})

# Attribute keys this format has columns for (shared names, see ``VariantRecord.attributes``).
_ITEM_ATTRIBUTES = ("material", "color", "size", "gender", "age_group")
_TEXT_ATTRIBUTES = (("material", 100), ("color", 40), ("size", 20), ("offer_id", _NO_LIMIT))
_CHOICE_ATTRIBUTES = (("gender", _GENDERS), ("age_group", _AGE_GROUPS))
_URL_ATTRIBUTES = ("seller_privacy_policy", "seller_tos", "return_policy")
_MERCHANT_ATTRIBUTES = (
    "seller_privacy_policy",
    "seller_tos",
    "offer_id",
    "shipping_price",
    "accepts_returns",
    "return_policy",
    "return_deadline_in_days",
    "review_count",
    "star_rating",
)

_PLACEHOLDER_LEN = max(map(len, PLACEHOLDERS))
# A subset of what ``url_problem`` accepts (http(s), plain host, optional port, printable ASCII, no
# credentials since the host part has no "@"); anything else takes the full check.
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:[/?#][!-~]*)?")
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_EMPTY_PRODUCT = ProductInfo()  # shared by the (usual) rows without a group title; never mutated
# Minor-unit digits of the upper-case currency codes seen so far (ISO 4217 lookups are slow).
_EXPONENTS: dict[str, int] = {}


# -- readers: fast path for well-formed values, ``Row`` for everything else -------------------------


def _text(row: Row, name: str, max_len: int = _NO_LIMIT, required: bool = False) -> str | None:
    value = row.values.get(name)
    if value.__class__ is str and value:
        if (
            len(value) <= max_len
            and not value[0].isspace()
            and not value[-1].isspace()
            and (len(value) > _PLACEHOLDER_LEN or value.lower() not in PLACEHOLDERS)
        ):
            return value
    elif (value is None or value == "") and not required:
        return None
    return row.text(name, required=required, max_len=max_len)


def _first_text(
    row: Row, names: tuple[str, ...], max_len: int = _NO_LIMIT, required: bool = False
) -> str | None:
    """``_text`` over aliases: the first of ``names`` holding a value wins."""
    get = row.values.get
    for name in names:
        value = get(name)
        if value is None or value == "":
            continue
        if (
            value.__class__ is str
            and len(value) <= max_len
            and not value[0].isspace()
            and not value[-1].isspace()
            and (len(value) > _PLACEHOLDER_LEN or value.lower() not in PLACEHOLDERS)
        ):
            return value
        break
    else:
        if not required:
            return None
    return row.text(*names, required=required, max_len=max_len)


def _url(row: Row, name: str, required: bool = False) -> str | None:
    value = row.values.get(name)
    if value.__class__ is str and value:
        if _PLAIN_URL.fullmatch(value):
            return value
    elif (value is None or value == "") and not required:
        return None
    return row.url(name, required=required)


def _choice(
    row: Row, name: str, allowed: Mapping[str, T], choices: Mapping[str, str], required: bool = False
) -> T | None:
    """A value of ``allowed`` (canonical spelling -> value); ``choices`` maps every accepted
    source spelling (lower-case) to its canonical spelling."""
    value = row.values.get(name)
    if value.__class__ is str and value:
        hit = allowed.get(value)
        if hit is not None:
            return hit
    elif (value is None or value == "") and not required:
        return None
    canonical = row.choice(name, allowed=choices, required=required)
    return None if canonical is None else allowed[canonical]


def _flag(row: Row, names: tuple[str, ...], default: bool) -> bool:
    """A boolean; the first of ``names`` holding a value wins (aliases in precedence order)."""
    get = row.values.get
    for name in names:
        value = get(name)
        if value is None or value == "":
            continue
        if value is True or value == "true":
            return True
        if value is False or value == "false":
            return False
        result = row.boolean(*names, default=default)
        return default if result is None else result
    return default


def _integer(row: Row, names: tuple[str, ...], minimum: int) -> int | None:
    get = row.values.get
    for name in names:
        value = get(name)
        if value is None or value == "":
            continue
        if value.__class__ is str and value.isdigit() and value.isascii():
            number = int(value)
            if number >= minimum:
                return number
        elif value.__class__ is int and value >= minimum:
            return int(value)
        return row.integer(*names, minimum=minimum)
    return None


def _money(row: Row, name: str, required: bool = False) -> tuple[int, str] | None:
    """``"79.99 USD"`` -> (7999, "USD"), exactly as ``kit.money.parse_price``."""
    value = row.values.get(name)
    if value.__class__ is str and value:
        amount, _, code = value.partition(" ")
        digits = _EXPONENTS.get(code)
        if digits is not None:
            whole, dot, fraction = amount.partition(".")
            if (
                whole.isdigit()
                and whole.isascii()
                and (not dot or (fraction.isdigit() and fraction.isascii() and len(fraction) <= digits))
            ):
                return int(whole + fraction.ljust(digits, "0")), code
    elif (value is None or value == "") and not required:
        return None
    money = row.price(name, required=required)
    if money is None:
        return None
    if money.currency not in _EXPONENTS:
        _EXPONENTS[money.currency] = exponent(money.currency)
    return money.amount, money.currency


def _gtin(row: Row, name: str) -> str | None:
    """A GTIN-8/12/13/14 with a valid GS1 check digit, exactly as ``Row.gtin``."""
    value = row.values.get(name)
    if value.__class__ is str and len(value) in _GTIN_LENGTHS and value.isdigit() and value.isascii():
        # GS1 mod 10: weights 3, 1, 3, ... leftwards from the digit before the check digit, and the
        # weighted sum plus the check digit is a multiple of 10. 3a + b = 2a + (a + b), so: twice the
        # digits at odd distances from the end plus all digits, each ASCII code 48 over its digit.
        codes = value.encode()
        odd = codes[-2::-2]
        if (2 * sum(odd) + sum(codes) - 48 * (2 * len(odd) + len(codes))) % 10 == 0:
            return value
    return row.gtin(name)


def _decimal(row: Row, name: str) -> Decimal | None:
    value = row.values.get(name)
    if value is None or value == "":
        return None
    if value.__class__ is str and _DECIMAL.fullmatch(value):
        number = Decimal(value)
        if number > 0:
            return number
    return row.decimal(name)


def _json_object(row: Row, name: str, value: Any) -> dict[str, Any] | None:
    """A JSON object given as such (JSONL) or serialized in a cell (CSV/TSV)."""
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            row.error(name, "invalid_value", f"{name} is not valid JSON")
            return None
    if not isinstance(value, dict):
        row.error(name, "invalid_value", f"{name} must be a JSON object")
        return None
    return value


def _scalar_text(value: Any) -> str | None:
    """A JSON string or number as stripped text; None for anything else or a blank."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _plain_decimal(value: Decimal) -> str:
    """``Decimal("5E+2")`` -> ``"500"``: the import takes plain decimals only, never an exponent."""
    return format(value, "f")


def _major(amount: int, currency: str) -> str:
    """Canonical ``"5.00 USD"`` for a currency already seen by ``_money``."""
    digits = _EXPONENTS[currency]
    if not digits:
        return f"{amount} {currency}"
    whole, fraction = divmod(amount, 10**digits)
    return f"{whole}.{fraction:0{digits}d} {currency}"


# -- composite fields ----------------------------------------------------------------------------


def _variant_options(row: Row) -> tuple[tuple[str, str], ...]:
    """``variant_dict`` (wins) or the ``custom_variantN_category``/``_option`` pairs, in order."""
    values = row.values
    raw = values.get("variant_dict")
    if not blank(raw):
        options = _json_object(row, "variant_dict", raw)
        if options is None:
            return ()
        pairs: list[tuple[str, str]] = []
        for key, value in options.items():
            name, text = key.strip(), _scalar_text(value)
            if not name or text is None or text.lower() in PLACEHOLDERS:
                row.error(
                    "variant_dict", "invalid_value", f"variant_dict option {key!r} needs a name and a value"
                )
                return ()
            pairs.append((name, text))
        if not pairs:
            row.error("variant_dict", "invalid_value", "variant_dict must name at least one option")
        elif len({name for name, _ in pairs}) < len(pairs):  # " size" and "size" are one option
            row.error("variant_dict", "invalid_value", "variant_dict names an option twice")
            return ()
        return tuple(pairs)
    found: list[tuple[str, str]] = []
    for category_column, option_column in _VARIANT_PAIRS:
        if blank(values.get(category_column)) and blank(values.get(option_column)):
            continue
        category = row.text(category_column)
        option = row.text(option_column)
        if category is None or option is None:
            if category is None and option is not None:
                row.error(category_column, "missing_required_field", f"{category_column} is required")
            elif option is None and category is not None:
                row.error(option_column, "missing_required_field", f"{option_column} is required")
            continue
        if any(name == category for name, _ in found):
            row.error(category_column, "invalid_value", f"variant option {category!r} is given twice")
            continue
        found.append((category, option))
    return tuple(found)


def _dimensions(row: Row) -> tuple[Decimal | None, Decimal | None, Decimal | None, str | None]:
    """The ``dimensions`` object (wins) or the legacy columns; units are never inferred."""
    raw = row.values.get("dimensions")
    if not blank(raw):
        given = _json_object(row, "dimensions", raw)
        if given is None:
            return None, None, None, None
        axes: list[Decimal | None] = []
        bad = False
        for axis in _AXES:
            value = given.get(axis)
            if blank(value):
                axes.append(None)
                continue
            text = _scalar_text(value)
            number = Decimal(text) if text is not None and _DECIMAL.fullmatch(text) else None
            if number is None or number <= 0:
                row.error("dimensions", "invalid_value", f"dimensions {axis} must be a positive decimal")
                bad = True
            axes.append(number)
        if not bad and sum(a is not None for a in axes) < 2:
            row.error(
                "dimensions", "invalid_value", "dimensions needs at least two of length, width and height"
            )
            bad = True
        unit = given.get("unit")
        unit = _DIMENSION_UNITS.get(unit.strip().lower()) if isinstance(unit, str) else None
        if unit is None:
            row.error("dimensions", "invalid_value", "dimensions unit must be one of cm, ft, in, m, mm")
            bad = True
        if bad:
            return None, None, None, None
        return axes[0], axes[1], axes[2], unit
    length, width, height = _decimal(row, "length"), _decimal(row, "width"), _decimal(row, "height")
    unit = _choice(row, "dimensions_unit", _DIMENSION_UNITS, _DIMENSION_UNITS)
    _pair_unit(row, ("length", "width", "height"), "dimensions_unit", unit)
    return length, width, height, unit


def _pair_unit(row: Row, number_columns: tuple[str, ...], unit_column: str, unit: str | None) -> None:
    """A number needs its unit and a unit needs a number: units are never inferred."""
    values = row.values
    has_number = any(not blank(values.get(c)) for c in number_columns)
    has_unit = not blank(values.get(unit_column))
    if has_number and not has_unit:
        row.error(
            unit_column,
            "missing_required_field",
            f"{unit_column} is required with {', '.join(number_columns)}",
        )
    elif has_unit and not has_number and unit is not None:
        row.error(
            unit_column, "invalid_value", f"{unit_column} is given without {' or '.join(number_columns)}"
        )


def _media(row: Row, image_url: str | None) -> tuple[Media, ...]:
    """``image_url`` first, then the valid ``additional_image_urls`` (invalid ones are dropped)."""
    raw = row.values.get("additional_image_urls")
    if raw is None or raw == "":
        return () if image_url is None else (Media(image_url),)
    if isinstance(raw, str):
        if raw.lstrip().startswith("["):
            try:
                raw = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raw = raw.split(",")
        else:
            raw = raw.split(",")
    media = [] if image_url is None else [Media(image_url)]
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, str):
                if _PLAIN_URL.fullmatch(item) is None:  # else the full check, on the stripped text
                    item = item.strip()
                    if not item or url_problem(item) is not None:
                        continue
                media.append(Media(item))
    return tuple(media)


def _countries(row: Row, name: str) -> tuple[str, ...]:
    value = row.values.get(name)
    if value is None or value == "":
        return ()
    if value.__class__ is str and len(value) == 2 and value.isupper() and value.isalpha() and value.isascii():
        return (value,)
    return row.countries(name)


# -- the mapper ----------------------------------------------------------------------------------


def map_openai_row(values: Mapping[str, Any]) -> MapResult:
    """One OpenAI feed row -> a record, or every error of the row."""
    row = Row(values)
    # The columns that may hold a value (whitespace-only cells included: the readers treat them as
    # blank). Optional columns outside it are not read at all: a CSV row carries every column of
    # the header, most of them empty, and calling a reader for each would dominate the run time.
    filled = {name for name, value in values.items() if value is not None and value != ""}

    # The nine required fields.
    item_id = _first_text(row, _ITEM_IDS, 100, True)
    title = _text(row, "title", 150, True)
    description = _text(row, "description", 5000, True)
    url = _url(row, "url", True)
    brand = _text(row, "brand", 70, True)
    seller_name = _text(row, "seller_name", 70, True)
    image_url = _url(row, "image_url", True)
    availability = _choice(row, "availability", _AVAILABILITY, _AVAILABILITY, True)
    price = _money(row, "price", True)
    if price is not None and price[0] <= 0:
        row.error("price", "invalid_price", "price must be greater than 0")
        price = None

    # Identity and variants.
    group_id = _first_text(row, _GROUP_IDS) if not filled.isdisjoint(_GROUP_IDS) else None
    options: tuple[tuple[str, str], ...] = ()
    if "listing_has_variations" in filled and _flag(row, ("listing_has_variations",), False):
        options = _variant_options(row)
    group_title = _text(row, "item_group_title", 150) if "item_group_title" in filled else None

    # Price, sale price and shipping price share the currency.
    sale_amount: int | None = None
    sale = _money(row, "sale_price") if "sale_price" in filled else None
    if sale is not None and price is not None:
        if sale[1] != price[1]:
            row.error("sale_price", "invalid_price", f"sale_price must be in {price[1]}, like price")
        elif not 0 < sale[0] < price[0]:
            # OpenAI silently ignores such a sale price; we reject the row so the merchant sees why.
            row.error("sale_price", "invalid_price", "sale_price must be greater than 0 and below price")
        else:
            sale_amount = sale[0]

    attributes: dict[str, Any] = {}
    shipping = _money(row, "shipping_price") if "shipping_price" in filled else None
    if shipping is not None and price is not None:
        if shipping[1] != price[1]:
            row.error("shipping_price", "invalid_price", f"shipping_price must be in {price[1]}, like price")
        else:
            attributes["shipping_price"] = _major(*shipping)  # "0 USD" is free shipping: "0.00 USD"

    # Item information.
    gtin = _gtin(row, "gtin") if "gtin" in filled else None
    mpn = _text(row, "mpn", 70) if "mpn" in filled else None
    condition = _choice(row, "condition", _CONDITIONS, _CONDITIONS) if "condition" in filled else None
    category = _text(row, "product_category") if "product_category" in filled else None
    for name, limit in _TEXT_ATTRIBUTES:
        if name in filled and (text := _text(row, name, limit)) is not None:
            attributes[name] = text
    for name, allowed in _CHOICE_ATTRIBUTES:
        if name in filled and (choice := _choice(row, name, allowed, allowed)) is not None:
            attributes[name] = choice
    length = width = height = None
    dimension_unit = None
    if not filled.isdisjoint(_DIMENSION_COLUMNS):
        length, width, height, dimension_unit = _dimensions(row)
    weight = weight_unit = None
    if not filled.isdisjoint(_WEIGHT_COLUMNS):
        weight = _decimal(row, "weight")
        weight_unit = _choice(row, "item_weight_unit", _WEIGHT_UNITS, _WEIGHT_UNITS)
        _pair_unit(row, ("weight",), "item_weight_unit", weight_unit)

    # Flags. When a legacy ``enable_*`` name and its ``is_eligible_*`` successor are both sent, the
    # legacy name wins: that is OpenAI's documented precedence (§1.3.13), so a feed means the same
    # here as there. The checkout flag is read (and validated) even when search is off, and
    # ``is_eligible_search=false`` then turns checkout off too (§1.3.2).
    search = _flag(row, _SEARCH_FLAGS, True)
    checkout = _flag(row, _CHECKOUT_FLAGS, False) and search
    digital = "is_digital" in filled and _flag(row, ("is_digital",), False)

    # Merchant, returns, reviews, geo.
    seller_url = _url(row, "seller_url") if "seller_url" in filled else None
    for name in _URL_ATTRIBUTES:
        if name in filled and (link := _url(row, name)) is not None:
            attributes[name] = link
    if "accepts_returns" in filled and (accepts := row.boolean("accepts_returns")) is not None:
        attributes["accepts_returns"] = accepts  # omitted = unspecified, not false (§1.3.9)
    # ``return_window`` (the alias) wins over ``return_deadline_in_days`` when both are sent (§1.3.13).
    if not filled.isdisjoint(_RETURN_DAYS) and (days := _integer(row, _RETURN_DAYS, 1)) is not None:
        attributes["return_deadline_in_days"] = days
    if "review_count" in filled and (reviews := _integer(row, ("review_count",), 0)) is not None:
        attributes["review_count"] = reviews
    if "star_rating" in filled and (rating := row.text("star_rating")) is not None:
        if _DECIMAL.fullmatch(rating) and Decimal(rating) <= 5:
            attributes["star_rating"] = rating  # kept as sent ("4.50"): a decimal string, never a float
        else:
            row.error("star_rating", "invalid_value", "star_rating must be a decimal from 0 to 5")
    target_countries = _countries(row, "target_countries") if "target_countries" in filled else ()
    store_countries = _countries(row, "store_country") if "store_country" in filled else ()
    if len(store_countries) > 1:
        row.error("store_country", "invalid_value", "store_country must be a single ISO 3166-1 code")

    # Legacy inventory and our extensions.
    inventory = _integer(row, ("inventory_quantity",), 0) if "inventory_quantity" in filled else None
    tax_category = _text(row, "tax_category") if "tax_category" in filled else None
    max_quantity = (
        _integer(row, ("max_quantity_per_order",), 1) if "max_quantity_per_order" in filled else None
    )

    media = _media(row, image_url)
    if row.errors or item_id is None or title is None or price is None or availability is None:
        return row.errors  # the required readers recorded why any of them is None
    return VariantRecord(
        id=item_id,
        product_id=group_id or item_id,
        title=title,
        price_amount=price[0],
        currency=price[1],
        availability=availability,
        description=description,
        url=url,
        media=media,
        brand=brand,
        gtin=gtin,
        mpn=mpn,
        condition=condition,
        category=category,
        variant_options=options,
        sale_price_amount=sale_amount,
        inventory_quantity=inventory,
        weight=weight,
        weight_unit=weight_unit,
        length=length,
        width=width,
        height=height,
        dimension_unit=dimension_unit,
        is_digital=digital,
        seller_name=seller_name,
        seller_url=seller_url,
        is_eligible_search=search,
        is_eligible_checkout=checkout,
        target_countries=target_countries,
        store_country=store_countries[0] if store_countries else None,
        tax_category=tax_category,
        max_quantity_per_order=max_quantity,
        attributes=attributes,
        product=_EMPTY_PRODUCT if group_title is None else ProductInfo(title=group_title),
    )


# -- export --------------------------------------------------------------------------------------


def to_openai_row(record: VariantRecord) -> dict[str, Any]:
    """A JSONL-ready row with canonical column names; absent values are omitted (never null).

    Values the format cannot carry are left out rather than written as a row the import rejects
    (see the module docstring): a weight or dimensions without their unit, or a unit alone.
    """
    out: dict[str, Any] = {"item_id": record.id}
    if record.product_id != record.id:
        out["group_id"] = record.product_id
    if record.variant_options:
        out["listing_has_variations"] = True
        out["variant_dict"] = dict(record.variant_options)
    if record.product.title is not None:
        out["item_group_title"] = record.product.title
    out["title"] = record.title
    _put(out, "description", record.description)
    _put(out, "url", record.url)
    _put(out, "brand", record.brand)
    _put(out, "gtin", record.gtin)
    _put(out, "mpn", record.mpn)
    if record.condition is not None:
        out["condition"] = record.condition.value
    _put(out, "product_category", record.category)
    attributes = record.attributes
    for name in _ITEM_ATTRIBUTES:
        _put(out, name, attributes.get(name))
    axes = [
        (name, _plain_decimal(value))
        for name, value in zip(_AXES, (record.length, record.width, record.height), strict=True)
        if value is not None
    ]
    if axes and record.dimension_unit is not None:  # units are never inferred: no unit, no axes
        if len(axes) >= 2:
            out["dimensions"] = dict(axes) | {"unit": record.dimension_unit}
        else:  # the object needs two axes; the legacy columns carry one
            out.update(axes)
            out["dimensions_unit"] = record.dimension_unit
    if record.weight is not None and record.weight_unit is not None:
        out["weight"] = _plain_decimal(record.weight)
        out["item_weight_unit"] = record.weight_unit
    images = [m.url for m in record.media if m.type == "image"]
    if images:
        out["image_url"] = images[0]
        if len(images) > 1:
            out["additional_image_urls"] = images[1:]
    out["price"] = format_price(Money(record.price_amount, record.currency))
    if record.sale_price_amount is not None:
        out["sale_price"] = format_price(Money(record.sale_price_amount, record.currency))
    out["availability"] = _EXPORT_AVAILABILITY.get(record.availability, record.availability.value)
    _put(out, "inventory_quantity", record.inventory_quantity)
    out["is_eligible_search"] = record.is_eligible_search
    out["is_eligible_checkout"] = record.is_eligible_checkout
    if record.is_digital:
        out["is_digital"] = True
    _put(out, "seller_name", record.seller_name)
    _put(out, "seller_url", record.seller_url)
    for name in _MERCHANT_ATTRIBUTES:
        _put(out, name, attributes.get(name))
    if record.target_countries:
        out["target_countries"] = list(record.target_countries)
    _put(out, "store_country", record.store_country)
    _put(out, "tax_category", record.tax_category)
    _put(out, "max_quantity_per_order", record.max_quantity_per_order)
    return out


def to_openai_cells(record: VariantRecord) -> dict[str, str]:
    """The same row as CSV/TSV cells, keyed by every ``OPENAI_COLUMNS`` name ("" = no value)."""
    row = to_openai_row(record)
    return {name: _cell(name, row.get(name)) for name in OPENAI_COLUMNS}


def _put(out: dict[str, Any], name: str, value: Any) -> None:
    if value is not None:
        out[name] = value


def _cell(name: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        if name == "additional_image_urls":  # commas inside a URL would split it (§1.3.5)
            return ",".join(str(url).replace(",", "%2C") for url in value)
        return ",".join(str(item) for item in value)
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    return str(value)


__all__ = ["OPENAI_COLUMNS", "map_openai_row", "to_openai_cells", "to_openai_row"]
