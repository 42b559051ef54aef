"""merchant.toml: parsed, validated with clear errors that name the key, turned into tables."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from merchant.checkout.pricing import NO_TAX
from merchant.checkout.shipping import CartItem, RegionRestricted, options_for
from merchant.checkout.tax import Destination
from merchant.config import ConfigurationError
from merchant.merchant_config import MerchantConfig, load_merchant_config

EXAMPLE = """
[shop]
currency = "usd"

[links]
terms_of_use = "https://shop.example/terms"

[[shipping.zones]]
countries = ["US"]
regions = ["US-AK", "US-HI"]
methods = [{ id = "remote", title = "Remote post", flat = 2500, min_days = 5, max_days = 10 }]

[[shipping.zones]]
countries = ["US", "CA"]
[[shipping.zones.methods]]
id = "standard"
title = "Standard"
by_weight_grams = [{ up_to = 1000, amount = 500 }, { amount = 900 }]
free_from_subtotal = 10000
[[shipping.zones.methods]]
id = "express"
title = "Express"
flat = 1500
min_days = 1
max_days = 2
carrier = "UPS"

[tax.rates.US-CA]
components = [{ jurisdiction = "US-CA", rate = 0.0725 }]

[tax.rates.DE]
components = [{ jurisdiction = "DE", rate = 0.19 }]
inclusive = true
shipping_taxable = true
"""


@pytest.fixture
def example(tmp_path: Path) -> MerchantConfig:
    path = tmp_path / "merchant.toml"
    path.write_text(EXAMPLE)
    return load_merchant_config(path)


def test_example_file(example: MerchantConfig) -> None:
    assert example.shop.currency == "USD"
    assert str(example.links.terms_of_use) == "https://shop.example/terms"
    table = example.shipping_table()
    shoe = [CartItem(quantity=1, weight=Decimal(2), weight_unit="kg")]
    offered = options_for(table, shoe, subtotal=3000, country="US", region="CA")
    assert isinstance(offered, list)
    assert [(o.id, o.amount) for o in offered] == [("standard", 900), ("express", 1500)]
    remote = options_for(table, shoe, subtotal=3000, country="US", region="AK")
    assert isinstance(remote, list)
    assert [o.id for o in remote] == ["remote"]
    assert options_for(table, shoe, subtotal=3000, country="MX") == RegionRestricted("MX", None)


async def test_tax_lookup_most_specific_first(example: MerchantConfig) -> None:
    taxes = example.tax_provider()
    california = await taxes.rule_for(Destination("US", "CA"))
    assert [c.rate for c in california.components] == [Decimal("0.0725")]
    assert await taxes.rule_for(Destination("US", "NY")) is NO_TAX
    assert (await taxes.rule_for(Destination("de"))).inclusive
    assert taxes.lookup(Destination("US", "US-CA")) == california


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[shop]\ncurrency = "XYZ"', "shop.currency"),
        (
            '[[shipping.zones]]\ncountries = ["usa"]\nmethods = [{ id = "a", title = "A", flat = 1 }]',
            "shipping.zones[0].countries[0]",
        ),
        (
            '[[shipping.zones]]\ncountries = ["US"]\nmethods = [{ id = "a", title = "A" }]',
            "exactly one of flat",
        ),
        (
            '[[shipping.zones]]\ncountries = ["US"]\nmethods = [{ id = "a", title = "A", flat = -5 }]',
            "shipping.zones[0].methods[0].flat",
        ),
        (
            '[tax.rates.US]\ncomponents = [{ jurisdiction = "US", rate = 1.5 }]',
            "tax.rates.US.components[0].rate",
        ),
        ("surprise = 1", "surprise: Extra inputs are not permitted"),
        ("[checkout]\nsession_ttl_minutes = 0", "checkout.session_ttl_minutes"),
        ("[shipping\nzones = 1", "cannot read"),
    ],
)
def test_invalid_files_say_where(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "merchant.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match="merchant configuration") as failure:
        load_merchant_config(path)
    assert needle in str(failure.value)


def test_missing_file_and_development_default(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_merchant_config(tmp_path / "nope.toml")
    default = load_merchant_config(None)
    offered = options_for(default.shipping_table(), [CartItem(quantity=1)], subtotal=6000, country="US")
    assert isinstance(offered, list)
    assert [(o.id, o.amount) for o in offered] == [("standard", 0), ("express", 1500)]


def test_the_documented_example_is_valid() -> None:
    path = Path(__file__).resolve().parents[1] / "merchant.example.toml"
    config = load_merchant_config(path)
    assert config.shop.name == "Example Shop"
    assert config.payments.card.merchant_id == "acct_1234567890"
    assert config.tax.rates["US-CA"].components[0].rate == Decimal("0.0725")
    assert [m.id for zone in config.shipping.zones for m in zone.methods] == ["remote", "standard", "express"]
