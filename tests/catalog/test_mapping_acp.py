"""ACP feed format: products.jsonl Product lines and metadata.json, both directions."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from merchant.catalog.mapping.acp import (
    AcpFeedMetadata,
    map_acp_metadata,
    map_acp_product,
    to_acp_metadata,
    to_acp_product,
)
from merchant.catalog.records import (
    Availability,
    Condition,
    FieldError,
    MapResult,
    Media,
    ProductInfo,
    VariantRecord,
)
from tests.catalog.acp_schema import (
    assert_schema_valid,
    bundle,
    check_schema,
    examples,
    schema_example,
    validator,
)

Json = dict[str, Any]
DELETE = object()


def records_of(product: Any, **kwargs: Any) -> list[VariantRecord]:
    """Map a product that must be valid: every entry a record, keyed by its id."""
    results = map_acp_product(product, **kwargs)
    records: list[VariantRecord] = []
    for variant_id, result in results:
        assert isinstance(result, VariantRecord), result
        assert variant_id == result.id
        records.append(result)
    return records


def record_of(product: Any) -> VariantRecord:
    (record,) = records_of(product)
    return record


def errors_of(result: MapResult) -> list[tuple[str, str]]:
    assert isinstance(result, list), result
    return [(error.field, error.code) for error in result]


def variant(**fields: Any) -> Json:
    """A minimal valid Variant plus ``fields`` (a ``None`` value deletes the field)."""
    base: Json = {"id": "v1", "title": "Tee - Red", "price": {"amount": 1999, "currency": "USD"}}
    base.update(fields)
    return {key: value for key, value in base.items() if value is not None}


def product(*variants: Json, **fields: Any) -> Json:
    return {"id": "p1", **fields, "variants": list(variants) or [variant()]}


def assert_round_trip(source: Json, expected: Json | None = None, **kwargs: Any) -> list[VariantRecord]:
    """Import, export: ``source`` exactly (or ``expected``, its normalised form); import: same records."""
    records = records_of(source, **kwargs)
    exported = to_acp_product(records)
    assert exported == (source if expected is None else expected)
    check_schema(exported)
    assert records_of(exported, **kwargs) == records
    return records


def _mutate(document: Json, path: tuple[str | int, ...], value: Any) -> Json:
    result = copy.deepcopy(document)
    target: Any = result
    for part in path[:-1]:
        target = target[part]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return result


# Two variants so that a variant-level error can be seen to spare the other one.
BASE = product(
    variant(id="v0", title="Tee - Red / S"),
    variant(
        id="v1",
        title="Tee - Red / M",
        list_price={"amount": 2499, "currency": "USD"},
        unit_price={
            "amount": 499,
            "currency": "USD",
            "measure": {"value": 12, "unit": "oz"},
            "reference": {"value": 1, "unit": "oz"},
        },
        availability={"available": True, "status": "in_stock"},
        barcodes=[{"type": "GTIN", "value": "00012345600029"}],
        categories=[{"value": "Apparel > Shirts", "taxonomy": "merchant"}],
        condition=["new"],
        variant_options=[{"name": "Color", "value": "Red"}, {"name": "Size", "value": "M"}],
        media=[{"type": "image", "url": "https://cdn.example.com/v1.jpg"}],
        seller={"name": "Shop", "links": [{"type": "privacy_policy", "url": "https://shop.example/privacy"}]},
        marketplace={"name": "Market"},
        description={"plain": "Soft."},
        url="https://shop.example/tee?v=v1",
    ),
    title="Tee",
    url="https://shop.example/tee",
    description={"plain": "A tee."},
    media=[{"type": "image", "url": "https://cdn.example.com/tee.jpg"}],
)


# --------------------------------------------------------------------------- official examples


def test_the_fixture_product_is_schema_valid() -> None:
    assert_schema_valid(BASE)
    assert_round_trip(BASE)


def test_upsert_example_product_round_trips_exactly() -> None:
    (source,) = copy.deepcopy(examples()["upsert_products_request_single_product"]["products"])
    records = assert_round_trip(source)
    (record,) = records
    assert record.id == "sku124-red-m"
    assert record.product_id == "prod_classic_tee"
    assert record.price_amount == 1999
    assert record.currency == "USD"
    assert record.sale_price_amount is None
    assert record.availability is Availability.OUT_OF_STOCK
    assert record.gtin == "00012345600029"
    assert record.variant_options == (("Color", "Red"), ("Size", "Medium"))
    assert record.seller_name == "Example Merchant"
    assert record.attributes == {"acp_marketplace": {"name": "Example Marketplace"}}
    assert record.product.title == "Classic Tee"
    assert record.product.description == "A classic cotton tee with a soft feel and relaxed fit."
    assert record.product.media[0].alt_text == "Classic Tee front view"
    assert record.is_eligible_search
    assert record.is_eligible_checkout


def test_schema_variant_example_round_trips_exactly() -> None:
    """The Variant example (price 1999 below list_price 2499) inside the Product example."""
    source = schema_example("Product")
    source["variants"] = [schema_example("Variant")]
    (record,) = assert_round_trip(source)
    assert (record.price_amount, record.sale_price_amount, record.effective_price) == (2499, 1999, 1999)
    assert record.gtin == "00012345600012"


def test_every_definition_example_in_one_variant_round_trips_exactly() -> None:
    source = schema_example("Product")
    source["description"] = schema_example("Description")
    source["variants"] = [
        {
            "id": "sku-all",
            "title": "Everything",
            "description": schema_example("Description"),
            "barcodes": [schema_example("Barcode")],
            "price": schema_example("Price"),
            "unit_price": schema_example("UnitPrice"),
            "availability": schema_example("Availability"),
            "categories": [schema_example("Category")],
            "condition": schema_example("Condition"),
            "variant_options": [schema_example("VariantOption")],
            "media": [schema_example("Media")],
            "seller": schema_example("Seller"),
            "marketplace": schema_example("Seller"),
        }
    ]
    assert_schema_valid(source)
    (record,) = assert_round_trip(source)
    assert record.category == "Apparel > Shirts"
    assert record.condition is Condition.NEW
    assert record.attributes["acp_unit_price"] == schema_example("UnitPrice")
    assert record.attributes["acp_seller_links"] == schema_example("Seller")["links"]


def _priceless_examples() -> list[Json]:
    example_set = examples()
    defs = bundle()["$defs"]
    return [
        *example_set["get_products_response"]["products"],
        defs["Product"]["example"],
        *defs["ProductsResponse"]["example"]["products"],
        *defs["UpsertProductsRequest"]["example"]["products"],
    ]


def test_example_products_without_a_price_are_rejected() -> None:
    """These examples carry no price: an exact export is impossible because nothing is imported.

    A variant without a price is schema-valid but cannot be sold, so each variant is rejected
    with ``missing_required_field`` at its ``price`` and nothing else.
    """
    for source in _priceless_examples():
        assert_schema_valid(source)
        results = map_acp_product(source)
        assert [variant_id for variant_id, _ in results] == [v["id"] for v in source["variants"]]
        for index, (_, result) in enumerate(results):
            assert errors_of(result) == [(f"$.variants[{index}].price", "missing_required_field")]


def test_example_products_with_a_price_added_round_trip_exactly() -> None:
    for source in _priceless_examples():
        priced = copy.deepcopy(source)
        for item in priced["variants"]:
            item["price"] = {"amount": 1999, "currency": "USD"}
        assert_round_trip(priced)


# --------------------------------------------------------------------------- validation errors

VARIANT_ERRORS: list[tuple[tuple[str | int, ...], Any, str, str]] = [
    (("variants", 1, "colour"), "red", "$.variants[1].colour", "unknown_field"),
    (("variants", 1, "bad key"), 1, "$.variants[1]['bad key']", "unknown_field"),
    (("variants", 1, "id"), DELETE, "$.variants[1].id", "missing_required_field"),
    (("variants", 1, "id"), 7, "$.variants[1].id", "invalid_value"),
    (("variants", 1, "id"), "  ", "$.variants[1].id", "invalid_value"),
    (("variants", 1, "title"), DELETE, "$.variants[1].title", "missing_required_field"),
    (("variants", 1, "title"), None, "$.variants[1].title", "invalid_value"),
    (("variants", 1, "url"), "/tee", "$.variants[1].url", "invalid_value"),
    (("variants", 1, "description"), {}, "$.variants[1].description", "invalid_value"),
    (("variants", 1, "description"), {"text": "x"}, "$.variants[1].description.text", "unknown_field"),
    (("variants", 1, "description"), {"html": 3}, "$.variants[1].description.html", "invalid_value"),
    (("variants", 1, "price"), DELETE, "$.variants[1].price", "missing_required_field"),
    (("variants", 1, "price"), 1999, "$.variants[1].price", "invalid_value"),
    (("variants", 1, "price", "amount"), DELETE, "$.variants[1].price.amount", "missing_required_field"),
    (("variants", 1, "price", "amount"), -1, "$.variants[1].price.amount", "invalid_value"),
    (("variants", 1, "price", "amount"), "1999", "$.variants[1].price.amount", "invalid_value"),
    (("variants", 1, "price", "amount"), 19.99, "$.variants[1].price.amount", "invalid_value"),
    (("variants", 1, "price", "amount"), True, "$.variants[1].price.amount", "invalid_value"),
    (("variants", 1, "price", "currency"), DELETE, "$.variants[1].price.currency", "missing_required_field"),
    (("variants", 1, "price", "currency"), "usd", "$.variants[1].price.currency", "invalid_value"),
    (("variants", 1, "price", "currency"), "XYZ", "$.variants[1].price.currency", "invalid_value"),
    (("variants", 1, "price", "currency"), "XAU", "$.variants[1].price.currency", "invalid_value"),
    (("variants", 1, "price", "cents"), 5, "$.variants[1].price.cents", "unknown_field"),
    (("variants", 1, "list_price", "currency"), "EUR", "$.variants[1].list_price.currency", "invalid_value"),
    (("variants", 1, "list_price", "amount"), 1000, "$.variants[1].list_price.amount", "invalid_value"),
    (("variants", 1, "list_price", "amount"), -5, "$.variants[1].list_price.amount", "invalid_value"),
    (
        ("variants", 1, "unit_price", "reference"),
        DELETE,
        "$.variants[1].unit_price.reference",
        "missing_required_field",
    ),
    (
        ("variants", 1, "unit_price", "measure", "value"),
        "12",
        "$.variants[1].unit_price.measure.value",
        "invalid_value",
    ),
    (
        ("variants", 1, "unit_price", "reference", "value"),
        1.5,
        "$.variants[1].unit_price.reference.value",
        "invalid_value",
    ),
    (("variants", 1, "unit_price", "currency"), "US", "$.variants[1].unit_price.currency", "invalid_value"),
    (("variants", 1, "availability"), "in_stock", "$.variants[1].availability", "invalid_value"),
    (
        ("variants", 1, "availability", "available"),
        "yes",
        "$.variants[1].availability.available",
        "invalid_value",
    ),
    (("variants", 1, "availability", "state"), "x", "$.variants[1].availability.state", "unknown_field"),
    (("variants", 1, "availability", "status"), 1, "$.variants[1].availability.status", "invalid_value"),
    (("variants", 1, "barcodes"), {"type": "GTIN"}, "$.variants[1].barcodes", "invalid_value"),
    (
        ("variants", 1, "barcodes", 0, "value"),
        DELETE,
        "$.variants[1].barcodes[0].value",
        "missing_required_field",
    ),
    (
        ("variants", 1, "barcodes", 0, "value"),
        "00012345600028",
        "$.variants[1].barcodes[0].value",
        "invalid_gtin",
    ),
    (("variants", 1, "barcodes", 0, "value"), "abc", "$.variants[1].barcodes[0].value", "invalid_gtin"),
    (
        ("variants", 1, "categories", 0, "value"),
        DELETE,
        "$.variants[1].categories[0].value",
        "missing_required_field",
    ),
    (
        ("variants", 1, "categories", 0, "taxonomy"),
        5,
        "$.variants[1].categories[0].taxonomy",
        "invalid_value",
    ),
    (("variants", 1, "condition"), "new", "$.variants[1].condition", "invalid_value"),
    (("variants", 1, "condition", 0), 1, "$.variants[1].condition[0]", "invalid_value"),
    (
        ("variants", 1, "variant_options", 1, "name"),
        DELETE,
        "$.variants[1].variant_options[1].name",
        "missing_required_field",
    ),
    (
        ("variants", 1, "variant_options", 0, "value"),
        3,
        "$.variants[1].variant_options[0].value",
        "invalid_value",
    ),
    (("variants", 1, "media", 0, "width"), "640", "$.variants[1].media[0].width", "invalid_value"),
    (("variants", 1, "media", 0, "type"), DELETE, "$.variants[1].media[0].type", "missing_required_field"),
    (("variants", 1, "media", 0, "url"), "cdn/v1.jpg", "$.variants[1].media[0].url", "invalid_value"),
    (
        ("variants", 1, "media", 0),
        "https://cdn.example.com/v1.jpg",
        "$.variants[1].media[0]",
        "invalid_value",
    ),
    (
        ("variants", 1, "seller", "links", 0, "url"),
        "privacy",
        "$.variants[1].seller.links[0].url",
        "invalid_value",
    ),
    (
        ("variants", 1, "seller", "links", 0, "type"),
        DELETE,
        "$.variants[1].seller.links[0].type",
        "missing_required_field",
    ),
    (("variants", 1, "seller", "email"), "a@b.c", "$.variants[1].seller.email", "unknown_field"),
    (("variants", 1, "marketplace", "name"), 1, "$.variants[1].marketplace.name", "invalid_value"),
    (("variants", 1), "v1", "$.variants[1]", "invalid_value"),
]


@pytest.mark.parametrize(("path", "value", "field", "code"), VARIANT_ERRORS)
def test_a_variant_level_error_rejects_only_that_variant(
    path: tuple[str | int, ...], value: Any, field: str, code: str
) -> None:
    source = _mutate(BASE, path, value)
    (first_id, first), (_, second) = map_acp_product(source)
    assert first_id == "v0"
    assert isinstance(first, VariantRecord)
    assert errors_of(second) == [(field, code)]
    assert isinstance(second, list)
    assert all(error.message.startswith(field) for error in second)


# The cases above that the official schema accepts: rules of ours (a price to sell at, real
# currencies, consistent list_price, GTIN check digits, non-empty ids, http(s) URLs; the schema's
# "format": "uri" is an annotation only).
OURS_ONLY: list[tuple[str, Any]] = [
    ("$.variants[1].id", "  "),
    ("$.variants[1].url", "/tee"),
    ("$.variants[1].price", DELETE),
    ("$.variants[1].price.currency", "XYZ"),
    ("$.variants[1].price.currency", "XAU"),
    ("$.variants[1].list_price.currency", "EUR"),
    ("$.variants[1].list_price.amount", 1000),
    ("$.variants[1].barcodes[0].value", "00012345600028"),
    ("$.variants[1].barcodes[0].value", "abc"),
    ("$.variants[1].media[0].url", "cdn/v1.jpg"),
    ("$.variants[1].seller.links[0].url", "privacy"),
    ("$.id", ""),
    ("$.url", "tee.html"),
    ("$.url", "ftp://shop.example/tee"),
    ("$.media[0].url", "https://cdn example.com/x.jpg"),
]


PRODUCT_ERRORS: list[tuple[tuple[str | int, ...], Any, str, str]] = [
    (("colour",), "red", "$.colour", "unknown_field"),
    (("id",), DELETE, "$.id", "missing_required_field"),
    (("id",), 42, "$.id", "invalid_value"),
    (("id",), "", "$.id", "invalid_value"),
    (("title",), ["Tee"], "$.title", "invalid_value"),
    (("url",), "tee.html", "$.url", "invalid_value"),
    (("url",), "ftp://shop.example/tee", "$.url", "invalid_value"),
    (("description",), {}, "$.description", "invalid_value"),
    (("description",), "A tee.", "$.description", "invalid_value"),
    (("media",), {"type": "image"}, "$.media", "invalid_value"),
    (("media", 0, "url"), DELETE, "$.media[0].url", "missing_required_field"),
    (("media", 0, "url"), "https://cdn example.com/x.jpg", "$.media[0].url", "invalid_value"),
    (("media", 0, "height"), 1.5, "$.media[0].height", "invalid_value"),
    (("media", 0, "caption"), "x", "$.media[0].caption", "unknown_field"),
]


@pytest.mark.parametrize(("path", "value", "field", "code"), PRODUCT_ERRORS)
def test_a_product_level_error_rejects_every_variant(
    path: tuple[str | int, ...], value: Any, field: str, code: str
) -> None:
    results = map_acp_product(_mutate(BASE, path, value))
    assert [variant_id for variant_id, _ in results] == ["v0", "v1"]
    for _, result in results:
        assert errors_of(result) == [(field, code)]


@pytest.mark.parametrize(("path", "value", "field", "code"), VARIANT_ERRORS + PRODUCT_ERRORS)
def test_the_schema_rejects_the_same_lines_unless_the_rule_is_ours(
    path: tuple[str | int, ...], value: Any, field: str, code: str
) -> None:
    schema_errors = list(validator("Product").iter_errors(_mutate(BASE, path, value)))
    assert bool(schema_errors) is ((field, value) not in OURS_ONLY)


def test_a_rejected_product_still_reports_each_variants_own_errors() -> None:
    source = _mutate(_mutate(BASE, ("id",), DELETE), ("variants", 1, "price", "amount"), -1)
    (_, first), (_, second) = map_acp_product(source)
    assert errors_of(first) == [("$.id", "missing_required_field")]
    assert errors_of(second) == [
        ("$.id", "missing_required_field"),
        ("$.variants[1].price.amount", "invalid_value"),
    ]


@pytest.mark.parametrize("line", [[], "product", 3, None, True])
def test_a_line_that_is_not_an_object(line: Any) -> None:
    assert [(variant_id, errors_of(result)) for variant_id, result in map_acp_product(line)] == [
        (None, [("$", "invalid_value")])
    ]


@pytest.mark.parametrize(
    ("variants", "code"),
    [(DELETE, "missing_required_field"), ({"id": "v"}, "invalid_value"), (None, "invalid_value")],
)
def test_variants_that_cannot_be_enumerated_give_one_entry(variants: Any, code: str) -> None:
    results = map_acp_product(_mutate(BASE, ("variants",), variants))
    assert [(variant_id, errors_of(result)) for variant_id, result in results] == [
        (None, [("$.variants", code)])
    ]


def test_a_product_without_variants() -> None:
    assert map_acp_product({"id": "p1", "variants": []}) == []
    results = map_acp_product({"id": 1, "variants": []})
    assert [(variant_id, errors_of(result)) for variant_id, result in results] == [
        (None, [("$.id", "invalid_value")])
    ]


def test_every_error_of_a_variant_is_reported_at_once() -> None:
    bad = variant(
        id="v9",
        title=3,
        price={"amount": -1, "currency": "usd"},
        availability={"available": "no"},
        barcodes=[{"type": "gtin", "value": "123"}],
        extra=True,
    )
    ((variant_id, result),) = map_acp_product(product(bad))
    assert variant_id == "v9"
    assert sorted(errors_of(result)) == sorted(
        [
            ("$.variants[0].extra", "unknown_field"),
            ("$.variants[0].title", "invalid_value"),
            ("$.variants[0].price.amount", "invalid_value"),
            ("$.variants[0].price.currency", "invalid_value"),
            ("$.variants[0].availability.available", "invalid_value"),
            ("$.variants[0].barcodes[0].value", "invalid_gtin"),
        ]
    )


def test_a_rejected_variant_without_a_usable_id() -> None:
    ((variant_id, result),) = map_acp_product(
        product({"title": "No id", "price": {"amount": 1, "currency": "USD"}})
    )
    assert variant_id is None
    assert errors_of(result) == [("$.variants[0].id", "missing_required_field")]


def test_integral_floats_are_integers_as_in_json_schema() -> None:
    source = product(variant(price={"amount": 1999.0, "currency": "USD"}))
    check_schema(source)
    record = record_of(source)
    assert record.price_amount == 1999
    assert isinstance(record.price_amount, int)
    assert to_acp_product([record]) == product(variant())


# --------------------------------------------------------------------------- prices


def test_list_price_above_price_is_a_sale() -> None:
    source = product(
        variant(price={"amount": 1999, "currency": "USD"}, list_price={"amount": 2499, "currency": "USD"})
    )
    record = assert_round_trip(source)[0]
    assert (record.price_amount, record.sale_price_amount, record.effective_price) == (2499, 1999, 1999)
    assert "acp_list_price_equal" not in record.attributes


def test_list_price_equal_to_price_is_no_sale_but_exports_back() -> None:
    source = product(variant(list_price={"amount": 1999, "currency": "USD"}))
    record = assert_round_trip(source)[0]
    assert (record.price_amount, record.sale_price_amount) == (1999, None)
    assert record.attributes == {"acp_list_price_equal": True}


def test_no_list_price_is_the_regular_price() -> None:
    record = assert_round_trip(product(variant()))[0]
    assert (record.price_amount, record.sale_price_amount, record.attributes) == (1999, None, {})


def test_list_price_below_price_is_rejected() -> None:
    ((_, result),) = map_acp_product(product(variant(list_price={"amount": 999, "currency": "USD"})))
    assert errors_of(result) == [("$.variants[0].list_price.amount", "invalid_value")]


def test_a_free_variant() -> None:
    record = assert_round_trip(product(variant(price={"amount": 0, "currency": "USD"})))[0]
    assert record.price_amount == 0


@pytest.mark.parametrize(
    ("currency", "price", "list_price"),
    [("JPY", 1500, 2000), ("KWD", 12345, 15000), ("BHD", 5, 7), ("EUR", 1, 2), ("CLF", 12345, 12346)],
)
def test_amounts_are_minor_units_of_any_exponent(currency: str, price: int, list_price: int) -> None:
    """JPY has no decimals (1500 = ¥1500), KWD three (12345 = 12.345 KWD): amounts pass through."""
    source = product(
        variant(
            price={"amount": price, "currency": currency},
            list_price={"amount": list_price, "currency": currency},
        )
    )
    record = assert_round_trip(source)[0]
    assert (record.currency, record.price_amount, record.sale_price_amount) == (currency, list_price, price)


def test_a_sale_price_not_below_the_price_is_not_exported_as_a_sale() -> None:
    record = VariantRecord(
        id="v1",
        product_id="p1",
        title="T",
        price_amount=1000,
        currency="USD",
        availability=Availability.IN_STOCK,
        sale_price_amount=1000,
    )
    exported = to_acp_product([record])
    assert exported["variants"][0]["price"] == {"amount": 1000, "currency": "USD"}
    assert "list_price" not in exported["variants"][0]
    check_schema(exported)


# --------------------------------------------------------------------------- availability


@pytest.mark.parametrize(
    ("raw", "availability", "attributes"),
    [
        ({"available": True, "status": "in_stock"}, Availability.IN_STOCK, {}),
        ({"available": True, "status": "limited_stock"}, Availability.LIMITED_STOCK, {}),
        ({"available": False, "status": "out_of_stock"}, Availability.OUT_OF_STOCK, {}),
        ({"available": True, "status": "backorder"}, Availability.BACKORDER, {}),
        ({"available": True, "status": "preorder"}, Availability.PRE_ORDER, {}),
        ({"available": False, "status": "discontinued"}, Availability.DISCONTINUED, {}),
        # status without available, available without status, nothing: kept verbatim
        ({"status": "in_stock"}, Availability.IN_STOCK, {"acp_availability": {"status": "in_stock"}}),
        ({"available": True}, Availability.IN_STOCK, {"acp_availability": {"available": True}}),
        ({"available": False}, Availability.OUT_OF_STOCK, {"acp_availability": {"available": False}}),
        ({}, Availability.UNKNOWN, {"acp_availability": {}}),
        # other casing of a known status
        (
            {"available": True, "status": "In_Stock"},
            Availability.IN_STOCK,
            {"acp_availability": {"available": True, "status": "In_Stock"}},
        ),
        # disagreement: the cautious side wins, the object is kept
        (
            {"available": False, "status": "in_stock"},
            Availability.OUT_OF_STOCK,
            {"acp_availability": {"available": False, "status": "in_stock"}},
        ),
        (
            {"available": True, "status": "out_of_stock"},
            Availability.OUT_OF_STOCK,
            {"acp_availability": {"available": True, "status": "out_of_stock"}},
        ),
        (
            {"available": True, "status": "discontinued"},
            Availability.DISCONTINUED,
            {"acp_availability": {"available": True, "status": "discontinued"}},
        ),
        # a status we do not know follows `available`
        (
            {"available": True, "status": "in_transit"},
            Availability.IN_STOCK,
            {"acp_availability_status": "in_transit"},
        ),
        (
            {"available": False, "status": "recalled"},
            Availability.OUT_OF_STOCK,
            {"acp_availability_status": "recalled"},
        ),
        (
            {"status": "in_transit"},
            Availability.UNKNOWN,
            {"acp_availability_status": "in_transit", "acp_availability": {"status": "in_transit"}},
        ),
    ],
)
def test_availability(raw: Json, availability: Availability, attributes: Json) -> None:
    record = assert_round_trip(product(variant(availability=raw)))[0]
    assert record.availability is availability
    assert record.attributes == attributes


def test_no_availability_is_unknown_and_exports_none() -> None:
    record = assert_round_trip(product(variant()))[0]
    assert record.availability is Availability.UNKNOWN
    assert "availability" not in to_acp_product([record])["variants"][0]


def test_preorder() -> None:
    source = product(variant(availability={"available": True, "status": "preorder"}))
    record = record_of(source)
    assert record.availability is Availability.PRE_ORDER
    assert record.availability.value == "pre_order"
    assert record.availability.purchasable
    assert to_acp_product([record])["variants"][0]["availability"] == {
        "available": True,
        "status": "preorder",
    }


def test_an_edited_availability_wins_over_the_kept_object() -> None:
    record = record_of(product(variant(availability={"status": "in_stock"})))
    edited = _replace(record, availability=Availability.BACKORDER)
    exported = to_acp_product([edited])
    assert exported["variants"][0]["availability"] == {"available": True, "status": "backorder"}
    check_schema(exported)


# --------------------------------------------------------------------------- barcodes


@pytest.mark.parametrize(
    ("barcodes", "gtin", "kept"),
    [
        ([{"type": "GTIN", "value": "00012345600029"}], "00012345600029", False),
        ([{"type": "gtin", "value": "00012345600029"}], "00012345600029", True),
        ([{"type": "UPC", "value": "036000291452"}], "036000291452", True),
        ([{"type": "EAN", "value": "4006381333931"}], "4006381333931", True),
        ([{"type": "GTIN", "value": "96385074"}], "96385074", False),
        # a UPC/EAN with a bad check digit is not a GTIN, but no error
        ([{"type": "UPC", "value": "036000291453"}], None, True),
        ([{"type": "ISBN", "value": "978-3-16-148410-0"}], None, True),
        # the first valid one wins; the list is kept
        (
            [
                {"type": "SKU", "value": "TEE-1"},
                {"type": "EAN", "value": "4006381333932"},
                {"type": "UPC", "value": "036000291452"},
                {"type": "GTIN", "value": "00012345600029"},
            ],
            "036000291452",
            True,
        ),
        ([], None, True),
    ],
)
def test_barcodes(barcodes: list[Json], gtin: str | None, kept: bool) -> None:
    record = assert_round_trip(product(variant(barcodes=barcodes)))[0]
    assert record.gtin == gtin
    assert ("acp_barcodes" in record.attributes) is kept
    if kept:
        assert record.attributes["acp_barcodes"] == barcodes


def test_a_gtin_with_a_bad_check_digit_is_an_error() -> None:
    bad = [{"type": "EAN", "value": "4006381333931"}, {"type": "Gtin", "value": "4006381333932"}]
    ((_, result),) = map_acp_product(product(variant(barcodes=bad)))
    assert errors_of(result) == [("$.variants[0].barcodes[1].value", "invalid_gtin")]
    assert isinstance(result, list)
    assert "check digit" in result[0].message


def test_an_edited_gtin_replaces_the_kept_barcodes() -> None:
    record = record_of(product(variant(barcodes=[{"type": "UPC", "value": "036000291452"}])))
    exported = to_acp_product([_replace(record, gtin="4006381333931")])
    assert exported["variants"][0]["barcodes"] == [{"type": "GTIN", "value": "4006381333931"}]
    exported = to_acp_product([_replace(record, gtin=None)])
    assert "barcodes" not in exported["variants"][0]


# --------------------------------------------------------------------------- other variant fields


@pytest.mark.parametrize(
    ("categories", "category", "attributes"),
    [
        ([{"value": "Apparel"}], "Apparel", {}),
        ([{"value": "Apparel", "taxonomy": "merchant"}], "Apparel", {"acp_category_taxonomy": "merchant"}),
        (
            [
                {"value": "166", "taxonomy": "google_product_category"},
                {"value": "Tees", "taxonomy": "shopify"},
            ],
            "166",
            {
                "acp_category_taxonomy": "google_product_category",
                "acp_categories": [
                    {"value": "166", "taxonomy": "google_product_category"},
                    {"value": "Tees", "taxonomy": "shopify"},
                ],
            },
        ),
        ([], None, {"acp_categories": []}),
    ],
)
def test_categories(categories: list[Json], category: str | None, attributes: Json) -> None:
    record = assert_round_trip(product(variant(categories=categories)))[0]
    assert record.category == category
    assert record.attributes == attributes


@pytest.mark.parametrize(
    ("conditions", "condition"),
    [(["new"], Condition.NEW), (["refurbished"], Condition.REFURBISHED), (["used"], Condition.USED)],
)
def test_a_single_known_condition(conditions: list[str], condition: Condition) -> None:
    record = assert_round_trip(product(variant(condition=conditions)))[0]
    assert (record.condition, record.attributes) == (condition, {})


@pytest.mark.parametrize("conditions", [["secondhand"], ["new", "used"], ["New"], []])
def test_other_conditions_are_kept(conditions: list[str]) -> None:
    record = assert_round_trip(product(variant(condition=conditions)))[0]
    assert record.condition is None
    assert record.attributes == {"acp_condition": conditions}


@pytest.mark.parametrize(
    ("links", "attributes"),
    [
        (
            [
                {"type": "privacy_policy", "url": "https://shop.example/privacy"},
                {"type": "terms_of_service", "url": "https://shop.example/tos"},
            ],
            {
                "seller_privacy_policy": "https://shop.example/privacy",
                "seller_tos": "https://shop.example/tos",
            },
        ),
        (
            [{"type": "terms_of_service", "url": "https://shop.example/tos"}],
            {"seller_tos": "https://shop.example/tos"},
        ),
        (
            [
                {"type": "terms_of_service", "url": "https://shop.example/tos"},
                {"type": "privacy_policy", "url": "https://shop.example/privacy"},
            ],
            {
                "seller_privacy_policy": "https://shop.example/privacy",
                "seller_tos": "https://shop.example/tos",
                "acp_seller_links": [
                    {"type": "terms_of_service", "url": "https://shop.example/tos"},
                    {"type": "privacy_policy", "url": "https://shop.example/privacy"},
                ],
            },
        ),
        (
            [{"type": "privacy_policy", "title": "Privacy", "url": "https://shop.example/privacy"}],
            {
                "seller_privacy_policy": "https://shop.example/privacy",
                "acp_seller_links": [
                    {"type": "privacy_policy", "title": "Privacy", "url": "https://shop.example/privacy"}
                ],
            },
        ),
        (
            [
                {"type": "refund_policy", "url": "https://shop.example/refunds"},
                {"type": "faq", "title": "FAQ", "url": "https://shop.example/faq"},
            ],
            {
                "acp_seller_links": [
                    {"type": "refund_policy", "url": "https://shop.example/refunds"},
                    {"type": "faq", "title": "FAQ", "url": "https://shop.example/faq"},
                ]
            },
        ),
        ([], {"acp_seller_links": []}),
    ],
)
def test_seller_links(links: list[Json], attributes: Json) -> None:
    record = assert_round_trip(product(variant(seller={"name": "Shop", "links": links})))[0]
    assert record.seller_name == "Shop"
    assert record.attributes == attributes


def test_a_seller_without_a_name() -> None:
    source = product(variant(seller={"links": [{"type": "privacy_policy", "url": "https://shop.example/p"}]}))
    record = assert_round_trip(source)[0]
    assert record.seller_name is None


def test_marketplace_is_kept_verbatim() -> None:
    marketplace = {"name": "Market", "links": [{"type": "faq", "url": "https://market.example/faq"}]}
    record = assert_round_trip(product(variant(marketplace=marketplace)))[0]
    assert record.attributes == {"acp_marketplace": marketplace}
    assert record.seller_name is None


def test_descriptions_in_every_format() -> None:
    source = product(
        variant(description={"plain": "Soft.", "html": "<p>Soft.</p>", "markdown": "*Soft.*"}),
        description={"html": "<p>A tee.</p>", "markdown": "A **tee**."},
    )
    record = assert_round_trip(source)[0]
    assert record.description == "Soft."
    assert record.attributes == {"description_html": "<p>Soft.</p>", "description_markdown": "*Soft.*"}
    assert record.product.description is None
    assert record.product.attributes == {
        "description_html": "<p>A tee.</p>",
        "description_markdown": "A **tee**.",
    }


def test_media_keeps_every_property() -> None:
    media = [
        {
            "type": "image",
            "url": "https://cdn.example.com/a.jpg",
            "alt_text": "Front",
            "width": 640,
            "height": 480,
        },
        {"type": "video", "url": "https://cdn.example.com/a.mp4"},
        {"type": "model", "url": "https://cdn.example.com/a.glb", "width": 0},
    ]
    record = assert_round_trip(product(variant(media=media), media=media[1:]))[0]
    assert record.media == (
        Media("https://cdn.example.com/a.jpg", "image", "Front", 640, 480),
        Media("https://cdn.example.com/a.mp4", "video"),
        Media("https://cdn.example.com/a.glb", "model", width=0),
    )
    assert record.product.media == record.media[1:]


def test_unit_price_is_kept_verbatim() -> None:
    unit_price = {
        "amount": 250,
        "currency": "EUR",
        "measure": {"value": 0.75, "unit": "l"},
        "reference": {"value": 1, "unit": "l"},
    }
    source = product(variant(price={"amount": 187, "currency": "EUR"}, unit_price=unit_price))
    assert assert_round_trip(source)[0].attributes == {"acp_unit_price": unit_price}


def test_product_fields_are_on_every_variant() -> None:
    records = records_of(BASE)
    assert [r.product_id for r in records] == ["p1", "p1"]
    assert records[0].product is records[1].product
    assert records[0].product == ProductInfo(
        title="Tee",
        description="A tee.",
        url="https://shop.example/tee",
        media=(Media("https://cdn.example.com/tee.jpg"),),
    )


def test_flags_and_target_country() -> None:
    (record, other) = records_of(BASE, target_country="FR")
    assert record.target_countries == ("FR",) == other.target_countries
    assert record.is_eligible_search is True
    assert record.is_eligible_checkout is True
    assert records_of(BASE)[0].target_countries == ()
    assert_round_trip(BASE, target_country="FR")
    with pytest.raises(ValueError, match="alpha-2"):
        map_acp_product(BASE, target_country="fr")


# --------------------------------------------------------------------------- round trips


HAND_WRITTEN: list[Json] = [
    product(variant()),
    product(variant(id="a"), variant(id="b"), variant(id="c")),
    product(variant(title="")),
    product(
        variant(
            id="jp-1",
            title="Matcha 100g",
            price={"amount": 1800, "currency": "JPY"},
            list_price={"amount": 2400, "currency": "JPY"},
            availability={"available": True, "status": "limited_stock"},
            unit_price={
                "amount": 18,
                "currency": "JPY",
                "measure": {"value": 100, "unit": "g"},
                "reference": {"value": 1, "unit": "g"},
            },
            categories=[{"value": "Food > Tea", "taxonomy": "google_product_category"}],
        ),
        title="Matcha",
    ),
    product(
        variant(
            id="kw-1",
            title="Dates 1kg",
            price={"amount": 3250, "currency": "KWD"},
            availability={"available": True, "status": "preorder"},
            condition=["new"],
        )
    ),
    product(
        variant(
            id="used-phone",
            title="Phone (used)",
            price={"amount": 19900, "currency": "EUR"},
            list_price={"amount": 19900, "currency": "EUR"},
            condition=["used"],
            barcodes=[{"type": "EAN", "value": "4006381333931"}, {"type": "SKU", "value": "PH-1"}],
            seller={
                "name": "Refurb GmbH",
                "links": [
                    {"type": "privacy_policy", "url": "https://refurb.example/datenschutz"},
                    {"type": "terms_of_service", "url": "https://refurb.example/agb"},
                ],
            },
            marketplace={
                "name": "Market",
                "links": [{"type": "faq", "title": "Help", "url": "https://m.example"}],
            },
        ),
        description={"markdown": "# Phone"},
    ),
    product(
        variant(id="gone", availability={"available": False, "status": "discontinued"}),
        variant(id="later", availability={"available": True, "status": "backorder"}),
        variant(id="odd", availability={"available": False, "status": "quarantined"}),
        variant(id="none", availability={}),
    ),
    product(
        variant(
            id="opts",
            variant_options=[
                {"name": "Color", "value": "Blue"},
                {"name": "Size", "value": "XL"},
                {"name": "Size", "value": "Tall"},
            ],
            media=[{"type": "image", "url": "https://cdn.example.com/o.png", "alt_text": ""}],
            description={"plain": ""},
            url="https://shop.example/o?x=1&y=%20",
        ),
        id="p with spaces ü",
        title="Ünïcødé ☕",
        url="http://shop.example/",
    ),
    product(
        variant(
            id="multi-cat",
            categories=[{"value": "A"}, {"value": "B", "taxonomy": "shopify"}],
            condition=["refurbished", "open box"],
            seller={"name": ""},
        )
    ),
    product(
        *[variant(id=f"size-{n}", variant_options=[{"name": "Size", "value": str(n)}]) for n in range(30)],
        title="Many sizes",
    ),
]


@pytest.mark.parametrize("source", HAND_WRITTEN, ids=lambda p: str(p["variants"][0]["id"]))
def test_hand_written_products_round_trip(source: Json) -> None:
    check_schema(source)
    assert_round_trip(source)
    assert_round_trip(source, target_country="US")


@pytest.mark.parametrize(
    ("source", "normalised"),
    [
        (product(variant(media=[], variant_options=[])), product(variant())),
        (product(variant(), media=[]), product(variant())),
        (product(variant(seller={})), product(variant())),
        (
            product(variant(media=[{"type": "image", "url": "https://c.example/a.jpg", "width": 640.0}])),
            product(variant(media=[{"type": "image", "url": "https://c.example/a.jpg", "width": 640}])),
        ),
    ],
)
def test_normalisations(source: Json, normalised: Json) -> None:
    """Empty arrays/seller have no place in a record: export omits them; the records are equal."""
    records = records_of(source)
    assert to_acp_product(records) == normalised
    assert records_of(normalised) == records


# --------------------------------------------------------------------------- export of other formats


def _replace(record: VariantRecord, **changes: Any) -> VariantRecord:
    from dataclasses import replace

    return replace(record, **changes)


def _openai_record(**changes: Any) -> VariantRecord:
    record = VariantRecord(
        id="SKU-1",
        product_id="GROUP-1",
        title="Trail Shoe - Blue / 42",
        price_amount=12900,
        currency="EUR",
        availability=Availability.UNKNOWN,
        description="Light trail shoe.",
        url="https://shop.example/shoe?sku=SKU-1",
        media=(Media("https://cdn.example.com/shoe.jpg"), Media("https://cdn.example.com/shoe-2.jpg")),
        brand="Trailco",
        gtin="4006381333931",
        mpn="TC-42",
        condition=Condition.NEW,
        category="Apparel & Accessories > Shoes",
        variant_options=(("color", "Blue"), ("size", "42")),
        sale_price_amount=9900,
        inventory_quantity=12,
        weight=Decimal("0.8"),
        weight_unit="kg",
        seller_name="Trailco Store",
        seller_url="https://shop.example",
        is_eligible_checkout=True,
        target_countries=("DE", "AT"),
        store_country="DE",
        attributes={
            "color": "Blue",
            "size": "42",
            "material": "mesh",
            "gender": "unisex",
            "shipping_price": "5.00 EUR",
            "return_policy": "https://shop.example/returns",
            "seller_privacy_policy": "https://shop.example/privacy",
            "seller_tos": "https://shop.example/tos",
            "star_rating": 4.5,
            "google_product_type": "Shoes",
        },
        product=ProductInfo(title="Trail Shoe"),
    )
    return _replace(record, **changes)


def test_a_record_from_an_openai_feed_exports_a_valid_product() -> None:
    record = _openai_record()
    exported = to_acp_product([record, _replace(record, id="SKU-2", gtin=None, variant_options=())])
    check_schema(exported)
    assert exported == {
        "id": "GROUP-1",
        "title": "Trail Shoe",
        "variants": [
            {
                "id": "SKU-1",
                "title": "Trail Shoe - Blue / 42",
                "description": {"plain": "Light trail shoe."},
                "url": "https://shop.example/shoe?sku=SKU-1",
                "barcodes": [{"type": "GTIN", "value": "4006381333931"}],
                "price": {"amount": 9900, "currency": "EUR"},
                "list_price": {"amount": 12900, "currency": "EUR"},
                "categories": [{"value": "Apparel & Accessories > Shoes"}],
                "condition": ["new"],
                "variant_options": [{"name": "color", "value": "Blue"}, {"name": "size", "value": "42"}],
                "media": [
                    {"type": "image", "url": "https://cdn.example.com/shoe.jpg"},
                    {"type": "image", "url": "https://cdn.example.com/shoe-2.jpg"},
                ],
                "seller": {
                    "name": "Trailco Store",
                    "links": [
                        {"type": "privacy_policy", "url": "https://shop.example/privacy"},
                        {"type": "terms_of_service", "url": "https://shop.example/tos"},
                    ],
                },
            },
            {
                "id": "SKU-2",
                "title": "Trail Shoe - Blue / 42",
                "description": {"plain": "Light trail shoe."},
                "url": "https://shop.example/shoe?sku=SKU-1",
                "price": {"amount": 9900, "currency": "EUR"},
                "list_price": {"amount": 12900, "currency": "EUR"},
                "categories": [{"value": "Apparel & Accessories > Shoes"}],
                "condition": ["new"],
                "media": [
                    {"type": "image", "url": "https://cdn.example.com/shoe.jpg"},
                    {"type": "image", "url": "https://cdn.example.com/shoe-2.jpg"},
                ],
                "seller": {
                    "name": "Trailco Store",
                    "links": [
                        {"type": "privacy_policy", "url": "https://shop.example/privacy"},
                        {"type": "terms_of_service", "url": "https://shop.example/tos"},
                    ],
                },
            },
        ],
    }
    # What ACP can carry comes back.
    back = records_of(exported)[0]
    assert (back.price_amount, back.sale_price_amount, back.gtin, back.condition) == (
        12900,
        9900,
        "4006381333931",
        Condition.NEW,
    )
    assert back.attributes == {
        "seller_privacy_policy": "https://shop.example/privacy",
        "seller_tos": "https://shop.example/tos",
    }


@pytest.mark.parametrize("availability", list(Availability))
def test_every_availability_exports_a_valid_product(availability: Availability) -> None:
    exported = to_acp_product([_openai_record(availability=availability)])
    check_schema(exported)
    back = records_of(exported)[0]
    assert back.availability is availability


def test_a_bare_record_exports_a_minimal_product() -> None:
    record = VariantRecord(
        id="x",
        product_id="x",
        title="X",
        price_amount=100,
        currency="GBP",
        availability=Availability.IN_STOCK,
    )
    exported = to_acp_product([record])
    assert exported == {
        "id": "x",
        "variants": [
            {
                "id": "x",
                "title": "X",
                "price": {"amount": 100, "currency": "GBP"},
                "availability": {"available": True, "status": "in_stock"},
            }
        ],
    }
    check_schema(exported)


def test_malformed_acp_attributes_are_ignored_on_export() -> None:
    record = _openai_record(
        condition=None,
        category=None,
        attributes={
            "acp_barcodes": "4006381333931",
            "acp_unit_price": {"amount": 1},
            "acp_availability": {"available": "yes"},
            "acp_availability_status": 3,
            "acp_categories": [{"name": "x"}],
            "acp_category_taxonomy": ["x"],
            "acp_condition": [1],
            "acp_seller_links": [{"type": "faq"}],
            "acp_marketplace": {"name": 1},
            "seller_privacy_policy": 5,
            "description_html": None,
        },
        product=ProductInfo(title="T", attributes={"description_markdown": 1}),
    )
    exported = to_acp_product([record])
    check_schema(exported)
    (exported_variant,) = exported["variants"]
    assert set(exported_variant) == {
        "id",
        "title",
        "description",
        "url",
        "barcodes",
        "price",
        "list_price",
        "variant_options",
        "media",
        "seller",
    }
    assert exported_variant["seller"] == {"name": "Trailco Store"}


def test_export_needs_the_records_of_one_product() -> None:
    with pytest.raises(ValueError, match="at least one"):
        to_acp_product([])
    with pytest.raises(ValueError, match="several products"):
        to_acp_product([_openai_record(), _openai_record(product_id="OTHER")])


def test_export_does_not_share_objects_with_the_records() -> None:
    record = record_of(
        product(variant(unit_price=schema_example("UnitPrice"), categories=[{"value": "A"}, {"value": "B"}]))
    )
    exported = to_acp_product([record])
    exported["variants"][0]["unit_price"]["measure"]["value"] = 99
    exported["variants"][0]["categories"].append({"value": "C"})
    assert record.attributes["acp_unit_price"]["measure"]["value"] == 12
    assert len(record.attributes["acp_categories"]) == 2


# --------------------------------------------------------------------------- metadata


def test_metadata_example_round_trips() -> None:
    example = examples()["create_feed_response"]
    metadata, errors = map_acp_metadata(example)
    assert errors == []
    assert metadata == AcpFeedMetadata("feed_8f3K2x", "US", datetime(2026, 3, 1, tzinfo=UTC))
    exported = to_acp_metadata(metadata.id, metadata.target_country, metadata.updated_at)
    assert exported == example
    assert_schema_valid(exported, "FeedMetadata")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ({"id": "f"}, AcpFeedMetadata("f")),
        (
            {"id": "f", "updated_at": "2026-03-01T09:30:00.250+05:30"},
            AcpFeedMetadata(
                "f",
                None,
                datetime(2026, 3, 1, 9, 30, 0, 250000, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            ),
        ),
        (
            {"id": "f", "target_country": "JP", "updated_at": "2026-03-01t00:00:00z"},
            AcpFeedMetadata("f", "JP", datetime(2026, 3, 1, tzinfo=UTC)),
        ),
    ],
)
def test_metadata(source: Json, expected: AcpFeedMetadata) -> None:
    check_schema(source, "FeedMetadata")
    assert map_acp_metadata(source) == (expected, [])


def test_metadata_export_keeps_the_offset() -> None:
    stamp = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=-4)))
    assert to_acp_metadata("f", None, stamp) == {"id": "f", "updated_at": "2026-03-01T09:30:00-04:00"}
    assert to_acp_metadata("f", "US", None) == {"id": "f", "target_country": "US"}
    with pytest.raises(ValueError, match="timezone-aware"):
        to_acp_metadata("f", None, datetime(2026, 3, 1))


@pytest.mark.parametrize(
    ("source", "field", "code"),
    [
        ("feed", "$", "invalid_value"),
        ({}, "$.id", "missing_required_field"),
        ({"id": 5}, "$.id", "invalid_value"),
        ({"id": "f", "name": "x"}, "$.name", "unknown_field"),
        ({"id": "f", "target_country": "us"}, "$.target_country", "invalid_value"),
        ({"id": "f", "target_country": "USA"}, "$.target_country", "invalid_value"),
        ({"id": "f", "updated_at": "2026-03-01"}, "$.updated_at", "invalid_value"),
        ({"id": "f", "updated_at": "2026-03-01T00:00:00"}, "$.updated_at", "invalid_value"),
        ({"id": "f", "updated_at": "2026-02-30T00:00:00Z"}, "$.updated_at", "invalid_value"),
        ({"id": "f", "updated_at": 1767225600}, "$.updated_at", "invalid_value"),
    ],
)
def test_metadata_errors(source: Any, field: str, code: str) -> None:
    metadata, errors = map_acp_metadata(source)
    assert metadata is None
    assert [(error.field, error.code) for error in errors] == [(field, code)]
    assert all(isinstance(error, FieldError) for error in errors)
