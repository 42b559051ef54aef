"""Pure: evaluate a checkout session's contents against the catalog, shipping and tax.

Given what the agent asked for (items, currency, address, chosen option) and what the catalog
says about each variant, produce the priced lines, the fulfilment options, the totals, the
messages (errors and warnings, each with a JSONPath ``param``) and the status. No I/O and no
wire format: the service loads the inputs, the version adapters render the result.

Rules:
- an unknown variant id -> error ``invalid`` on ``$.line_items[i].id``; the line is not priced;
- a variant not eligible for checkout, delisted, not purchasable or with no unit left (tracked
  stock at 0 although its availability still says ``in_stock``) -> error ``out_of_stock``;
- more than the stock or than ``max_quantity_per_order`` -> error ``quantity_exceeded`` on
  ``$.line_items[i].quantity``; at most ``LOW_STOCK`` units left -> warning ``low_stock``;
- a variant priced in another currency than the session -> error ``invalid`` on ``$.currency``;
- physical goods need an address; a destination no shipping zone serves -> error
  ``region_restricted``; a chosen option that is not among the offered ones -> error
  ``invalid`` on ``$.selected_fulfillment_options[0]`` (no error while nothing can be offered);
- interventions we require with enforcement ``always`` that the agent cannot handle -> error
  ``intervention_required`` on ``$.capabilities.interventions``;
- no address while physical goods need one -> error ``missing`` on
  ``$.fulfillment_details.address``; several options and none chosen -> error ``missing`` on
  ``$.selected_fulfillment_options`` (the only option is chosen for the buyer);
- ``ready_for_payment`` when there is a line, an option is chosen and no error, else
  ``not_ready_for_payment``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from merchant.checkout.pricing import CartLine, PricedLine, TaxRule, Totals, price_cart
from merchant.checkout.shipping import CartItem, Option, RegionRestricted, ShippingTable, options_for
from merchant.checkout.tax import Destination

LOW_STOCK = 5
ADDRESS_PARAM = "$.fulfillment_details.address"
INTERVENTIONS_PARAM = "$.capabilities.interventions"


class Status(StrEnum):
    not_ready_for_payment = "not_ready_for_payment"
    ready_for_payment = "ready_for_payment"
    authentication_required = "authentication_required"
    completed = "completed"
    canceled = "canceled"
    expired = "expired"


class MessageType(StrEnum):
    error = "error"
    warning = "warning"


@dataclass(frozen=True, slots=True)
class Message:
    type: MessageType
    code: str  # invalid | out_of_stock | quantity_exceeded | region_restricted | low_stock ...
    param: str  # RFC 9535 JSONPath into the request
    text: str  # English; the adapter localises by ``code`` when a translation exists

    @property
    def blocking(self) -> bool:
        return self.type is MessageType.error


@dataclass(frozen=True, slots=True)
class RequestedItem:
    variant_id: str
    quantity: int


@dataclass(frozen=True, slots=True)
class CatalogItem:
    """What checkout needs to know about a variant (loaded by the service)."""

    variant_id: str
    title: str
    unit_amount: int  # the effective price: the sale price when there is one
    currency: str
    purchasable: bool  # listed, eligible for checkout, availability allows buying
    inventory_quantity: int | None = None  # None = not tracked
    max_quantity_per_order: int | None = None
    is_digital: bool = False
    weight: Decimal | None = None
    weight_unit: str | None = None


@dataclass(frozen=True, slots=True)
class EvaluatedLine:
    index: int  # position in the request (params point at it)
    requested: RequestedItem
    item: CatalogItem
    priced: PricedLine


@dataclass(frozen=True, slots=True)
class Evaluation:
    lines: tuple[EvaluatedLine, ...]
    options: tuple[Option, ...]
    selected_option: str | None
    totals: Totals
    messages: tuple[Message, ...]
    status: Status
    tax_rule: TaxRule


def _line_messages(index: int, wanted: RequestedItem, item: CatalogItem, currency: str) -> list[Message]:
    path = f"$.line_items[{index}]"
    if item.currency != currency:
        text = f"{item.title} is sold in {item.currency}, not {currency}."
        return [Message(MessageType.error, "invalid", "$.currency", text)]
    if not item.purchasable or (item.inventory_quantity is not None and item.inventory_quantity <= 0):
        return [Message(MessageType.error, "out_of_stock", path, f"{item.title} is not available.")]
    limits = [n for n in (item.inventory_quantity, item.max_quantity_per_order) if n is not None]
    if limits and wanted.quantity > min(limits):
        text = f"At most {min(limits)} of {item.title} can be bought."
        return [Message(MessageType.error, "quantity_exceeded", f"{path}.quantity", text)]
    if item.inventory_quantity is not None and item.inventory_quantity <= LOW_STOCK:
        text = f"Only {item.inventory_quantity} of {item.title} left."
        return [Message(MessageType.warning, "low_stock", path, text)]
    return []


def evaluate(
    requested: Sequence[RequestedItem],
    catalog: Mapping[str, CatalogItem],
    *,
    currency: str,
    destination: Destination | None,
    selected_option: str | None,
    shipping: ShippingTable,
    tax: TaxRule,
    missing_interventions: Sequence[str] = (),
) -> Evaluation:
    messages: list[Message] = []
    if missing_interventions:  # required by us (enforcement "always"), not supported by the agent
        text = f"This purchase needs {', '.join(missing_interventions)}, which the agent does not support."
        messages.append(Message(MessageType.error, "intervention_required", INTERVENTIONS_PARAM, text))
    found: list[tuple[int, RequestedItem, CatalogItem]] = []
    for index, wanted in enumerate(requested):
        item = catalog.get(wanted.variant_id)
        if item is None:
            text = f"No product with id {wanted.variant_id!r}."
            messages.append(Message(MessageType.error, "invalid", f"$.line_items[{index}].id", text))
            continue
        messages.extend(_line_messages(index, wanted, item, currency))
        found.append((index, wanted, item))

    cart = [CartLine(f"li_{index}", item.unit_amount, wanted.quantity) for index, wanted, item in found]
    subtotal = sum(line.unit_amount * line.quantity for line in cart)
    parcels = [CartItem(w.quantity, i.weight, i.weight_unit, i.is_digital) for _, w, i in found]
    offered = options_for(
        shipping,
        parcels,
        subtotal=subtotal,
        country=destination.country if destination else None,
        region=destination.region if destination else None,
    )
    options: tuple[Option, ...] = ()
    if isinstance(offered, RegionRestricted):
        text = f"We do not deliver to {offered.country}{f' ({offered.region})' if offered.region else ''}."
        messages.append(Message(MessageType.error, "region_restricted", ADDRESS_PARAM, text))
    else:
        options = tuple(offered)

    chosen = _chosen(options, selected_option, messages)
    fulfillment = next((o.amount for o in options if o.id == chosen), 0)
    totals = price_cart(cart, fulfillment=fulfillment, rule=tax)
    lines = tuple(
        EvaluatedLine(index, wanted, item, priced)
        for (index, wanted, item), priced in zip(found, totals.lines, strict=True)
    )
    needs_address = any(not item.is_digital for _, _, item in found) and destination is None
    messages.extend(_missing(needs_address, options if selected_option is None else (), chosen))
    ready = bool(lines) and chosen is not None and not any(m.blocking for m in messages)
    status = Status.ready_for_payment if ready else Status.not_ready_for_payment
    return Evaluation(lines, options, chosen, totals, tuple(messages), status, tax)


def _missing(needs_address: bool, options: tuple[Option, ...], chosen: str | None) -> list[Message]:
    """What the buyer still has to give: the shipping address, then the choice of an option."""
    if needs_address:
        return [Message(MessageType.error, "missing", ADDRESS_PARAM, "A shipping address is needed.")]
    if options and chosen is None:
        text = "Choose one of the fulfilment options."
        return [Message(MessageType.error, "missing", "$.selected_fulfillment_options", text)]
    return []


def _chosen(options: tuple[Option, ...], selected: str | None, messages: list[Message]) -> str | None:
    if selected is not None:
        if any(option.id == selected for option in options):
            return selected
        if not options:  # nothing to choose from yet (no address, unserved, empty cart): said elsewhere
            return None
        text = f"Fulfilment option {selected!r} is not offered for this cart and address."
        messages.append(Message(MessageType.error, "invalid", "$.selected_fulfillment_options[0]", text))
        return None
    # A default (the cheapest, then the first offered), so the first answer with an address already
    # has its shipping, tax and total; the agent may choose another.
    return min(options, key=lambda option: option.amount).id if options else None
