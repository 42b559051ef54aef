"""Fulfilment options from a shipping table: zones, regions, bands, free shipping, digital goods."""

from __future__ import annotations

from decimal import Decimal

import pytest

from merchant.checkout.shipping import (
    DIGITAL,
    Band,
    CartItem,
    Method,
    Option,
    RegionRestricted,
    ShippingTable,
    Zone,
    options_for,
)

STANDARD = Method("std", "Standard", by_weight=(Band(1000, 500), Band(5000, 900)), free_from_subtotal=10000)
EXPRESS = Method("exp", "Express", flat=1500, min_days=1, max_days=2, carrier="UPS")
TABLE = ShippingTable(
    currency="USD",
    zones=(
        Zone(frozenset({"US"}), (Method("ak", "Alaska post", flat=2500, min_days=5, max_days=10),),
             regions=frozenset({"US-AK", "US-HI"})),
        Zone(frozenset({"US"}), (STANDARD, EXPRESS)),
        Zone(frozenset({"CA"}), (Method("ca", "Post", by_subtotal=(Band(4999, 1200), Band(None, 800))),)),
    ),
)  # fmt: skip
SHOE = CartItem(quantity=2, weight=Decimal("0.4"), weight_unit="kg")  # 800 g
EBOOK = CartItem(quantity=1, is_digital=True)


def offered(items: list[CartItem], subtotal: int, country: str, region: str | None = None) -> list[Option]:
    result = options_for(TABLE, items, subtotal=subtotal, country=country, region=region)
    assert isinstance(result, list), result
    return result


def test_weight_bands_and_sorting() -> None:
    options = options_for(TABLE, [SHOE], subtotal=5000, country="US", region="NY")
    assert options == [
        Option("std", "shipping", "Standard", 500, 1, 5),
        Option("exp", "shipping", "Express", 1500, 1, 2, "UPS"),
    ]


def test_heavier_cart_moves_up_a_band_and_past_the_last_band_the_method_drops() -> None:
    heavy = CartItem(quantity=1, weight=Decimal(8), weight_unit="lb")  # 3.6 kg
    assert [o.amount for o in offered([heavy], 5000, "US")] == [900, 1500]
    too_heavy = CartItem(quantity=1, weight=Decimal(6), weight_unit="kg")
    assert [o.id for o in offered([too_heavy], 5000, "US")] == ["exp"]


def test_free_shipping_threshold() -> None:
    options = options_for(TABLE, [SHOE], subtotal=10000, country="us")
    assert isinstance(options, list)
    assert options[0] == Option("std", "shipping", "Standard", 0, 1, 5)


def test_regions_listed_first_win() -> None:
    for region in ("AK", "US-AK", "hi"):
        assert [o.id for o in offered([SHOE], 100, "US", region)] == ["ak"]


def test_subtotal_bands() -> None:
    assert [o.amount for o in offered([SHOE], 4999, "CA")] == [1200]
    assert [o.amount for o in offered([SHOE], 5000, "CA")] == [800]


def test_unserved_destination_is_region_restricted() -> None:
    assert options_for(TABLE, [SHOE], subtotal=100, country="FR") == RegionRestricted("FR", None)


def test_digital_and_missing_address() -> None:
    assert options_for(TABLE, [EBOOK], subtotal=100, country=None) == [DIGITAL]
    assert options_for(TABLE, [SHOE, EBOOK], subtotal=100, country=None) == []  # needs an address
    assert options_for(TABLE, [SHOE, EBOOK], subtotal=100, country="FR") == RegionRestricted("FR", None)
    assert options_for(TABLE, [], subtotal=0, country="US") == []


def test_items_without_weight_count_as_weightless() -> None:
    unknown = CartItem(quantity=3)
    assert [o.amount for o in offered([unknown], 100, "US")] == [500, 1500]


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"flat": 1, "by_weight": (Band(None, 1),)}, {"flat": 1, "min_days": 3, "max_days": 2}],
)
def test_a_method_needs_exactly_one_pricing(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="method m"):
        Method("m", "M", **kwargs)  # type: ignore[arg-type]
