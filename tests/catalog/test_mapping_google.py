"""Google Merchant Center feed rows (TSV/CSV cells, XML items) -> VariantRecord, pure (no database)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from merchant.catalog.mapping.google import map_google_row
from merchant.catalog.records import (
    Availability,
    Condition,
    FieldError,
    MapResult,
    Media,
    VariantRecord,
)
from merchant.catalog.sources import RowProblem, delimited_rows, open_feed, xml_rows

FEEDS = Path(__file__).parent / "feeds"
DELETE = object()

# A minimal valid row, as a delimited reader delivers it (every cell a string).
BASE: dict[str, Any] = {
    "id": "g-1",
    "title": "Trail Shoe",
    "description": "Trail running shoe.",
    "link": "https://shop.example/shoe?s=40",
    "image_link": "https://cdn.example/shoe.jpg",
    "availability": "in stock",
    "price": "89.00 EUR",
}
REQUIRED = ("id", "title", "description", "link", "image_link", "availability", "price")


def row(**changes: Any) -> dict[str, Any]:
    """``BASE`` with ``changes``; ``DELETE`` removes a key."""
    values = {**BASE, **changes}
    return {k: v for k, v in values.items() if v is not DELETE}


def record_of(values: dict[str, Any]) -> VariantRecord:
    result = map_google_row(values)
    assert isinstance(result, VariantRecord), result
    return result


def errors_of(result: MapResult) -> list[tuple[str, str]]:
    assert isinstance(result, list), result
    return [(error.field, error.code) for error in result]


class TestHappyRows:
    def test_tsv_style_row(self) -> None:
        values = {
            "id": "g-shoe-40",
            "title": "Trail Shoe 40",
            "description": "Trail running shoe, EU 40.",
            "link": "https://shop.example/shoe?s=40",
            "image_link": "https://cdn.example/shoe.jpg",
            "additional_image_link": "https://cdn.example/shoe-2.jpg,https://cdn.example/shoe-3.jpg",
            "availability": "in stock",
            "price": "89.00 EUR",
            "sale_price": "79.00 EUR",
            "brand": "Stride",
            "gtin": "4006-3813-33931",
            "mpn": "TS-40",
            "condition": "new",
            "product_type": "Shoes > Trail",
            "google_product_category": "",
            "item_group_id": "g-shoe",
            "color": "Blue",
            "size": "40",
            "shipping_weight": "0.9 kg",
            "shipping": "DE::Standard:4.95 EUR",
            "custom_label_0": "summer",  # unknown to the mapper: ignored
        }
        assert map_google_row(values) == VariantRecord(
            id="g-shoe-40",
            product_id="g-shoe",
            title="Trail Shoe 40",
            price_amount=8900,
            currency="EUR",
            availability=Availability.IN_STOCK,
            description="Trail running shoe, EU 40.",
            url="https://shop.example/shoe?s=40",
            media=(
                Media("https://cdn.example/shoe.jpg"),
                Media("https://cdn.example/shoe-2.jpg"),
                Media("https://cdn.example/shoe-3.jpg"),
            ),
            brand="Stride",
            gtin="4006381333931",
            mpn="TS-40",
            condition=Condition.NEW,
            category="Shoes > Trail",
            variant_options=(("color", "Blue"), ("size", "40")),
            sale_price_amount=7900,
            weight=Decimal("0.9"),
            weight_unit="kg",
            seller_name=None,
            seller_url="https://shop.example",
            is_eligible_search=True,
            is_eligible_checkout=True,
            attributes={"color": "Blue", "size": "40", "google_shipping": "DE::Standard:4.95 EUR"},
        )

    def test_xml_style_item_with_lists_and_dicts(self) -> None:
        values = {
            **BASE,
            "availability": "in_stock",
            "additional_image_link": ["https://cdn.example/2.jpg", "https://cdn.example/3.jpg"],
            "product_type": ["", "Home > Lighting", "Home > Desk"],
            "shipping": [
                {"country": "US", "price": "5.00 USD"},
                {"country": "CA", "service": "Express", "price": "9.00 USD"},
            ],
            "size_type": ["petite", "plus"],
            "price": "45.00 USD",
        }
        record = record_of(values)
        assert [m.url for m in record.media] == [
            "https://cdn.example/shoe.jpg",
            "https://cdn.example/2.jpg",
            "https://cdn.example/3.jpg",
        ]
        assert record.category == "Home > Lighting"
        assert record.attributes == {
            "google_shipping": values["shipping"],
            "google_size_type": "petite,plus",
        }
        assert (record.price_amount, record.currency) == (4500, "USD")
        assert record.variant_options == ()  # no item_group_id: not a variant

    def test_fixture_files_through_the_source_readers(self) -> None:
        stream, raw = open_feed(FEEDS / "google.xml")
        with raw, stream:
            items = [(line, source) for line, source in xml_rows(stream)]
        [(line_ok, lamp_row), (line_bad, bad_row)] = items
        assert not isinstance(lamp_row, RowProblem)
        assert not isinstance(bad_row, RowProblem)
        lamp = record_of(dict(lamp_row))
        assert (line_ok, lamp.id, lamp.description, len(lamp.media)) == (
            6,
            "x-lamp",
            "LED desk lamp & USB port.",
            3,
        )
        assert lamp.attributes["google_shipping"] == {"country": "US", "price": "5.00 USD"}
        assert (lamp.weight, lamp.weight_unit) == (Decimal("1.2"), "kg")
        assert (line_bad, errors_of(map_google_row(bad_row))) == (25, [("price", "invalid_price")])

        stream, raw = open_feed(FEEDS / "google.tsv")
        with raw, stream:
            rows = [source for _, source in delimited_rows(stream, delimiter="\t", required=())]
        shoes = [record_of(dict(source)) for source in rows[:2] if not isinstance(source, RowProblem)]
        assert [(s.id, s.availability, s.gtin) for s in shoes] == [
            ("g-shoe-40", Availability.IN_STOCK, "4006381333931"),
            ("g-shoe-41", Availability.PRE_ORDER, None),
        ]


class TestRequired:
    @pytest.mark.parametrize("name", REQUIRED)
    @pytest.mark.parametrize("absent", [DELETE, "", "   ", None])
    def test_each_required_attribute(self, name: str, absent: Any) -> None:
        assert errors_of(map_google_row(row(**{name: absent}))) == [(name, "missing_required_field")]

    def test_every_missing_attribute_is_reported(self) -> None:
        assert errors_of(map_google_row({})) == [(name, "missing_required_field") for name in REQUIRED]

    def test_brand_and_identifiers_are_optional(self) -> None:
        record = record_of(row())
        assert (record.brand, record.gtin, record.mpn, record.condition) == (None, None, None, None)

    @pytest.mark.parametrize(("name", "limit"), [("id", 100), ("title", 150), ("description", 5000)])
    def test_length_limits(self, name: str, limit: int) -> None:
        assert record_of(row(**{name: "x" * limit}))
        assert errors_of(map_google_row(row(**{name: "x" * (limit + 1)}))) == [(name, "too_long")]

    @pytest.mark.parametrize("name", ["link", "image_link"])
    @pytest.mark.parametrize("bad", ["shop.example/x", "ftp://shop.example/x", "https://u:p@shop.example/x"])
    def test_bad_required_urls(self, name: str, bad: str) -> None:
        assert errors_of(map_google_row(row(**{name: bad}))) == [(name, "invalid_value")]

    def test_non_text_value_is_an_error_not_an_exception(self) -> None:
        result = map_google_row(row(title=["a", "b"], description={"x": "y"}))
        assert errors_of(result) == [("title", "invalid_value"), ("description", "invalid_value")]


class TestAvailability:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("in stock", Availability.IN_STOCK),
            ("in_stock", Availability.IN_STOCK),
            ("In Stock", Availability.IN_STOCK),
            (" out of stock ", Availability.OUT_OF_STOCK),
            ("out_of_stock", Availability.OUT_OF_STOCK),
            ("preorder", Availability.PRE_ORDER),
            ("pre_order", Availability.PRE_ORDER),
            ("backorder", Availability.BACKORDER),
            ("BACKORDER", Availability.BACKORDER),
        ],
    )
    def test_google_spellings(self, value: str, expected: Availability) -> None:
        assert record_of(row(availability=value)).availability is expected

    @pytest.mark.parametrize("value", ["unknown", "Unknown", " UNKNOWN "])
    def test_unknown_is_rejected(self, value: str) -> None:
        [error] = map_google_row(row(availability=value))  # type: ignore[misc]
        assert (error.field, error.code) == ("availability", "invalid_value")
        assert "'unknown' is not accepted" in error.message

    @pytest.mark.parametrize("value", ["sold out", "limited availability", "available for order", "n/a"])
    def test_other_values_are_rejected(self, value: str) -> None:
        assert errors_of(map_google_row(row(availability=value))) == [("availability", "invalid_value")]


class TestPrice:
    @pytest.mark.parametrize(
        ("value", "amount", "currency"),
        [
            ("89.00 EUR", 8900, "EUR"),
            ("EUR 89.00", 8900, "EUR"),
            ("89 EUR", 8900, "EUR"),
            ("89.5 EUR", 8950, "EUR"),
            ("89.00 eur", 8900, "EUR"),
            ("1500 JPY", 1500, "JPY"),
            ("JPY 1500", 1500, "JPY"),
            ("1.234 KWD", 1234, "KWD"),
            ("12.5 KWD", 12500, "KWD"),
        ],
    )
    def test_exact_minor_units(self, value: str, amount: int, currency: str) -> None:
        record = record_of(row(price=value))
        assert (record.price_amount, record.currency) == (amount, currency)

    @pytest.mark.parametrize(
        "value",
        [
            "45.001 USD",  # more decimals than USD allows: never rounded
            "1500.5 JPY",  # JPY has no minor unit
            "1.2345 KWD",
            "0.00 USD",
            "0 JPY",
            "89,00 EUR",
            "1,000.00 USD",
            "89.00",
            "89.00 XYZ",
            "-5.00 USD",
            "USD",
            "EUR89.00",
        ],
    )
    def test_invalid_prices(self, value: str) -> None:
        assert errors_of(map_google_row(row(price=value))) == [("price", "invalid_price")]

    def test_sale_price(self) -> None:
        record = record_of(row(price="89.00 EUR", sale_price="EUR 79.50"))
        assert (record.price_amount, record.sale_price_amount, record.effective_price) == (8900, 7950, 7950)

    def test_sale_price_in_another_currency_rejects_the_row(self) -> None:
        [error] = map_google_row(row(sale_price="79.00 USD"))  # type: ignore[misc]
        assert (error.field, error.code) == ("sale_price", "invalid_price")
        assert "EUR" in error.message

    @pytest.mark.parametrize("value", ["89.00 EUR", "90.00 EUR", "0 EUR", "79.001 EUR"])
    def test_sale_price_not_strictly_between_zero_and_price(self, value: str) -> None:
        assert errors_of(map_google_row(row(sale_price=value))) == [("sale_price", "invalid_price")]

    def test_zero_decimal_and_three_decimal_sale_prices(self) -> None:
        yen = record_of(row(price="1500 JPY", sale_price="1200 JPY"))
        assert (yen.price_amount, yen.sale_price_amount) == (1500, 1200)
        dinar = record_of(row(price="10.250 KWD", sale_price="9.999 KWD"))
        assert (dinar.price_amount, dinar.sale_price_amount) == (10250, 9999)

    @given(
        amount=st.integers(min_value=1, max_value=10**12),
        currency=st.sampled_from([("USD", 2), ("EUR", 2), ("JPY", 0), ("KWD", 3), ("BHD", 3), ("KRW", 0)]),
        code_first=st.booleans(),
    )
    def test_any_exact_price_round_trips(
        self, amount: int, currency: tuple[str, int], code_first: bool
    ) -> None:
        code, digits = currency
        whole, fraction = divmod(amount, 10**digits)
        major = f"{whole}.{fraction:0{digits}d}" if digits else str(whole)
        value = f"{code} {major}" if code_first else f"{major} {code}"
        record = record_of(row(price=value))
        assert (record.price_amount, record.currency) == (amount, code)

    @given(amount=st.integers(min_value=1, max_value=10**9), extra=st.integers(min_value=1, max_value=9))
    def test_one_decimal_too_many_is_never_rounded(self, amount: int, extra: int) -> None:
        whole, fraction = divmod(amount, 100)
        value = f"{whole}.{fraction:02d}{extra} USD"
        assert errors_of(map_google_row(row(price=value))) == [("price", "invalid_price")]


class TestIdentifiers:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("4006381333931", "4006381333931"),
            ("4006-3813-33931", "4006381333931"),
            (" 4006 3813 33931 ", "4006381333931"),
            ("96385074", "96385074"),  # GTIN-8
            ("036000291452", "036000291452"),  # UPC-A, leading zero kept
            ("00012345600012", "00012345600012"),  # GTIN-14
        ],
    )
    def test_gtin_is_normalised(self, value: str, expected: str) -> None:
        assert record_of(row(gtin=value)).gtin == expected

    @pytest.mark.parametrize("value", ["4006381333932", "4006-3813-33932", "400638133393", "ABC", "12345"])
    def test_bad_gtin(self, value: str) -> None:
        assert errors_of(map_google_row(row(gtin=value))) == [("gtin", "invalid_gtin")]

    def test_mpn_brand_condition(self) -> None:
        record = record_of(row(mpn="TS-40", brand="Stride", condition="Refurbished"))
        assert (record.mpn, record.brand, record.condition) == ("TS-40", "Stride", Condition.REFURBISHED)
        assert record_of(row(condition="used")).condition is Condition.USED

    @pytest.mark.parametrize(
        ("name", "value"), [("condition", "broken"), ("brand", "N/A"), ("mpn", "x" * 71)]
    )
    def test_bad_optional_values_reject_the_row(self, name: str, value: str) -> None:
        [(field, _code)] = errors_of(map_google_row(row(**{name: value})))
        assert field == name


class TestCategory:
    def test_product_type_wins_and_the_google_category_is_kept(self) -> None:
        record = record_of(row(product_type="Shoes > Trail", google_product_category="187"))
        assert record.category == "Shoes > Trail"
        assert record.attributes == {"google_product_category": "187"}

    def test_google_category_alone(self) -> None:
        record = record_of(row(product_type="", google_product_category="Apparel > Shoes"))
        assert (record.category, record.attributes) == ("Apparel > Shoes", {})

    def test_first_non_empty_repeated_product_type(self) -> None:
        assert record_of(row(product_type=["  ", "A > B", "C"])).category == "A > B"
        assert record_of(row(product_type=[""])).category is None


class TestVariants:
    def test_item_group_id_is_the_product_and_options_come_in_a_fixed_order(self) -> None:
        values = row(
            item_group_id="g-shoe",
            size_type="regular",
            age_group="Adult",
            gender="Unisex",
            pattern="Striped",
            material="Mesh",
            size="40",
            color="Blue",
        )
        record = record_of(values)
        assert record.product_id == "g-shoe"
        assert record.variant_options == (
            ("color", "Blue"),
            ("size", "40"),
            ("material", "Mesh"),
            ("pattern", "Striped"),
            ("gender", "unisex"),
            ("age_group", "adult"),
            ("size_type", "regular"),
        )
        assert record.attributes == {
            "color": "Blue",
            "size": "40",
            "material": "Mesh",
            "google_pattern": "Striped",
            "gender": "unisex",
            "age_group": "adult",
            "google_size_type": "regular",
        }

    def test_only_present_options(self) -> None:
        record = record_of(row(item_group_id="g-shoe", size="41", color="", material=None))
        assert record.variant_options == (("size", "41"),)

    def test_without_group_the_item_is_its_own_product(self) -> None:
        record = record_of(row(color="Blue", size="40"))
        assert (record.product_id, record.variant_options) == ("g-1", ())
        assert record.attributes == {"color": "Blue", "size": "40"}

    @pytest.mark.parametrize(
        ("name", "value"), [("gender", "boys"), ("age_group", "teen"), ("size", "x" * 101)]
    )
    def test_bad_option_values(self, name: str, value: str) -> None:
        [(field, _code)] = errors_of(map_google_row(row(item_group_id="g", **{name: value})))
        assert field == name


class TestMeasurements:
    @pytest.mark.parametrize(
        ("value", "weight", "unit"),
        [
            ("0.9 kg", Decimal("0.9"), "kg"),
            ("500 g", Decimal("500"), "g"),
            ("2 lbs", Decimal("2"), "lb"),
            ("3.5 LB", Decimal("3.5"), "lb"),
            ("12oz", Decimal("12"), "oz"),
        ],
    )
    def test_shipping_weight(self, value: str, weight: Decimal, unit: str) -> None:
        record = record_of(row(shipping_weight=value))
        assert (record.weight, record.weight_unit) == (weight, unit)

    @pytest.mark.parametrize("value", ["0.9", "kg", "0 kg", "-1 kg", "0.9 stone", "1,5 kg", "n/a"])
    def test_bad_weight(self, value: str) -> None:
        assert errors_of(map_google_row(row(shipping_weight=value))) == [("shipping_weight", "invalid_value")]

    def test_product_weight_wins_over_shipping_weight(self) -> None:
        record = record_of(row(product_weight="0.8 kg", shipping_weight="1.1 kg"))
        assert (record.weight, record.weight_unit) == (Decimal("0.8"), "kg")

    def test_shipping_dimensions(self) -> None:
        record = record_of(row(shipping_length="30 cm", shipping_width="20 cm", shipping_height="12.5 cm"))
        assert (record.length, record.width, record.height, record.dimension_unit) == (
            Decimal("30"),
            Decimal("20"),
            Decimal("12.5"),
            "cm",
        )

    def test_some_dimensions(self) -> None:
        record = record_of(row(shipping_length="10 in", shipping_width=""))
        assert (record.length, record.width, record.height, record.dimension_unit) == (
            Decimal("10"),
            None,
            None,
            "in",
        )

    def test_units_must_agree(self) -> None:
        result = map_google_row(row(shipping_length="30 cm", shipping_width="8 in"))
        assert errors_of(result) == [("shipping_width", "invalid_value")]

    def test_product_dimensions_win(self) -> None:
        record = record_of(row(product_length="28 cm", shipping_length="31 cm", shipping_width="22 cm"))
        assert (record.length, record.width, record.dimension_unit) == (Decimal("28"), None, "cm")

    @pytest.mark.parametrize("value", ["30", "30 kg", "0 cm"])
    def test_bad_dimension(self, value: str) -> None:
        assert errors_of(map_google_row(row(shipping_height=value))) == [("shipping_height", "invalid_value")]


class TestMedia:
    def test_invalid_additional_images_are_dropped(self) -> None:
        links = "https://cdn.example/2.jpg, not a url ,ftp://cdn.example/x.jpg,,https://cdn.example/3.jpg"
        record = record_of(row(additional_image_link=links))
        assert [m.url for m in record.media] == [
            "https://cdn.example/shoe.jpg",
            "https://cdn.example/2.jpg",
            "https://cdn.example/3.jpg",
        ]

    def test_xml_list_with_junk(self) -> None:
        values = row(
            additional_image_link=["https://cdn.example/2.jpg", {"x": "y"}, "javascript:alert(1)", ""]
        )
        assert [m.url for m in record_of(values).media] == [
            "https://cdn.example/shoe.jpg",
            "https://cdn.example/2.jpg",
        ]

    def test_image_link_alone(self) -> None:
        assert record_of(row()).media == (Media("https://cdn.example/shoe.jpg"),)


class TestSellerAndFlags:
    @pytest.mark.parametrize(
        ("link", "origin"),
        [
            ("https://shop.example/shoe?s=40", "https://shop.example"),
            ("http://shop.example:8080/a#b", "http://shop.example:8080"),
            ("https://shop.example?x=1", "https://shop.example"),
            ("HTTPS://Shop.Example/x", "https://Shop.Example"),
        ],
    )
    def test_seller_url_is_the_links_origin(self, link: str, origin: str) -> None:
        record = record_of(row(link=link))
        assert (record.url, record.seller_url) == (link, origin)

    def test_seller_name_only_from_its_column(self) -> None:
        assert record_of(row(brand="Stride")).seller_name is None
        assert record_of(row(seller_name="Stride Store")).seller_name == "Stride Store"

    @pytest.mark.parametrize(
        ("flags", "search", "checkout"),
        [
            ({}, True, True),
            ({"is_eligible_checkout": "false"}, True, False),
            ({"enable_checkout": "false"}, True, False),
            ({"enable_checkout": "true", "is_eligible_checkout": "false"}, True, True),  # enable_* wins
            ({"is_eligible_search": "false"}, False, False),  # search false forces checkout false
            ({"enable_search": "false", "is_eligible_checkout": "true"}, False, False),
            ({"is_eligible_search": True, "is_eligible_checkout": False}, True, False),
        ],
    )
    def test_flags(self, flags: dict[str, Any], search: bool, checkout: bool) -> None:
        record = record_of(row(**flags))
        assert (record.is_eligible_search, record.is_eligible_checkout) == (search, checkout)

    def test_bad_flag(self) -> None:
        assert errors_of(map_google_row(row(is_eligible_checkout="yes"))) == [
            ("is_eligible_checkout", "invalid_value")
        ]


class TestOtherAttributes:
    @pytest.mark.parametrize(
        "shipping",
        [
            "US::Standard:5.00 USD",
            {"country": "US", "price": "5.00 USD"},
            [{"country": "US"}, {"country": "CA"}],
        ],
    )
    def test_shipping_is_kept_verbatim(self, shipping: Any) -> None:
        assert record_of(row(shipping=shipping)).attributes == {"google_shipping": shipping}

    def test_unknown_columns_are_ignored(self) -> None:
        record = record_of(row(custom_label_0="x", identifier_exists="no", ads_redirect="https://a.example"))
        assert record.attributes == {}

    def test_inventory_quantity(self) -> None:
        assert record_of(row(inventory_quantity="5")).inventory_quantity == 5
        assert errors_of(map_google_row(row(inventory_quantity="-1"))) == [
            ("inventory_quantity", "invalid_value")
        ]

    def test_every_error_of_a_row_is_reported(self) -> None:
        result = map_google_row(
            row(availability="unknown", price="1.001 USD", gtin="123", shipping_weight="heavy")
        )
        assert errors_of(result) == [
            ("availability", "invalid_value"),
            ("price", "invalid_price"),
            ("gtin", "invalid_gtin"),
            ("shipping_weight", "invalid_value"),
        ]
        assert all(isinstance(error, FieldError) for error in result)  # type: ignore[union-attr]


_NEAR_VALID = [
    "",
    " ",
    "n/a",
    "unknown",
    "in stock",
    "preorder",
    "89.00 EUR",
    "EUR 1.001",
    "0 USD",
    "0.9 kg",
    "20 cm",
    "8 in",
    "true",
    "false",
    "https://shop.example/a",
    "https://cdn.example/a.jpg,bad",
    "4006-3813-33931",
]
_SCALAR = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-5, max_value=10**6)
    | st.floats(allow_nan=True)
    | st.sampled_from(_NEAR_VALID)
    | st.text(max_size=12)
)
_JUNK = (
    _SCALAR
    | st.lists(_SCALAR, max_size=3)
    | st.dictionaries(st.sampled_from(["country", "price", "service"]), _SCALAR, max_size=2)
)
_NAMES = st.sampled_from(
    [
        *REQUIRED,
        "sale_price",
        "gtin",
        "mpn",
        "brand",
        "condition",
        "product_type",
        "google_product_category",
        "item_group_id",
        "color",
        "size",
        "gender",
        "age_group",
        "size_type",
        "pattern",
        "material",
        "shipping_weight",
        "product_weight",
        "shipping_length",
        "product_height",
        "additional_image_link",
        "shipping",
        "is_eligible_search",
        "is_eligible_checkout",
        "enable_checkout",
        "inventory_quantity",
        "seller_name",
    ]
)


@given(st.dictionaries(_NAMES, _JUNK, max_size=12), st.booleans())
def test_never_raises_on_any_input(junk: dict[str, Any], over_valid: bool) -> None:
    result = map_google_row({**BASE, **junk} if over_valid else junk)
    assert isinstance(result, VariantRecord) or (
        isinstance(result, list) and result and all(isinstance(e, FieldError) for e in result)
    )
