"""Session evaluation: catalog checks with JSONPath params, fulfilment, status."""

from __future__ import annotations

from decimal import Decimal

import pytest

from merchant.checkout.evaluate import (
    CatalogItem,
    Evaluation,
    MessageType,
    RequestedItem,
    Status,
    evaluate,
)
from merchant.checkout.pricing import NO_TAX, TaxComponent, TaxRule
from merchant.checkout.shipping import Method, ShippingTable, Zone
from merchant.checkout.tax import Destination

TABLE = ShippingTable(
    "USD",
    (
        Zone(
            frozenset({"US"}),
            (
                Method("std", "Standard", flat=500),
                Method("exp", "Express", flat=1500, min_days=1, max_days=2),
            ),
        ),
        Zone(frozenset({"CA"}), (Method("ca", "Canada", flat=900),)),
    ),
)
CATALOG = {
    "tee": CatalogItem(
        "tee", "Tee", 2000, "USD", True, inventory_quantity=50, weight=Decimal("0.2"), weight_unit="kg"
    ),
    "mug": CatalogItem("mug", "Mug", 1200, "USD", True, inventory_quantity=3),
    "lamp": CatalogItem("lamp", "Lamp", 4500, "USD", False),
    "sold": CatalogItem("sold", "Sold out", 800, "USD", True, inventory_quantity=0),
    "cap": CatalogItem("cap", "Cap", 1500, "USD", True, max_quantity_per_order=2),
    "ebook": CatalogItem("ebook", "E-book", 999, "USD", True, is_digital=True),
    "yen": CatalogItem("yen", "Cup", 1500, "JPY", True),
}
US = Destination("US", "NY")


def run(
    items: list[tuple[str, int]],
    destination: Destination | None = US,
    selected: str | None = "std",
    tax: TaxRule = NO_TAX,
) -> Evaluation:
    return evaluate(
        [RequestedItem(v, q) for v, q in items],
        CATALOG,
        currency="USD",
        destination=destination,
        selected_option=selected,
        shipping=TABLE,
        tax=tax,
    )


def codes(evaluation: Evaluation) -> list[tuple[str, str, str]]:
    return [(m.type.value, m.code, m.param) for m in evaluation.messages]


def test_ready_when_address_and_option_are_set() -> None:
    result = run([("tee", 2)], tax=TaxRule((TaxComponent("US-NY", Decimal("0.08")),)))
    assert result.status is Status.ready_for_payment
    assert [o.id for o in result.options] == ["std", "exp"]
    assert (result.totals.subtotal, result.totals.fulfillment, result.totals.tax) == (4000, 500, 320)
    assert result.totals.total == 4820
    assert result.messages == ()


def test_not_ready_without_address() -> None:
    no_address = run([("tee", 1)], destination=None)
    assert no_address.status is Status.not_ready_for_payment
    assert codes(no_address) == [("error", "missing", "$.fulfillment_details.address")]


def test_the_cheapest_option_is_preselected_until_the_agent_chooses() -> None:
    default = run([("tee", 1)], selected=None)
    cheapest = min(default.options, key=lambda option: option.amount)
    assert len(default.options) > 1
    assert (default.status, default.selected_option, default.totals.fulfillment) == (
        Status.ready_for_payment,
        cheapest.id,
        cheapest.amount,
    )
    assert codes(default) == []
    other = next(o for o in default.options if o.id != cheapest.id)
    chosen = run([("tee", 1)], selected=other.id)
    assert (chosen.selected_option, chosen.totals.fulfillment) == (other.id, other.amount)


def test_the_only_option_is_chosen_for_the_buyer() -> None:
    result = run([("tee", 1)], destination=Destination("CA"), selected=None)
    assert (result.selected_option, result.status) == ("ca", Status.ready_for_payment)
    digital = run([("ebook", 1)], destination=None, selected=None)
    assert (digital.selected_option, digital.status, digital.totals.total) == (
        "digital",
        Status.ready_for_payment,
        999,
    )


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([("nope", 1)], [("error", "invalid", "$.line_items[0].id")]),
        ([("tee", 1), ("lamp", 1)], [("error", "out_of_stock", "$.line_items[1]")]),
        ([("mug", 4)], [("error", "quantity_exceeded", "$.line_items[0].quantity")]),
        # Still ``in_stock`` in the feed but no unit left: out of stock, not "at most 0".
        ([("sold", 1)], [("error", "out_of_stock", "$.line_items[0]")]),
        ([("cap", 3)], [("error", "quantity_exceeded", "$.line_items[0].quantity")]),
        ([("mug", 2)], [("warning", "low_stock", "$.line_items[0]")]),
        ([("yen", 1)], [("error", "invalid", "$.currency")]),
    ],
)
def test_catalog_problems_are_messages_with_params(
    items: list[tuple[str, int]], expected: list[tuple[str, str, str]]
) -> None:
    result = run(items)
    assert codes(result) == expected
    blocking = any(kind == "error" for kind, _, _ in expected)
    assert result.status is (Status.not_ready_for_payment if blocking else Status.ready_for_payment)


def test_unknown_lines_are_not_priced_but_the_rest_is() -> None:
    result = run([("nope", 1), ("tee", 1)])
    assert [line.index for line in result.lines] == [1]
    assert result.totals.subtotal == 2000


def test_unserved_destination_and_unknown_option() -> None:
    far = run([("tee", 1)], destination=Destination("FR"))
    assert codes(far) == [("error", "region_restricted", "$.fulfillment_details.address")]
    assert far.options == ()
    wrong = run([("tee", 1)], selected="overnight")
    assert codes(wrong) == [("error", "invalid", "$.selected_fulfillment_options[0]")]
    assert wrong.status is Status.not_ready_for_payment


def test_warnings_do_not_block() -> None:
    result = run([("mug", 1)])
    assert [m.type for m in result.messages] == [MessageType.warning]
    assert result.status is Status.ready_for_payment


def test_empty_cart_is_not_ready() -> None:
    assert run([]).status is Status.not_ready_for_payment


def test_a_required_intervention_the_agent_lacks_blocks_payment() -> None:
    result = evaluate(
        [RequestedItem("tee", 1)],
        CATALOG,
        currency="USD",
        destination=US,
        selected_option="std",
        shipping=TABLE,
        tax=NO_TAX,
        missing_interventions=["3ds"],
    )
    assert codes(result) == [("error", "intervention_required", "$.capabilities.interventions")]
    assert result.status is Status.not_ready_for_payment
