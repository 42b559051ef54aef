"""Checkout arithmetic: worked examples, then the invariants for any cart, exponent and tax rate."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from merchant.checkout.pricing import (
    NO_TAX,
    CartLine,
    PricingError,
    TaxComponent,
    TaxRule,
    Totals,
    price_cart,
    tax_parts,
)

CA = TaxRule((TaxComponent("US-CA", Decimal("0.0725")), TaxComponent("US-CA-SF", Decimal("0.0138"))))
VAT_DE = TaxRule((TaxComponent("DE", Decimal("0.19")),), inclusive=True, shipping_taxable=True)


class TestExamples:
    def test_exclusive_tax_per_line_and_jurisdiction(self) -> None:
        totals = price_cart(
            [CartLine("li_1", 1999, 2), CartLine("li_2", 500, 1, discount=100)], fulfillment=599, rule=CA
        )
        first, second = totals.lines
        assert (first.base_amount, first.subtotal) == (3998, 3998)
        assert first.tax_breakdown == (("US-CA", 290), ("US-CA-SF", 55))  # 289.855 -> 290, 55.17 -> 55
        assert (first.tax, first.total) == (345, 4343)
        assert (second.base_amount, second.subtotal, second.tax) == (500, 400, 29 + 6)
        assert totals.items_base_amount == 4498
        assert (totals.items_discount, totals.subtotal, totals.fulfillment) == (100, 4398, 599)
        assert totals.tax_breakdown == (("US-CA", 319), ("US-CA-SF", 61))
        assert totals.tax == 380
        assert totals.total == 4398 + 599 + 380  # shipping not taxable in this rule

    def test_inclusive_vat_is_shown_not_added(self) -> None:
        totals = price_cart([CartLine("li_1", 11900, 1)], fulfillment=595, rule=VAT_DE)
        assert totals.lines[0].tax == 1900  # 11900 - 11900 / 1.19
        assert totals.tax == 1900 + 95  # shipping carries VAT here
        assert totals.total == 11900 + 595
        assert totals.tax_inclusive

    def test_zero_decimal_currency_rounds_to_whole_units(self) -> None:
        # JPY: amounts are yen; 1,234 yen x 10 % = 123.4 -> 123
        totals = price_cart([CartLine("li_1", 1234, 1)], rule=TaxRule((TaxComponent("JP", Decimal("0.10")),)))
        assert (totals.tax, totals.total) == (123, 1357)

    def test_untaxed_lines_and_no_tax(self) -> None:
        totals = price_cart([CartLine("gift", 2500, 1, taxable=False), CartLine("tee", 1000, 1)], rule=CA)
        assert totals.lines[0].tax == 0
        assert price_cart([CartLine("tee", 1000, 3)]).total == 3000
        assert price_cart([CartLine("tee", 1000, 3)], rule=NO_TAX).tax_breakdown == ()

    @pytest.mark.parametrize(
        "line",
        [
            CartLine("x", 100, 0),
            CartLine("x", -1, 1),
            CartLine("x", 100, 1, discount=101),
            CartLine("x", 1, 1, -1),
        ],
    )
    def test_impossible_lines_are_refused(self, line: CartLine) -> None:
        with pytest.raises(PricingError):
            price_cart([line])

    def test_inclusive_parts_add_up_to_the_whole(self) -> None:
        rule = TaxRule(
            (
                TaxComponent("A", Decimal("0.05")),
                TaxComponent("B", Decimal("0.05")),
                TaxComponent("C", Decimal("0.1")),
            ),
            inclusive=True,
        )
        parts = tax_parts(1001, rule)
        assert sum(amount for _, amount in parts) == 1001 - round(Decimal(1001) / Decimal("1.2"))


# -- properties ---------------------------------------------------------------------------------

EXPONENT_SCALE = {0: 1, 2: 100, 3: 1000}
rates = st.decimals(min_value=Decimal(0), max_value=Decimal("0.3"), places=4)
components = st.lists(
    st.builds(TaxComponent, st.sampled_from(["A", "B", "C", "D"]), rates),
    max_size=3,
    unique_by=lambda c: c.jurisdiction,
)
rules = st.builds(TaxRule, components.map(tuple), st.booleans(), st.booleans())


@st.composite
def carts(draw: st.DrawFn) -> tuple[list[CartLine], int]:
    scale = EXPONENT_SCALE[draw(st.sampled_from([0, 2, 3]))]  # prices like real JPY / USD / KWD ones
    lines = []
    for index in range(draw(st.integers(1, 8))):
        unit = draw(st.integers(0, 100_000)) * scale // 100
        quantity = draw(st.integers(1, 999))
        discount = draw(st.integers(0, unit * quantity))
        lines.append(CartLine(f"li_{index}", unit, quantity, discount, draw(st.booleans())))
    return lines, draw(st.integers(0, 50_000)) * scale // 100


def check_invariants(lines: list[CartLine], fulfillment: int, rule: TaxRule, totals: Totals) -> None:
    for line, priced in zip(lines, totals.lines, strict=True):
        assert priced.base_amount == line.unit_amount * line.quantity
        assert priced.subtotal == priced.base_amount - priced.discount >= 0
        assert priced.tax == sum(amount for _, amount in priced.tax_breakdown) >= 0
        assert priced.total == priced.subtotal + (0 if rule.inclusive else priced.tax)
        if rule.inclusive:
            assert priced.tax <= priced.subtotal
        else:  # each jurisdiction within half a minor unit of the exact amount
            for (_, amount), component in zip(priced.tax_breakdown, rule.components, strict=True):
                exact = priced.subtotal * component.rate if line.taxable else Decimal(0)
                assert abs(amount - exact) <= Decimal("0.5")
    assert totals.items_base_amount == sum(p.base_amount for p in totals.lines)
    assert totals.items_discount == sum(p.discount for p in totals.lines)
    assert totals.subtotal == totals.items_base_amount - totals.items_discount
    assert totals.tax == sum(amount for _, amount in totals.tax_breakdown)
    shipping_tax = totals.tax - sum(p.tax for p in totals.lines)
    assert shipping_tax >= 0
    assert shipping_tax == 0 or rule.shipping_taxable
    added_tax = 0 if rule.inclusive else totals.tax
    assert totals.total == totals.subtotal - totals.discount + totals.fulfillment + added_tax
    assert totals.fulfillment == fulfillment
    assert all(isinstance(v, int) for v in (totals.total, totals.tax, totals.subtotal))


@given(carts(), rules)
def test_invariants_hold_for_any_cart_and_rate(cart: tuple[list[CartLine], int], rule: TaxRule) -> None:
    lines, fulfillment = cart
    check_invariants(lines, fulfillment, rule, price_cart(lines, fulfillment=fulfillment, rule=rule))


@given(st.integers(0, 10**12), rules)
def test_tax_parts_are_exact_sums(amount: int, rule: TaxRule) -> None:
    parts = tax_parts(amount, rule)
    assert [name for name, _ in parts] == [c.jurisdiction for c in rule.components]
    assert all(value >= 0 for _, value in parts)
    if rule.inclusive and rule.components:
        assert sum(value for _, value in parts) <= amount
