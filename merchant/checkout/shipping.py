"""Pure: which fulfilment options a cart gets at a destination, and what they cost. No I/O.

A ``ShippingTable`` lists zones (countries, optionally narrowed to regions); each zone offers
methods priced flat, by total weight bands or by subtotal bands, optionally free above a
subtotal, with a delivery window in days. The first zone that matches the destination wins
(list specific regions before whole countries). A destination no zone covers is
``RegionRestricted``. Carts of digital goods only get a single ``digital`` option.
Amounts are integer minor units of the table's currency.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

GRAMS_PER_UNIT = {
    "g": Decimal(1),
    "kg": Decimal(1000),
    "oz": Decimal("28.349523125"),
    "lb": Decimal("453.59237"),
}


@dataclass(frozen=True, slots=True)
class Band:
    """Up to ``up_to`` (grams or minor units, inclusive; None = no limit) costs ``amount``."""

    up_to: int | None
    amount: int


@dataclass(frozen=True, slots=True)
class Method:
    id: str
    title: str
    flat: int | None = None  # exactly one of flat / by_weight / by_subtotal
    by_weight: tuple[Band, ...] = ()
    by_subtotal: tuple[Band, ...] = ()
    free_from_subtotal: int | None = None
    min_days: int = 1
    max_days: int = 5
    carrier: str | None = None

    def __post_init__(self) -> None:
        kinds = (self.flat is not None) + bool(self.by_weight) + bool(self.by_subtotal)
        if kinds != 1:
            raise ValueError(f"method {self.id}: give exactly one of flat, by_weight, by_subtotal")
        if not 0 <= self.min_days <= self.max_days:
            raise ValueError(f"method {self.id}: 0 <= min_days <= max_days")


@dataclass(frozen=True, slots=True)
class Zone:
    countries: frozenset[str]  # ISO 3166-1 alpha-2
    methods: tuple[Method, ...]
    regions: frozenset[str] = frozenset()  # ISO 3166-2 subdivision codes ("US-CA"); empty = whole countries

    def covers(self, country: str, region: str | None) -> bool:
        if country not in self.countries:
            return False
        return not self.regions or (region is not None and _region_code(country, region) in self.regions)


@dataclass(frozen=True, slots=True)
class ShippingTable:
    currency: str
    zones: tuple[Zone, ...]


@dataclass(frozen=True, slots=True)
class CartItem:
    quantity: int
    weight: Decimal | None = None  # per unit
    weight_unit: str | None = None
    is_digital: bool = False

    def grams(self) -> Decimal:
        if self.weight is None or self.weight_unit is None:
            return Decimal(0)
        return self.weight * GRAMS_PER_UNIT[self.weight_unit] * self.quantity


@dataclass(frozen=True, slots=True)
class Option:
    id: str
    type: str  # "shipping" | "digital"
    title: str
    amount: int
    min_days: int = 0
    max_days: int = 0
    carrier: str | None = None


@dataclass(frozen=True, slots=True)
class RegionRestricted:
    country: str
    region: str | None


DIGITAL = Option(id="digital", type="digital", title="Digital delivery", amount=0)


def _region_code(country: str, region: str) -> str:
    region = region.strip().upper()
    return region if region.startswith(f"{country}-") else f"{country}-{region}"


def _band(bands: Sequence[Band], value: Decimal | int) -> int | None:
    for band in bands:
        if band.up_to is None or value <= band.up_to:
            return band.amount
    return None  # above the last band: the method does not apply


def _cost(method: Method, grams: Decimal, subtotal: int) -> int | None:
    if method.free_from_subtotal is not None and subtotal >= method.free_from_subtotal:
        return 0
    if method.flat is not None:
        return method.flat
    if method.by_weight:
        return _band(method.by_weight, grams)
    return _band(method.by_subtotal, subtotal)


def options_for(
    table: ShippingTable,
    items: Sequence[CartItem],
    *,
    subtotal: int,
    country: str | None,
    region: str | None = None,
) -> list[Option] | RegionRestricted:
    """The options to offer, cheapest first; no address yet (physical goods) -> none."""
    physical = [item for item in items if not item.is_digital]
    if not physical:
        return [DIGITAL] if items else []
    if country is None:
        return []
    country = country.strip().upper()
    zone = next((z for z in table.zones if z.covers(country, region)), None)
    if zone is None:
        return RegionRestricted(country, region)
    grams = sum((item.grams() for item in physical), Decimal(0))
    options = []
    for method in zone.methods:
        cost = _cost(method, grams, subtotal)
        if cost is not None:
            options.append(
                Option(
                    method.id,
                    "shipping",
                    method.title,
                    cost,
                    method.min_days,
                    method.max_days,
                    method.carrier,
                )
            )
    if not options:
        return RegionRestricted(country, region)  # covered, but no method takes this cart
    return sorted(options, key=lambda option: (option.amount, option.max_days, option.id))
