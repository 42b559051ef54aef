"""OpenAI flat-file feed rows (CSV/TSV cells, JSONL values) <-> ``VariantRecord``, both directions.

Rules: ``shared/docs/feeds-and-openai.md`` §1.2-§1.3. Unit tests pin each rule; the hypothesis
properties check that every record the format can express survives export and import unchanged,
through ``to_openai_row`` (JSONL), ``to_openai_cells`` (CSV) and real file bytes, and that each fast
path of the mapper agrees with the ``common.Row`` helper it shortcuts.
"""

from __future__ import annotations

import csv
import functools
import io
import string
from collections.abc import Callable, Mapping
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from merchant.catalog.mapping import openai
from merchant.catalog.mapping.common import PLACEHOLDERS, Row, gtin_valid, url_problem
from merchant.catalog.mapping.openai import OPENAI_COLUMNS, map_openai_row, to_openai_cells, to_openai_row
from merchant.catalog.records import Availability, Condition, FieldError, Media, ProductInfo, VariantRecord
from merchant.catalog.sources import OPENAI_REQUIRED, RowProblem, delimited_rows, jsonl_rows
from merchant.kit.money import Money, format_price

FIXTURE = Path(__file__).parent / "feeds" / "openai.csv"
Json = dict[str, Any]

# No example database kept in the checkout (a failure prints its reproducing example). No deadline:
# the mapper is fast, but machines are shared and a slow example is not a failure.
PROPERTIES = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

# --------------------------------------------------------------------------- helpers

BASE: dict[str, Any] = {
    "item_id": "tee-red-s",
    "title": "Classic Tee - Red / S",
    "description": "Cotton tee, red, small.",
    "url": "https://shop.example/tee?v=red-s",
    "brand": "Acme",
    "seller_name": "Acme Store",
    "image_url": "https://cdn.example/tee-red.jpg",
    "availability": "in_stock",
    "price": "19.99 USD",
}
"""The nine required fields, as CSV cells."""

BASE_RECORD = VariantRecord(
    id="tee-red-s",
    product_id="tee-red-s",
    title="Classic Tee - Red / S",
    price_amount=1999,
    currency="USD",
    availability=Availability.IN_STOCK,
    description="Cotton tee, red, small.",
    url="https://shop.example/tee?v=red-s",
    media=(Media("https://cdn.example/tee-red.jpg"),),
    brand="Acme",
    seller_name="Acme Store",
)

REQUIRED = (
    "item_id",
    "title",
    "description",
    "url",
    "brand",
    "seller_name",
    "image_url",
    "availability",
    "price",
)


def row(*drop: str, **cells: Any) -> Json:
    """``BASE`` without the ``drop`` columns, with ``cells`` set (a ``None`` value is JSON null)."""
    values = {name: value for name, value in BASE.items() if name not in drop}
    values.update(cells)
    return values


def record_of(values: Mapping[str, Any]) -> VariantRecord:
    result = map_openai_row(values)
    assert isinstance(result, VariantRecord), result
    return result


def errors_of(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    result = map_openai_row(values)
    assert isinstance(result, list), result
    return [(error.field, error.code) for error in result]


def full_record(**changes: Any) -> VariantRecord:
    """A record using every column of the format."""
    record = VariantRecord(
        id="SKU-1",
        product_id="GROUP-1",
        title='Trail Shoe "Ridge", Blue / 42',
        price_amount=12900,
        currency="EUR",
        availability=Availability.BACKORDER,
        description="Light trail shoe.\nMesh upper, rubber sole; 280 g.",
        url="https://shop.example/shoe?sku=SKU-1&utm_medium=feed",
        media=(Media("https://cdn.example.com/shoe.jpg"), Media("https://cdn.example.com/shoe-2.jpg")),
        brand="Trailco",
        gtin="4006381333931",
        mpn="TC-42",
        condition=Condition.REFURBISHED,
        category="Apparel & Accessories > Shoes",
        variant_options=(("color", "Blue"), ("size", "42")),
        sale_price_amount=9900,
        inventory_quantity=12,
        weight=Decimal("0.8"),
        weight_unit="kg",
        length=Decimal("30"),
        width=Decimal("12.5"),
        height=Decimal("11"),
        dimension_unit="cm",
        is_digital=True,
        seller_name="Trailco Store",
        seller_url="https://shop.example",
        is_eligible_checkout=True,
        target_countries=("DE", "AT"),
        store_country="DE",
        tax_category="apparel",
        max_quantity_per_order=4,
        attributes={
            "material": "mesh",
            "color": "Blue",
            "size": "42",
            "gender": "unisex",
            "age_group": "adult",
            "offer_id": "offer-1",
            "shipping_price": "5.00 EUR",
            "accepts_returns": True,
            "return_policy": "https://shop.example/returns",
            "return_deadline_in_days": 30,
            "review_count": 12,
            "star_rating": "4.50",
            "seller_privacy_policy": "https://shop.example/privacy",
            "seller_tos": "https://shop.example/tos",
        },
        product=ProductInfo(title="Trail Shoe"),
    )
    return replace(record, **changes)


# --------------------------------------------------------------------------- required fields


def test_the_nine_required_fields_make_a_record() -> None:
    record = record_of(BASE)
    assert record == BASE_RECORD
    # Defaults (§1.3.2): search on, checkout off; nothing else invented.
    assert (record.is_eligible_search, record.is_eligible_checkout, record.is_digital) == (True, False, False)
    assert record.attributes == {}
    assert record.product == ProductInfo()


@pytest.mark.parametrize("name", REQUIRED)
@pytest.mark.parametrize("blank", ["omitted", "", "   ", None])
def test_a_missing_required_field_rejects_the_row(name: str, blank: str | None) -> None:
    values = row(name) if blank == "omitted" else row(**{name: blank})
    assert errors_of(values) == [(name, "missing_required_field")]


def test_every_error_of_a_row_is_reported_at_once() -> None:
    values = row(
        "title",
        url="shop.example/tee",
        brand="n/a",
        price="19.999 USD",
        availability="preorder",
        gtin="4006381333932",
        weight="0.2",
        is_eligible_search="yes",
    )
    assert errors_of(values) == [
        ("title", "missing_required_field"),
        ("url", "invalid_value"),
        ("brand", "invalid_value"),
        ("availability", "invalid_value"),
        ("price", "invalid_price"),
        ("gtin", "invalid_gtin"),
        ("item_weight_unit", "missing_required_field"),
        ("is_eligible_search", "invalid_value"),
    ]


@pytest.mark.parametrize(
    ("name", "placeholder"),
    [("brand", "n/a"), ("title", "NULL"), ("description", "unknown"), ("seller_name", "-"), ("mpn", "None")],
)
def test_placeholder_words_are_rejected(name: str, placeholder: str) -> None:
    assert errors_of(row(**{name: placeholder})) == [(name, "invalid_value")]


def test_text_is_stripped_and_json_numbers_are_text() -> None:
    record = record_of(row(item_id=12345, brand="  Acme\t", title=" Tee "))
    assert (record.id, record.brand, record.title) == ("12345", "Acme", "Tee")
    assert errors_of(row(brand=True)) == [("brand", "invalid_value")]
    assert errors_of(row(title=["Tee"])) == [("title", "invalid_value")]


@pytest.mark.parametrize(
    ("name", "limit"),
    [
        ("item_id", 100),
        ("title", 150),
        ("description", 5000),
        ("brand", 70),
        ("seller_name", 70),
        ("mpn", 70),
        ("item_group_title", 150),
        ("material", 100),
        ("color", 40),
        ("size", 20),
    ],
)
def test_length_limits(name: str, limit: int) -> None:
    assert isinstance(map_openai_row(row(**{name: "x" * limit})), VariantRecord)
    assert errors_of(row(**{name: "x" * (limit + 1)})) == [(name, "too_long")]
    # The limit applies to the stripped text.
    assert isinstance(map_openai_row(row(**{name: f" {'x' * limit} "})), VariantRecord)


def test_unknown_columns_are_ignored() -> None:
    assert (
        record_of(row(video_url="https://cdn.example/v.mp4", custom_label_0="x", pattern="n/a"))
        == BASE_RECORD
    )


# --------------------------------------------------------------------------- identity and aliases


@pytest.mark.parametrize(
    ("cells", "item_id"),
    [
        ({"id": "by-id"}, "by-id"),
        ({"sku": "by-sku"}, "by-sku"),
        ({"id": "by-id", "sku": "by-sku"}, "by-id"),
        ({"item_id": "by-item-id", "id": "by-id", "sku": "by-sku"}, "by-item-id"),
        ({"item_id": "  ", "id": "by-id"}, "by-id"),  # a blank cell is no value
        ({"item_id": None, "sku": "by-sku"}, "by-sku"),
    ],
)
def test_item_id_aliases_in_precedence_order(cells: Json, item_id: str) -> None:
    record = record_of({**row("item_id"), **cells})
    assert (record.id, record.product_id) == (item_id, item_id)


def test_a_missing_item_id_names_the_canonical_column() -> None:
    assert errors_of(row("item_id", id="", sku="  ")) == [("item_id", "missing_required_field")]


@pytest.mark.parametrize(
    ("cells", "product_id"),
    [
        ({}, "tee-red-s"),  # no group: the item is its own product
        ({"group_id": "tee"}, "tee"),
        ({"item_group_id": "tee-legacy"}, "tee-legacy"),
        ({"group_id": "tee", "item_group_id": "tee-legacy"}, "tee"),
        ({"group_id": "", "item_group_id": "tee-legacy"}, "tee-legacy"),
    ],
)
def test_group_id_aliases(cells: Json, product_id: str) -> None:
    assert record_of(row(**cells)).product_id == product_id


def test_the_group_title_is_the_product_title() -> None:
    assert record_of(row(item_group_title="Classic Tee")).product == ProductInfo(title="Classic Tee")


# --------------------------------------------------------------------------- money


@pytest.mark.parametrize(
    ("price", "amount", "currency"),
    [
        ("79.99 USD", 7999, "USD"),
        ("7 USD", 700, "USD"),
        ("0.5 USD", 50, "USD"),
        ("079.90 USD", 7990, "USD"),
        ("1500 JPY", 1500, "JPY"),
        ("12.345 KWD", 12345, "KWD"),
        ("0.001 KWD", 1, "KWD"),
        ("12.3 KWD", 12300, "KWD"),
        ("19.99 usd", 1999, "USD"),  # lenient: the code is upper-cased
        (" 19.99 USD ", 1999, "USD"),
    ],
)
def test_price_in_major_units_with_the_currency_exponent(price: str, amount: int, currency: str) -> None:
    record = record_of(row(price=price))
    assert (record.price_amount, record.currency) == (amount, currency)


@pytest.mark.parametrize(
    "price",
    [
        "1500.5 JPY",  # JPY has no minor unit: never rounded to 1500 or 1501
        "1500.0 JPY",
        "19.999 USD",
        "12.3456 KWD",
        "19,99 USD",
        "1,000.00 USD",
        "1e3 USD",
        "-5.00 USD",
        "+5.00 USD",
        ".99 USD",
        "19. USD",
        "USD 19.99",
        "19.99",
        "19.99USD",
        "19.99  USD",
        "19.99 US",
        "19.99 ABC",  # not ISO 4217
        "19.99 XXX",  # ISO 4217 but no minor unit: not payable
        "0 USD",
        "0.00 USD",
        19.99,
    ],
)
def test_an_invalid_price_rejects_the_row(price: Any) -> None:
    assert errors_of(row(price=price)) == [("price", "invalid_price")]


def test_sale_price() -> None:
    record = record_of(row(sale_price="14.99 USD"))
    assert (record.price_amount, record.sale_price_amount, record.effective_price) == (1999, 1499, 1499)
    yen = record_of(row(price="1500 JPY", sale_price="1200 JPY"))
    assert (yen.price_amount, yen.sale_price_amount) == (1500, 1200)


@pytest.mark.parametrize(
    "sale_price",
    ["19.99 USD", "25.00 USD", "0 USD", "14.99 EUR", "14.999 USD", "cheap", 14.99],
)
def test_an_invalid_sale_price_rejects_the_row(sale_price: Any) -> None:
    # OpenAI would ignore it; a row error shows the merchant why the sale is not live.
    assert errors_of(row(sale_price=sale_price)) == [("sale_price", "invalid_price")]
    assert errors_of(row(sale_price="n/a")) == [("sale_price", "invalid_value")]  # a placeholder word


def test_an_invalid_price_and_sale_price_are_both_reported() -> None:
    assert errors_of(row(price="19.999 USD", sale_price="x")) == [
        ("price", "invalid_price"),
        ("sale_price", "invalid_price"),
    ]


@pytest.mark.parametrize(
    ("price", "shipping", "canonical"),
    [
        ("19.99 USD", "0 USD", "0.00 USD"),  # free shipping; omitted would mean unknown
        ("19.99 USD", "5 USD", "5.00 USD"),
        ("19.99 USD", "4.9 usd", "4.90 USD"),
        ("1500 JPY", "300 JPY", "300 JPY"),
        ("12.345 KWD", "1.5 KWD", "1.500 KWD"),
    ],
)
def test_shipping_price_is_kept_in_canonical_form(price: str, shipping: str, canonical: str) -> None:
    assert record_of(row(price=price, shipping_price=shipping)).attributes == {"shipping_price": canonical}


@pytest.mark.parametrize("shipping", ["5.00 EUR", "5.001 USD", "free", "-1 USD"])
def test_an_invalid_shipping_price_rejects_the_row(shipping: str) -> None:
    assert errors_of(row(shipping_price=shipping)) == [("shipping_price", "invalid_price")]


# --------------------------------------------------------------------------- availability and flags


@pytest.mark.parametrize(
    ("value", "availability"),
    [
        ("in_stock", Availability.IN_STOCK),
        ("out_of_stock", Availability.OUT_OF_STOCK),
        ("pre_order", Availability.PRE_ORDER),
        ("backorder", Availability.BACKORDER),
        ("unknown", Availability.UNKNOWN),  # a placeholder word elsewhere, a listed value here
        ("UNKNOWN", Availability.UNKNOWN),
        (" In_Stock ", Availability.IN_STOCK),
    ],
)
def test_availability(value: str, availability: Availability) -> None:
    assert record_of(row(availability=value)).availability is availability


@pytest.mark.parametrize("value", ["preorder", "limited_stock", "discontinued", "available", "n/a", True])
def test_an_unrecognised_availability_rejects_the_row(value: Any) -> None:
    assert errors_of(row(availability=value)) == [("availability", "invalid_value")]


@pytest.mark.parametrize(
    ("cells", "search", "checkout"),
    [
        ({}, True, False),
        ({"is_eligible_checkout": "true"}, True, True),
        ({"is_eligible_search": "true", "is_eligible_checkout": "false"}, True, False),
        # search=false disables checkout too (§1.3.2)
        ({"is_eligible_search": "false", "is_eligible_checkout": "true"}, False, False),
        ({"is_eligible_search": False, "is_eligible_checkout": True}, False, False),
        # the launch-era names (§1.3.13) ...
        ({"enable_search": "false"}, False, False),
        ({"enable_checkout": "true"}, True, True),
        # ... win over the new names when both are sent
        (
            {"enable_search": "false", "is_eligible_search": "true", "is_eligible_checkout": "true"},
            False,
            False,
        ),
        (
            {"enable_search": "true", "is_eligible_search": "false", "is_eligible_checkout": "true"},
            True,
            True,
        ),
        ({"enable_checkout": "false", "is_eligible_checkout": "true"}, True, False),
        ({"enable_checkout": "true", "is_eligible_checkout": "false"}, True, True),
        # a blank legacy cell is no value, so the new name is read
        ({"enable_checkout": "", "is_eligible_checkout": "true"}, True, True),
        ({"enable_search": " ", "is_eligible_search": "false"}, False, False),
        ({"is_eligible_checkout": " TRUE "}, True, True),  # lenient about case and spaces
    ],
)
def test_search_and_checkout_flags(cells: Json, search: bool, checkout: bool) -> None:
    record = record_of(row(**cells))
    assert (record.is_eligible_search, record.is_eligible_checkout) == (search, checkout)


@pytest.mark.parametrize(
    ("cells", "field"),
    [
        ({"is_eligible_search": "yes"}, "is_eligible_search"),
        ({"is_eligible_checkout": "1"}, "is_eligible_checkout"),
        ({"enable_checkout": 1}, "enable_checkout"),
        # checked even though search=false turns checkout off anyway
        ({"is_eligible_search": "false", "is_eligible_checkout": "maybe"}, "is_eligible_checkout"),
        ({"is_digital": "no"}, "is_digital"),
        ({"listing_has_variations": "Y"}, "listing_has_variations"),
    ],
)
def test_an_invalid_boolean_rejects_the_row(cells: Json, field: str) -> None:
    assert errors_of(row(**cells)) == [(field, "invalid_value")]


def test_is_digital() -> None:
    assert record_of(row(is_digital="true")).is_digital
    assert not record_of(row(is_digital="false")).is_digital


# --------------------------------------------------------------------------- variants


@pytest.mark.parametrize(
    "variant_dict",
    ['{"color": "Red", "size": "S"}', {"color": "Red", "size": "S"}, {" color ": " Red ", "size": "S"}],
)
def test_variant_dict_in_a_cell_or_as_json(variant_dict: Any) -> None:
    record = record_of(row(group_id="tee", listing_has_variations="true", variant_dict=variant_dict))
    assert record.variant_options == (("color", "Red"), ("size", "S"))
    assert record.product_id == "tee"


def test_variant_values_may_be_json_numbers() -> None:
    record = record_of(row(listing_has_variations=True, variant_dict={"size": 42, "width": 9.5}))
    assert record.variant_options == (("size", "42"), ("width", "9.5"))


@pytest.mark.parametrize("flag", [None, "", "false", False])
def test_variant_options_need_listing_has_variations(flag: Any) -> None:
    values = row(listing_has_variations=flag, variant_dict="not even json", custom_variant1_category="x")
    assert record_of(values).variant_options == ()


def test_custom_variant_pairs() -> None:
    values = row(
        listing_has_variations="true",
        custom_variant1_category="Color",
        custom_variant1_option="Red",
        custom_variant2_category="",
        custom_variant2_option="",
        custom_variant3_category="Size",
        custom_variant3_option="S",
    )
    assert record_of(values).variant_options == (("Color", "Red"), ("Size", "S"))


def test_an_explicit_variant_dict_wins_over_the_pairs() -> None:
    values = row(
        listing_has_variations="true",
        variant_dict='{"size": "M"}',
        custom_variant1_category="Color",
        custom_variant1_option="Red",
    )
    assert record_of(values).variant_options == (("size", "M"),)


@pytest.mark.parametrize(
    "variant_dict",
    [
        "not json",
        "[1, 2]",
        "{}",
        {},
        ["color", "Red"],
        '{"color": ""}',
        '{"color": "n/a"}',
        '{"color": null}',
        '{"color": true}',
        '{"color": {"name": "Red"}}',
        '{"": "Red"}',
        '{"size": "S", " size": "M"}',  # the same option name twice once stripped
    ],
)
def test_an_invalid_variant_dict_rejects_the_row(variant_dict: Any) -> None:
    values = row(listing_has_variations="true", variant_dict=variant_dict)
    assert errors_of(values) == [("variant_dict", "invalid_value")]


@pytest.mark.parametrize(
    ("cells", "error"),
    [
        ({"custom_variant1_category": "Color"}, ("custom_variant1_option", "missing_required_field")),
        ({"custom_variant2_option": "Red"}, ("custom_variant2_category", "missing_required_field")),
        (
            {
                "custom_variant1_category": "Color",
                "custom_variant1_option": "Red",
                "custom_variant2_category": "Color",
                "custom_variant2_option": "Blue",
            },
            ("custom_variant2_category", "invalid_value"),
        ),
    ],
)
def test_invalid_custom_variant_pairs(cells: Json, error: tuple[str, str]) -> None:
    assert errors_of(row(listing_has_variations="true", **cells)) == [error]


# --------------------------------------------------------------------------- item information


@pytest.mark.parametrize(
    "gtin",
    ["4006381333931", "036000291452", "96385074", "00012345600012", "9780306406157", " 036000291452 "],
)
def test_a_valid_gtin_is_kept_as_a_string(gtin: str) -> None:
    assert record_of(row(gtin=gtin)).gtin == gtin.strip()  # leading zeros stay


@pytest.mark.parametrize(
    "gtin",
    [
        "4006381333932",  # check digit off by one
        "036000291453",
        "96385075",
        "0306406152",  # ISBN-10 is not a GTIN
        "12345",
        "4006-381333931",
        "4006381 333931",
        "٤٠٠٦٣٨١٣٣٣٩٣١",  # Arabic-Indic digits with a valid check sum
        4006381333932,
    ],
)
def test_an_invalid_gtin_rejects_the_row(gtin: Any) -> None:
    assert errors_of(row(gtin=gtin)) == [("gtin", "invalid_gtin")]


def test_a_gtin_sent_as_a_json_number_is_checked_as_its_text() -> None:
    assert record_of(row(gtin=4006381333931)).gtin == "4006381333931"


@given(st.text("0123456789", min_size=6, max_size=15))
@example("4006381333931")
@example("00000000")
@PROPERTIES
def test_a_gtin_is_accepted_exactly_when_its_check_digit_is_valid(digits: str) -> None:
    result = map_openai_row(row(gtin=digits))
    assert isinstance(result, VariantRecord) == gtin_valid(digits)


@pytest.mark.parametrize(
    ("value", "condition"),
    [("new", Condition.NEW), ("used", Condition.USED), ("Refurbished", Condition.REFURBISHED)],
)
def test_condition(value: str, condition: Condition) -> None:
    assert record_of(row(condition=value)).condition is condition


def test_item_attributes() -> None:
    values = row(
        product_category="Apparel > Shirts",
        mpn="TEE-R-S",
        material="cotton",
        color="Red",
        size="S",
        gender="Unisex",
        age_group="adult",
        offer_id="offer-7",
    )
    record = record_of(values)
    assert (record.category, record.mpn) == ("Apparel > Shirts", "TEE-R-S")
    assert record.attributes == {
        "material": "cotton",
        "color": "Red",
        "size": "S",
        "gender": "unisex",
        "age_group": "adult",
        "offer_id": "offer-7",
    }


@pytest.mark.parametrize(
    ("cells", "field"),
    [
        ({"condition": "broken"}, "condition"),
        ({"gender": "men"}, "gender"),
        ({"age_group": "senior"}, "age_group"),
        ({"color": "n/a"}, "color"),
    ],
)
def test_invalid_item_information(cells: Json, field: str) -> None:
    assert errors_of(row(**cells)) == [(field, "invalid_value")]


# --------------------------------------------------------------------------- media


def test_additional_images_follow_the_main_image() -> None:
    values = row(additional_image_urls="https://cdn.example/2.jpg, https://cdn.example/3.jpg")
    assert [m.url for m in record_of(values).media] == [
        "https://cdn.example/tee-red.jpg",
        "https://cdn.example/2.jpg",
        "https://cdn.example/3.jpg",
    ]
    assert all(m == Media(m.url) for m in record_of(values).media)


@pytest.mark.parametrize(
    "additional",
    [
        ["https://cdn.example/2.jpg", "https://cdn.example/3.jpg"],  # JSONL array
        '["https://cdn.example/2.jpg", "https://cdn.example/3.jpg"]',  # JSON array in a CSV cell
        "https://cdn.example/2.jpg,not a url,ftp://cdn.example/x.jpg,https://cdn.example/3.jpg",
        "https://user:secret@cdn.example/x.jpg,https://cdn.example/2.jpg,,https://cdn.example/3.jpg",
        ["https://cdn.example/2.jpg", 7, None, {"url": "x"}, "https://cdn.example/3.jpg", "/relative.jpg"],
    ],
)
def test_invalid_additional_image_urls_are_dropped(additional: Any) -> None:
    record = record_of(row(additional_image_urls=additional))
    assert [m.url for m in record.media[1:]] == ["https://cdn.example/2.jpg", "https://cdn.example/3.jpg"]


def test_a_percent_encoded_comma_stays_encoded() -> None:
    record = record_of(row(additional_image_urls="https://cdn.example/a%2Cb.jpg"))
    assert record.media[1] == Media("https://cdn.example/a%2Cb.jpg")


@pytest.mark.parametrize(
    "additional", ["not a url", ["ftp://x.example/a.jpg"], 5, {"url": "https://x.example/"}]
)
def test_only_invalid_additional_images_leave_the_main_image(additional: Any) -> None:
    assert record_of(row(additional_image_urls=additional)).media == BASE_RECORD.media


@pytest.mark.parametrize(
    "url",
    [
        "cdn.example/tee.jpg",
        "ftp://cdn.example/tee.jpg",
        "https://cdn.example/a b.jpg",
        "https://u:p@cdn.example/x",
    ],
)
def test_an_invalid_main_image_or_product_url_rejects_the_row(url: str) -> None:
    assert errors_of(row(image_url=url)) == [("image_url", "invalid_value")]
    assert errors_of(row(url=url)) == [("url", "invalid_value")]


def test_urls_beyond_the_fast_path_are_still_accepted() -> None:
    record = record_of(row(url="HTTPS://shop.example/tee/é?x=1 ", image_url="http://[::1]:8080/tee.jpg"))
    assert (record.url, record.media[0].url) == (
        "HTTPS://shop.example/tee/é?x=1",
        "http://[::1]:8080/tee.jpg",
    )


# --------------------------------------------------------------------------- dimensions and weight


@pytest.mark.parametrize(
    "dimensions",
    [
        {"length": "30", "width": "12.5", "unit": "cm"},
        '{"length": "30", "width": "12.5", "unit": "cm"}',
        {"length": 30, "width": 12.5, "unit": "CM"},
        {"length": "30", "width": "12.5", "height": "", "unit": "cm"},
    ],
)
def test_the_dimensions_object(dimensions: Any) -> None:
    record = record_of(row(dimensions=dimensions))
    assert (record.length, record.width, record.height, record.dimension_unit) == (
        Decimal("30"),
        Decimal("12.5"),
        None,
        "cm",
    )


def test_the_dimensions_object_overrides_the_separate_columns() -> None:
    values = row(dimensions='{"length": "1", "width": "2", "height": "3", "unit": "in"}', length="9")
    record = record_of({**values, "dimensions_unit": "mm"})
    assert (record.length, record.width, record.height, record.dimension_unit) == (
        Decimal("1"),
        Decimal("2"),
        Decimal("3"),
        "in",
    )


@pytest.mark.parametrize(
    "dimensions",
    [
        "{}",  # empty object is invalid
        '{"length": "30", "unit": "cm"}',  # needs two axes
        '{"length": "30", "width": "12"}',  # needs a unit: never inferred
        '{"length": "30", "width": "12", "unit": "yd"}',
        '{"length": "-30", "width": "12", "unit": "cm"}',
        '{"length": "0", "width": "12", "unit": "cm"}',
        '{"length": "1e2", "width": "12", "unit": "cm"}',
        '{"length": true, "width": "12", "unit": "cm"}',
        "30x12 cm",
        "[30, 12]",
    ],
)
def test_an_invalid_dimensions_object_rejects_the_row(dimensions: str) -> None:
    errors = errors_of(row(dimensions=dimensions))
    assert errors
    assert set(errors) == {("dimensions", "invalid_value")}


def test_the_separate_dimension_columns() -> None:
    record = record_of(row(length="30", width="12.5", height="11", dimensions_unit="CM"))
    assert (record.length, record.width, record.height, record.dimension_unit) == (
        Decimal("30"),
        Decimal("12.5"),
        Decimal("11"),
        "cm",
    )
    one_axis = record_of(row(height="2", dimensions_unit="m"))
    assert (one_axis.length, one_axis.height, one_axis.dimension_unit) == (None, Decimal("2"), "m")


def test_weight() -> None:
    record = record_of(row(weight="0.20", item_weight_unit="kg"))
    assert (record.weight, record.weight_unit) == (Decimal("0.20"), "kg")
    assert record_of(row(weight=0.5, item_weight_unit="LB")).weight_unit == "lb"


@pytest.mark.parametrize(
    ("cells", "errors"),
    [
        ({"weight": "0.2"}, [("item_weight_unit", "missing_required_field")]),
        ({"item_weight_unit": "kg"}, [("item_weight_unit", "invalid_value")]),
        ({"weight": "0", "item_weight_unit": "kg"}, [("weight", "invalid_value")]),
        ({"weight": "-1", "item_weight_unit": "kg"}, [("weight", "invalid_value")]),
        ({"weight": "1,5", "item_weight_unit": "kg"}, [("weight", "invalid_value")]),
        ({"weight": "1e3", "item_weight_unit": "g"}, [("weight", "invalid_value")]),
        ({"weight": "2", "item_weight_unit": "stone"}, [("item_weight_unit", "invalid_value")]),
        ({"length": "30"}, [("dimensions_unit", "missing_required_field")]),
        ({"dimensions_unit": "cm"}, [("dimensions_unit", "invalid_value")]),
        ({"width": "abc", "dimensions_unit": "cm"}, [("width", "invalid_value")]),
    ],
)
def test_units_are_never_inferred(cells: Json, errors: list[tuple[str, str]]) -> None:
    assert errors_of(row(**cells)) == errors


def test_blank_number_and_unit_cells_are_no_value() -> None:
    assert record_of(row(weight=" ", item_weight_unit="", length="", dimensions_unit=" ")) == BASE_RECORD


# --------------------------------------------------------------------------- merchant, returns, reviews, geo


def test_merchant_links() -> None:
    values = row(
        seller_url="https://shop.example",
        seller_privacy_policy="https://shop.example/privacy",
        seller_tos="https://shop.example/tos",
        return_policy="https://shop.example/returns",
    )
    record = record_of(values)
    assert record.seller_url == "https://shop.example"
    assert record.attributes == {
        "seller_privacy_policy": "https://shop.example/privacy",
        "seller_tos": "https://shop.example/tos",
        "return_policy": "https://shop.example/returns",
    }


@pytest.mark.parametrize("name", ["seller_url", "seller_privacy_policy", "seller_tos", "return_policy"])
def test_an_invalid_merchant_link_rejects_the_row(name: str) -> None:
    assert errors_of(row(**{name: "shop.example/x"})) == [(name, "invalid_value")]


@pytest.mark.parametrize(
    ("cells", "attributes"),
    [
        ({"accepts_returns": "true"}, {"accepts_returns": True}),
        ({"accepts_returns": "false"}, {"accepts_returns": False}),  # final sale
        ({"accepts_returns": False}, {"accepts_returns": False}),
        ({"accepts_returns": ""}, {}),  # omitted = unspecified, not false
        ({"accepts_returns": "  "}, {}),
        ({"accepts_returns": None}, {}),
        ({"return_deadline_in_days": "30"}, {"return_deadline_in_days": 30}),
        ({"return_window": "14"}, {"return_deadline_in_days": 14}),  # the alias
        (
            {"return_window": 14, "return_deadline_in_days": "30"},
            {"return_deadline_in_days": 14},
        ),  # alias wins
        ({"return_window": " ", "return_deadline_in_days": "30"}, {"return_deadline_in_days": 30}),
    ],
)
def test_returns(cells: Json, attributes: Json) -> None:
    assert record_of(row(**cells)).attributes == attributes


@pytest.mark.parametrize(
    ("cells", "field"),
    [
        ({"accepts_returns": "maybe"}, "accepts_returns"),
        ({"return_deadline_in_days": "0"}, "return_deadline_in_days"),  # a positive duration
        ({"return_window": "-3"}, "return_window"),
        ({"return_window": "2 weeks", "return_deadline_in_days": "14"}, "return_window"),
        ({"return_window": 14.0}, "return_window"),
    ],
)
def test_invalid_returns(cells: Json, field: str) -> None:
    assert errors_of(row(**cells)) == [(field, "invalid_value")]


def test_reviews() -> None:
    record = record_of(row(review_count="0", star_rating="4.50"))
    assert record.attributes == {"review_count": 0, "star_rating": "4.50"}
    assert record_of(row(star_rating=4.5)).attributes == {"star_rating": "4.5"}


@pytest.mark.parametrize(
    ("cells", "field"),
    [
        ({"review_count": "-1"}, "review_count"),
        ({"review_count": "many"}, "review_count"),
        ({"star_rating": "5.01"}, "star_rating"),
        ({"star_rating": "-1"}, "star_rating"),
        ({"star_rating": "four"}, "star_rating"),
    ],
)
def test_invalid_reviews(cells: Json, field: str) -> None:
    assert errors_of(row(**cells)) == [(field, "invalid_value")]


@pytest.mark.parametrize(
    ("cells", "target", "store"),
    [
        ({"target_countries": "US"}, ("US",), None),
        ({"target_countries": "US,CA, MX"}, ("US", "CA", "MX"), None),
        ({"target_countries": ["US", "CA"]}, ("US", "CA"), None),
        ({"store_country": "US"}, (), "US"),
        ({"store_country": ["DE"]}, (), "DE"),
    ],
)
def test_countries(cells: Json, target: tuple[str, ...], store: str | None) -> None:
    record = record_of(row(**cells))
    assert (record.target_countries, record.store_country) == (target, store)


@pytest.mark.parametrize(
    ("cells", "field"),
    [
        ({"target_countries": "us"}, "target_countries"),
        ({"target_countries": "USA"}, "target_countries"),
        ({"target_countries": ["US", "ca"]}, "target_countries"),
        ({"store_country": "US,CA"}, "store_country"),
        ({"store_country": "Germany"}, "store_country"),
    ],
)
def test_invalid_countries(cells: Json, field: str) -> None:
    assert errors_of(row(**cells)) == [(field, "invalid_value")]


def test_inventory_tax_category_and_order_limit() -> None:
    record = record_of(row(inventory_quantity="0", tax_category="txcd_99999999", max_quantity_per_order="3"))
    assert (record.inventory_quantity, record.tax_category, record.max_quantity_per_order) == (
        0,
        "txcd_99999999",
        3,
    )
    assert record_of(row(inventory_quantity=25)).inventory_quantity == 25


@pytest.mark.parametrize(
    ("cells", "field"),
    [
        ({"inventory_quantity": "-1"}, "inventory_quantity"),
        ({"inventory_quantity": "2.5"}, "inventory_quantity"),
        ({"inventory_quantity": True}, "inventory_quantity"),
        ({"inventory_quantity": "٣"}, "inventory_quantity"),
        ({"max_quantity_per_order": "0"}, "max_quantity_per_order"),
    ],
)
def test_invalid_counts(cells: Json, field: str) -> None:
    assert errors_of(row(**cells)) == [(field, "invalid_value")]


# --------------------------------------------------------------------------- export


def test_export_of_the_required_fields() -> None:
    assert to_openai_row(BASE_RECORD) == {
        **BASE,
        "is_eligible_search": True,
        "is_eligible_checkout": False,
    }
    cells = to_openai_cells(BASE_RECORD)
    assert {k: v for k, v in cells.items() if v} == {
        **BASE,
        "is_eligible_search": "true",
        "is_eligible_checkout": "false",
    }


def test_export_of_every_column() -> None:
    assert to_openai_row(full_record()) == {
        "item_id": "SKU-1",
        "group_id": "GROUP-1",
        "listing_has_variations": True,
        "variant_dict": {"color": "Blue", "size": "42"},
        "item_group_title": "Trail Shoe",
        "title": 'Trail Shoe "Ridge", Blue / 42',
        "description": "Light trail shoe.\nMesh upper, rubber sole; 280 g.",
        "url": "https://shop.example/shoe?sku=SKU-1&utm_medium=feed",
        "brand": "Trailco",
        "gtin": "4006381333931",
        "mpn": "TC-42",
        "condition": "refurbished",
        "product_category": "Apparel & Accessories > Shoes",
        "material": "mesh",
        "color": "Blue",
        "size": "42",
        "gender": "unisex",
        "age_group": "adult",
        "dimensions": {"length": "30", "width": "12.5", "height": "11", "unit": "cm"},
        "weight": "0.8",
        "item_weight_unit": "kg",
        "image_url": "https://cdn.example.com/shoe.jpg",
        "additional_image_urls": ["https://cdn.example.com/shoe-2.jpg"],
        "price": "129.00 EUR",
        "sale_price": "99.00 EUR",
        "availability": "backorder",
        "inventory_quantity": 12,
        "is_eligible_search": True,
        "is_eligible_checkout": True,
        "is_digital": True,
        "seller_name": "Trailco Store",
        "seller_url": "https://shop.example",
        "seller_privacy_policy": "https://shop.example/privacy",
        "seller_tos": "https://shop.example/tos",
        "offer_id": "offer-1",
        "shipping_price": "5.00 EUR",
        "accepts_returns": True,
        "return_policy": "https://shop.example/returns",
        "return_deadline_in_days": 30,
        "review_count": 12,
        "star_rating": "4.50",
        "target_countries": ["DE", "AT"],
        "store_country": "DE",
        "tax_category": "apparel",
        "max_quantity_per_order": 4,
    }


def test_export_columns() -> None:
    record = full_record()
    assert set(to_openai_row(record)) == set(OPENAI_COLUMNS) - {
        "length",
        "width",
        "height",
        "dimensions_unit",
    }
    assert set(to_openai_row(replace(record, width=None, height=None))) <= set(OPENAI_COLUMNS)
    cells = to_openai_cells(record)
    assert list(cells) == list(OPENAI_COLUMNS)
    assert all(isinstance(value, str) for value in cells.values())
    assert len(set(OPENAI_COLUMNS)) == len(OPENAI_COLUMNS)
    assert {names[0] for names in OPENAI_REQUIRED} <= set(OPENAI_COLUMNS)


def test_export_cells_serialise_lists_objects_and_booleans() -> None:
    cells = to_openai_cells(full_record())
    assert orjson.loads(cells["variant_dict"]) == {"color": "Blue", "size": "42"}
    assert orjson.loads(cells["dimensions"]) == {
        "length": "30",
        "width": "12.5",
        "height": "11",
        "unit": "cm",
    }
    assert (cells["target_countries"], cells["listing_has_variations"], cells["accepts_returns"]) == (
        "DE,AT",
        "true",
        "true",
    )
    assert (cells["inventory_quantity"], cells["length"], cells["is_digital"]) == ("12", "", "true")


def test_a_comma_inside_an_additional_image_url_is_percent_encoded_in_a_cell() -> None:
    record = replace(BASE_RECORD, media=(*BASE_RECORD.media, Media("https://cdn.example/a,b.jpg")))
    assert to_openai_cells(record)["additional_image_urls"] == "https://cdn.example/a%2Cb.jpg"
    assert to_openai_row(record)["additional_image_urls"] == ["https://cdn.example/a,b.jpg"]  # JSON keeps it
    assert record_of(to_openai_row(record)) == record


@pytest.mark.parametrize(
    ("availability", "exported"),
    [(Availability.LIMITED_STOCK, "in_stock"), (Availability.DISCONTINUED, "out_of_stock")],
)
def test_statuses_of_other_formats_export_as_the_nearest_openai_value(
    availability: Availability, exported: str
) -> None:
    assert to_openai_row(replace(BASE_RECORD, availability=availability))["availability"] == exported


def test_only_plain_images_are_exported() -> None:
    media = (
        Media("https://cdn.example/v.mp4", type="video"),
        Media("https://cdn.example/1.jpg", alt_text="front", width=800, height=800),
        Media("https://cdn.example/2.jpg"),
    )
    out = to_openai_row(replace(BASE_RECORD, media=media))
    assert (out["image_url"], out["additional_image_urls"]) == (
        "https://cdn.example/1.jpg",
        ["https://cdn.example/2.jpg"],
    )


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (Decimal("5E+2"), "500"),
        (Decimal("0.20"), "0.20"),
        (Decimal("1E-7"), "0.0000001"),
        (Decimal("3"), "3"),
    ],
)
def test_decimals_are_exported_without_an_exponent(number: Decimal, text: str) -> None:
    record = replace(BASE_RECORD, weight=number, weight_unit="g", length=number, dimension_unit="mm")
    out = to_openai_row(record)
    assert (out["weight"], out["length"]) == (text, text)
    assert record_of(out) == record


def test_one_axis_uses_the_separate_columns_and_two_the_object() -> None:
    one = replace(BASE_RECORD, height=Decimal("2"), dimension_unit="m")
    assert {k: v for k, v in to_openai_row(one).items() if k in openai._DIMENSION_COLUMNS} == {
        "height": "2",
        "dimensions_unit": "m",
    }
    two = replace(one, width=Decimal("1"))
    assert to_openai_row(two)["dimensions"] == {"width": "1", "height": "2", "unit": "m"}
    assert record_of(to_openai_row(one)) == one
    assert record_of(to_openai_cells(two)) == two


@pytest.mark.parametrize(
    "changes",
    [
        {"weight": Decimal("1")},
        {"weight_unit": "kg"},
        {"length": Decimal("1"), "width": Decimal("2")},
        {"dimension_unit": "cm"},
    ],
)
def test_a_number_without_its_unit_or_a_unit_alone_is_not_exported(changes: Json) -> None:
    # The format cannot carry it (units are never inferred); writing it would get the row rejected.
    out = to_openai_row(replace(BASE_RECORD, **changes))
    assert out == to_openai_row(BASE_RECORD)
    assert record_of(to_openai_cells(replace(BASE_RECORD, **changes))) == BASE_RECORD


def test_export_does_not_share_mutable_values_with_the_record() -> None:
    record = full_record()
    out = to_openai_row(record)
    out["variant_dict"]["color"] = "Red"
    out["additional_image_urls"].append("https://x.example/")
    out["target_countries"].clear()
    assert record == full_record()


def test_the_full_record_round_trips() -> None:
    record = full_record()
    assert record_of(to_openai_row(record)) == record
    assert record_of(to_openai_cells(record)) == record
    assert to_openai_cells(record_of(to_openai_cells(record))) == to_openai_cells(record)


# --------------------------------------------------------------------------- the fixture feed


def _fixture_rows() -> list[tuple[int, Mapping[str, Any]]]:
    with FIXTURE.open("rb") as stream:
        rows = list(delimited_rows(stream, delimiter=",", required=OPENAI_REQUIRED))
    return [(line, values) for line, values in rows if isinstance(values, Mapping)]


def test_the_fixture_feed_maps_as_the_ingest_test_expects() -> None:
    results = {(line, values["item_id"]): map_openai_row(values) for line, values in _fixture_rows()}
    accepted = {key for key, result in results.items() if isinstance(result, VariantRecord)}
    assert accepted == {(2, "tee-red-s"), (3, "tee-red-m"), (4, "mug"), (8, "yen"), (9, "dinar"), (12, "mug")}
    rejected = {
        key: [(e.field, e.code) for e in result]
        for key, result in results.items()
        if isinstance(result, list)
    }
    assert rejected == {
        (5, "no-price"): [("price", "missing_required_field")],
        (6, "bad-gtin"): [("gtin", "invalid_gtin")],
        (7, "yen-fraction"): [("price", "invalid_price")],
        (10, "placeholder"): [("brand", "invalid_value")],
    }
    tee = results[(2, "tee-red-s")]
    assert tee == VariantRecord(
        id="tee-red-s",
        product_id="tee",
        title="Classic Tee - Red / S",
        price_amount=1999,
        currency="USD",
        availability=Availability.IN_STOCK,
        description="Cotton tee, red, small.",
        url="https://shop.example/tee?v=red-s",
        media=(
            Media("https://cdn.example/tee-red.jpg"),
            Media("https://cdn.example/tee-red-2.jpg"),
            Media("https://cdn.example/tee-red-3.jpg"),
        ),
        brand="Acme",
        gtin="4006381333931",
        mpn="TEE-R-S",
        condition=Condition.NEW,
        category="Apparel > Shirts",
        variant_options=(("color", "Red"), ("size", "S")),
        sale_price_amount=1499,
        inventory_quantity=25,
        weight=Decimal("0.2"),
        weight_unit="kg",
        seller_name="Acme Store",
        is_eligible_checkout=True,
    )
    dinar = results[(9, "dinar")]
    assert isinstance(dinar, VariantRecord)
    assert (dinar.price_amount, dinar.currency, dinar.availability) == (12345, "KWD", Availability.BACKORDER)
    assert (dinar.is_eligible_search, dinar.is_eligible_checkout) == (True, False)


def test_every_accepted_fixture_row_round_trips() -> None:
    for _, values in _fixture_rows():
        result = map_openai_row(values)
        if isinstance(result, VariantRecord):
            assert map_openai_row(to_openai_row(result)) == result
            assert map_openai_row(to_openai_cells(result)) == result


# --------------------------------------------------------------------------- strategies

CURRENCIES = ("USD", "JPY", "KWD", "EUR", "BHD", "CLF")  # exponents 2, 0, 3, 2, 3, 4
_SPICE = [
    ",",
    '"',
    "'",
    ";",
    "\n",
    "\r\n",
    "\t",
    "{",
    "}",
    "[",
    "]",
    "\\",
    ">",
    "é",
    "ß",
    "漢字",
    "🙂",
    "\u00a0",
]
_TEXT_CHARS = st.one_of(
    st.sampled_from(string.ascii_letters + string.digits + " -/&"),
    st.sampled_from(_SPICE),
    st.characters(codec="utf-8", exclude_characters="\x00"),  # no lone surrogates, no NUL
)


@functools.cache
def texts(max_size: int = 40) -> st.SearchStrategy[str]:
    """Text the format can carry: stripped, not blank, not a placeholder word, within the limit."""
    return (
        st.lists(_TEXT_CHARS, min_size=1, max_size=min(max_size, 40))
        .map(lambda parts: "".join(parts)[:max_size].strip())
        .filter(lambda text: text != "" and text.lower() not in PLACEHOLDERS)
    )


_HOSTS = st.lists(
    st.text(string.ascii_lowercase + string.digits + "-", min_size=1, max_size=8), min_size=1, max_size=3
).map(".".join)
_PATH_CHARS = [*(chr(c) for c in range(0x21, 0x7F)), "é", "漢"]


@functools.cache
def urls(*, commas: bool = True) -> st.SearchStrategy[str]:
    """Absolute http(s) URLs: plain ones (the fast path) and some with non-ASCII paths (the full check)."""
    path_chars = _PATH_CHARS if commas else [c for c in _PATH_CHARS if c != ","]
    return st.builds(
        "{}://{}{}/{}".format,
        st.sampled_from(["https", "http"]),
        _HOSTS,
        st.sampled_from(["", ":8443"]),
        st.text(st.sampled_from(path_chars), max_size=30),
    )


@st.composite
def gtins(draw: st.DrawFn) -> str:
    length = draw(st.sampled_from([8, 12, 13, 14]))
    body = draw(st.text("0123456789", min_size=length - 1, max_size=length - 1))
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str(-total % 10)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


# Positive decimals, some with an exponent (Decimal("5E+2")) or trailing zeros (Decimal("1.50")).
_DECIMALS = optional(
    st.builds(lambda mantissa, exp: Decimal(mantissa).scaleb(exp), st.integers(1, 10**7), st.integers(-4, 3))
)
_COUNTRIES = st.text(string.ascii_uppercase, min_size=2, max_size=2)
_STAR_RATINGS = st.one_of(
    st.integers(0, 500).map(lambda c: f"{c // 100}.{c % 100:02d}"), st.integers(0, 5).map(str)
)
_ATTRIBUTES = st.fixed_dictionaries(
    {},
    optional={
        "material": texts(100),
        "color": texts(40),
        "size": texts(20),
        "gender": st.sampled_from(["male", "female", "unisex"]),
        "age_group": st.sampled_from(["newborn", "infant", "toddler", "kids", "adult"]),
        "offer_id": texts(),
        "accepts_returns": st.booleans(),
        "return_policy": urls(),
        "return_deadline_in_days": st.integers(1, 3650),
        "review_count": st.integers(0, 10**9),
        "star_rating": _STAR_RATINGS,
        "seller_privacy_policy": urls(),
        "seller_tos": urls(),
    },
)
_OPTIONS = st.lists(st.tuples(texts(20), texts(20)), unique_by=lambda option: option[0], max_size=3)
_AVAILABILITIES = st.sampled_from(sorted(openai._AVAILABILITY.values()))  # not limited_stock, discontinued


@st.composite
def records(draw: st.DrawFn, *, csv_cells: bool = False) -> VariantRecord:
    """Any record the OpenAI format can express (see the module docstring of the mapper).

    ``csv_cells``: no comma inside an additional image URL (a cell writes it as ``%2C``).
    """
    currency = draw(st.sampled_from(CURRENCIES))
    price = draw(st.integers(1, 10**12))
    item_id = draw(texts(100))
    length, width, height = draw(_DECIMALS), draw(_DECIMALS), draw(_DECIMALS)
    weight = draw(_DECIMALS)
    search = draw(st.booleans())
    attributes = draw(_ATTRIBUTES)
    if draw(st.booleans()):  # in the price's currency, canonical ("0.00 USD" = free)
        attributes["shipping_price"] = format_price(Money(draw(st.integers(0, 10**6)), currency))
    return VariantRecord(
        id=item_id,
        product_id=draw(st.one_of(st.just(item_id), texts())),
        title=draw(texts(150)),
        price_amount=price,
        currency=currency,
        availability=draw(_AVAILABILITIES),
        description=draw(texts(5000)),
        url=draw(urls()),
        media=tuple(
            Media(url) for url in [draw(urls()), *draw(st.lists(urls(commas=not csv_cells), max_size=3))]
        ),
        brand=draw(texts(70)),
        gtin=draw(optional(gtins())),
        mpn=draw(optional(texts(70))),
        condition=draw(optional(st.sampled_from(Condition))),
        category=draw(optional(texts())),
        variant_options=tuple(draw(_OPTIONS)),
        sale_price_amount=draw(optional(st.integers(1, price - 1))) if price > 1 else None,
        inventory_quantity=draw(optional(st.integers(0, 2**31))),
        weight=weight,
        weight_unit=None if weight is None else draw(st.sampled_from(["g", "kg", "oz", "lb"])),
        length=length,
        width=width,
        height=height,
        dimension_unit=(
            None
            if (length, width, height) == (None, None, None)
            else draw(st.sampled_from(["in", "cm", "ft", "m", "mm"]))
        ),
        is_digital=draw(st.booleans()),
        seller_name=draw(texts(70)),
        seller_url=draw(optional(urls())),
        is_eligible_search=search,
        is_eligible_checkout=search and draw(st.booleans()),
        target_countries=tuple(draw(st.lists(_COUNTRIES, max_size=3))),
        store_country=draw(optional(_COUNTRIES)),
        tax_category=draw(optional(texts())),
        max_quantity_per_order=draw(optional(st.integers(1, 10**6))),
        attributes=attributes,
        product=ProductInfo(title=draw(optional(texts(150)))),
    )


# --------------------------------------------------------------------------- round-trip properties


@given(records())
@PROPERTIES
def test_round_trip_through_jsonl_values(record: VariantRecord) -> None:
    assert map_openai_row(to_openai_row(record)) == record


@given(records(csv_cells=True))
@PROPERTIES
def test_round_trip_through_csv_cells(record: VariantRecord) -> None:
    cells = to_openai_cells(record)
    assert map_openai_row(cells) == record
    assert to_openai_cells(map_openai_row(cells)) == cells  # type: ignore[arg-type]


@given(st.lists(records(csv_cells=True), min_size=1, max_size=3))
@settings(PROPERTIES, max_examples=100)
def test_round_trip_through_csv_and_jsonl_files(batch: list[VariantRecord]) -> None:
    # As merchant.catalog.export writes them and merchant.catalog.sources reads them back.
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(OPENAI_COLUMNS), extrasaction="raise")
    writer.writeheader()
    writer.writerows(to_openai_cells(record) for record in batch)
    csv_rows = delimited_rows(io.BytesIO(text.getvalue().encode()), delimiter=",", required=OPENAI_REQUIRED)
    assert [_map_source(source) for _, source in csv_rows] == batch

    lines = b"".join(orjson.dumps(to_openai_row(record), default=str) + b"\n" for record in batch)
    jsonl = jsonl_rows(io.BytesIO(lines), lower_keys=True)
    assert [_map_source(source) for _, source in jsonl] == batch


def _map_source(source: Mapping[str, Any] | RowProblem) -> Any:
    assert isinstance(source, Mapping), source
    return map_openai_row(source)


def _padded(value: str) -> str:
    return f"  {value}\t" if value else value


@given(records(csv_cells=True))
@PROPERTIES
def test_spaces_around_cells_take_the_slow_paths_to_the_same_record(record: VariantRecord) -> None:
    # Padding defeats every fast path, so this checks them against the ``Row`` helpers on valid data.
    cells = {name: _padded(value) for name, value in to_openai_cells(record).items()}
    assert map_openai_row(cells) == record


# --------------------------------------------------------------------------- fast paths vs Row helpers

_TRICKY = st.one_of(
    st.lists(
        st.sampled_from([*"0123456789.,- :/@aAzZ", "USD", "JPY", "KWD", "usd", "true", "\t", "n/a", "é"]),
        max_size=8,
    ).map("".join),
    st.sampled_from(["", " ", "null", "N/A", "unknown", "-", "in_stock", "IN_STOCK", "kg", "true", "False"]),
    st.text(max_size=12),
    st.integers(-5, 10**15),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    urls(),
    gtins(),
    st.lists(st.integers(), max_size=2),
)


def _compare(fast: Callable[[Row], Any], slow: Callable[[Row], Any], value: Any) -> None:
    fast_row, slow_row = Row({"x": value, "y": value}), Row({"x": value, "y": value})
    assert (fast(fast_row), fast_row.errors) == (slow(slow_row), slow_row.errors)


@given(_TRICKY, st.integers(1, 12), st.booleans())
@PROPERTIES
def test_fast_text_matches_row_text(value: Any, limit: int, required: bool) -> None:
    _compare(
        lambda r: openai._text(r, "x", limit, required),
        lambda r: r.text("x", max_len=limit, required=required),
        value,
    )
    _compare(
        lambda r: openai._first_text(r, ("z", "x", "y"), limit, required),
        lambda r: r.text("z", "x", "y", max_len=limit, required=required),
        value,
    )


@given(_TRICKY, st.booleans())
@PROPERTIES
def test_fast_url_matches_row_url(value: Any, required: bool) -> None:
    _compare(lambda r: openai._url(r, "x", required), lambda r: r.url("x", required=required), value)
    if isinstance(value, str) and openai._PLAIN_URL.fullmatch(value):
        assert url_problem(value) is None


_PRICES = st.builds(
    "{} {}".format,
    st.integers(0, 4).flatmap(lambda places: st.decimals(0, 10**6, places=places)),
    st.sampled_from([*CURRENCIES, "usd", "XXX", "ABC"]),
)


@given(st.one_of(_TRICKY, _PRICES))
@PROPERTIES
def test_fast_money_matches_row_price(value: Any) -> None:
    def slow(r: Row) -> tuple[int, str] | None:
        money = r.price("x", required=True)
        return None if money is None else (money.amount, money.currency)

    openai._money(Row({"x": value}), "x")  # the first sight of a currency fills the exponent cache
    _compare(lambda r: openai._money(r, "x", True), slow, value)


@given(_TRICKY)
@PROPERTIES
def test_fast_readers_match_the_row_helpers(value: Any) -> None:
    _compare(lambda r: openai._gtin(r, "x"), lambda r: r.gtin("x"), value)
    _compare(lambda r: openai._decimal(r, "x"), lambda r: r.decimal("x"), value)
    for minimum in (0, 1):
        _compare(
            lambda r: openai._integer(r, ("x", "y"), minimum),  # noqa: B023 - called right away
            lambda r: r.integer("x", "y", minimum=minimum),  # noqa: B023
            value,
        )
    for default in (True, False):
        _compare(
            lambda r: openai._flag(r, ("x", "y"), default),  # noqa: B023
            lambda r: r.boolean("x", "y", default=default),  # noqa: B023
            value,
        )
    _compare(
        lambda r: openai._choice(r, "x", openai._AVAILABILITY, openai._AVAILABILITY, True),
        lambda r: r.choice("x", allowed=openai._AVAILABILITY, required=True),
        value,
    )
    _compare(
        lambda r: openai._countries(r, "x"),
        lambda r: r.countries("x"),
        value,
    )


def test_field_errors_name_the_column_they_come_from() -> None:
    assert map_openai_row(row(title="x" * 151)) == [
        FieldError("title", "too_long", "title is 151 characters; at most 150 allowed")
    ]
    # an alias: the error names the column that was read
    assert errors_of(row("item_id", id=" ", sku="s" * 101)) == [("sku", "too_long")]
    assert errors_of(row(return_window="0")) == [("return_window", "invalid_value")]
