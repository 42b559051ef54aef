"""Pure checkout arithmetic: line and session totals in integer minor units. No I/O.

Amounts are integers in the currency's minor unit, so the currency's exponent (JPY 0,
USD 2, KWD 3) never enters the arithmetic: only tax rates make fractions, and each tax
amount is rounded to the minor unit half-up, per line and per jurisdiction.

Per line: ``base = unit_amount x quantity``; ``subtotal = base - discount``;
``total = subtotal + tax`` when tax is exclusive, ``total = subtotal`` when the price
already includes it (the ``tax`` entry then shows the included part).

Per session: ``items_base_amount = sum(base)``, ``items_discount = sum(line discount)``,
``subtotal = items_base_amount - items_discount``; ``discount`` is the order-level discount
(always 0 until discounts are allocated to lines);
``tax`` = line taxes + fulfilment tax = the sum of the per-jurisdiction ``breakdown``;
``total = subtotal - discount + fulfillment + tax`` for exclusive tax, and
``total = subtotal - discount + fulfillment`` when prices include it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True, slots=True)
class TaxComponent:
    """One jurisdiction's rate, e.g. ``TaxComponent("US-CA", Decimal("0.0725"))``."""

    jurisdiction: str
    rate: Decimal  # 0.0725 = 7.25 %


@dataclass(frozen=True, slots=True)
class TaxRule:
    """The tax that applies at a destination."""

    components: tuple[TaxComponent, ...]
    inclusive: bool = False  # prices already contain the tax (VAT style)
    shipping_taxable: bool = False

    @property
    def rate(self) -> Decimal:
        return sum((c.rate for c in self.components), Decimal(0))


NO_TAX = TaxRule(components=())


@dataclass(frozen=True, slots=True)
class CartLine:
    id: str
    unit_amount: int
    quantity: int
    discount: int = 0
    taxable: bool = True


@dataclass(frozen=True, slots=True)
class PricedLine:
    id: str
    unit_amount: int
    quantity: int
    base_amount: int
    discount: int
    subtotal: int
    tax: int
    total: int
    tax_breakdown: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Totals:
    items_base_amount: int
    items_discount: int
    subtotal: int
    discount: int
    fulfillment: int
    tax: int
    total: int
    tax_inclusive: bool
    tax_breakdown: tuple[tuple[str, int], ...] = ()  # (jurisdiction, amount), in rule order
    lines: tuple[PricedLine, ...] = field(default=())


class PricingError(ValueError):
    """Inputs no cart can have (negative amounts, a discount above the amount it reduces)."""


def _round(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def tax_parts(amount: int, rule: TaxRule) -> tuple[tuple[str, int], ...]:
    """Tax on ``amount`` per jurisdiction: added to it (exclusive) or contained in it (inclusive).

    Inclusive: the whole tax is ``amount - amount / (1 + rate)`` rounded once, then shared
    across the components in proportion to their rates, the last one taking the remainder, so
    the parts add up exactly to the whole.
    """
    if amount == 0 or not rule.components:
        return tuple((c.jurisdiction, 0) for c in rule.components)
    if not rule.inclusive:
        return tuple((c.jurisdiction, _round(amount * c.rate)) for c in rule.components)
    rate = rule.rate
    whole = amount - _round(amount / (1 + rate)) if rate else 0
    parts: list[tuple[str, int]] = []
    left = whole
    for index, component in enumerate(rule.components):
        last = index == len(rule.components) - 1
        share = left if last else _round(whole * component.rate / rate) if rate else 0
        share = min(share, left)
        parts.append((component.jurisdiction, share))
        left -= share
    return tuple(parts)


def price_line(line: CartLine, rule: TaxRule) -> PricedLine:
    if line.quantity < 1 or line.unit_amount < 0 or line.discount < 0:
        raise PricingError(f"line {line.id}: quantity, amount and discount must be positive")
    base = line.unit_amount * line.quantity
    if line.discount > base:
        raise PricingError(f"line {line.id}: the discount exceeds the line amount")
    subtotal = base - line.discount
    parts = tax_parts(subtotal, rule) if line.taxable else tuple((c.jurisdiction, 0) for c in rule.components)
    tax = sum(amount for _, amount in parts)
    total = subtotal if rule.inclusive else subtotal + tax
    return PricedLine(
        id=line.id,
        unit_amount=line.unit_amount,
        quantity=line.quantity,
        base_amount=base,
        discount=line.discount,
        subtotal=subtotal,
        tax=tax,
        total=total,
        tax_breakdown=parts,
    )


def price_cart(lines: Sequence[CartLine], *, fulfillment: int = 0, rule: TaxRule = NO_TAX) -> Totals:
    """Every line and the session totals.

    Order-level discounts are not supported yet (``discount`` is 0): they must first be
    allocated to the lines so that tax is computed on the discounted amounts.
    """
    if fulfillment < 0:
        raise PricingError("fulfillment must be positive")
    discount = 0
    priced = tuple(price_line(line, rule) for line in lines)
    items_base = sum(line.base_amount for line in priced)
    items_discount = sum(line.discount for line in priced)
    subtotal = items_base - items_discount
    shipping_parts = tax_parts(fulfillment, rule) if rule.shipping_taxable else ()
    breakdown = _sum_parts([line.tax_breakdown for line in priced] + [shipping_parts], rule)
    tax = sum(amount for _, amount in breakdown)
    total = subtotal - discount + fulfillment + (0 if rule.inclusive else tax)
    return Totals(
        items_base_amount=items_base,
        items_discount=items_discount,
        subtotal=subtotal,
        discount=discount,
        fulfillment=fulfillment,
        tax=tax,
        total=total,
        tax_inclusive=rule.inclusive,
        tax_breakdown=breakdown,
        lines=priced,
    )


def _sum_parts(groups: Sequence[tuple[tuple[str, int], ...]], rule: TaxRule) -> tuple[tuple[str, int], ...]:
    sums = {component.jurisdiction: 0 for component in rule.components}
    for group in groups:
        for jurisdiction, amount in group:
            sums[jurisdiction] += amount
    return tuple(sums.items())
