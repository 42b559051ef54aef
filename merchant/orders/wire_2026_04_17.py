"""ACP 2026-04-17 wire format of an order (``Order``; acp-spec.md §6.2): the complete response's
``order`` and, later, the body of ``order_create`` / ``order_update`` webhook events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from merchant.kit.clock import rfc3339
from merchant.orders.models import OrderAdjustment, OrderFulfillment, OrderLine
from merchant.orders.service import OrderView

Json = dict[str, Any]

_TOTAL_TEXT = {
    "subtotal": "Subtotal",
    "discount": "Discount",
    "fulfillment": "Shipping",
    "tax": "Tax",
    "total": "Total",
    "amount_refunded": "Refunded",
}


def line_status(line: OrderLine) -> str:
    """ACP's derivation: removed, fulfilled, partial, else processing."""
    if line.quantity_current == 0:
        return "removed"
    if line.quantity_fulfilled >= line.quantity_current:
        return "fulfilled"
    return "partial" if line.quantity_fulfilled > 0 else "processing"


def _line(line: OrderLine) -> Json:
    return {
        "id": line.line_id,
        "title": line.title,
        "quantity": {
            "ordered": line.quantity_ordered,
            "current": line.quantity_current,
            "fulfilled": line.quantity_fulfilled,
        },
        "unit_price": line.unit_amount,
        "subtotal": line.subtotal,
        "status": line_status(line),
    }


def _fulfillment(fulfillment: OrderFulfillment) -> Json:
    body: Json = {
        "id": fulfillment.id,
        "type": fulfillment.type,
        "status": fulfillment.status,
        "line_items": fulfillment.line_items,
        "events": fulfillment.events,
    }
    for key in ("carrier", "tracking_number", "tracking_url"):
        if (value := getattr(fulfillment, key)) is not None:
            body[key] = value
    return body


def _adjustment(adjustment: OrderAdjustment, currency: str) -> Json:
    body: Json = {
        "id": adjustment.id,
        "type": adjustment.type,
        "occurred_at": rfc3339(adjustment.created_at),
        "status": adjustment.status,
    }
    if adjustment.line_items:
        body["line_items"] = adjustment.line_items
    if adjustment.amount is not None:
        body["amount"], body["currency"] = adjustment.amount, currency.lower()
    if adjustment.description:
        body["description"] = adjustment.description
    if adjustment.reason:
        body["reason"] = adjustment.reason
    return body


def _totals(view: OrderView) -> list[Json]:
    totals, order = view.order.totals, view.order
    amounts = [
        ("subtotal", totals["subtotal"]),
        ("discount", totals["discount"]),
        ("fulfillment", totals["fulfillment"]),
        ("tax", totals["tax"]),
        ("total", order.total),
        ("amount_refunded", order.amount_refunded),
    ]
    rendered = [
        {"type": kind, "display_text": _TOTAL_TEXT[kind], "amount": amount}
        for kind, amount in amounts
        if amount or kind in ("subtotal", "total", "amount_refunded")
    ]
    if totals.get("tax_inclusive"):
        for entry in rendered:
            if entry["type"] == "tax":
                entry["display_text"] = "Tax (included)"
    return rendered


def render_order(view: OrderView) -> Json:
    order = view.order
    permalink_url = order.permalink_url or ""
    body: Json = {
        "type": "order",
        "id": order.id,
        "checkout_session_id": order.checkout_session_id,
        "order_number": view.number,
        "permalink_url": permalink_url,
        "status": order.status,
        "confirmation": {"confirmation_number": view.number},
        "line_items": [_line(line) for line in view.lines],
        "fulfillments": [_fulfillment(f) for f in view.fulfillments],
        "adjustments": [_adjustment(a, order.currency) for a in view.adjustments],
        "totals": _totals(view),
    }
    if order.order_notes:
        body["confirmation"]["order_notes"] = order.order_notes
    option = order.fulfillment_option
    if option and option.get("type") == "shipping":
        body["estimated_delivery"] = {
            "earliest": rfc3339(order.created_at + timedelta(days=int(option["min_days"]))),
            "latest": rfc3339(order.created_at + timedelta(days=int(option["max_days"]))),
        }
    return body
