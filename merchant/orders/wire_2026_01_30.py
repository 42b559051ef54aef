"""ACP 2026-01-30 wire format of an order: the older ``Order`` of the complete response
(id, session, number, permalink, status, estimated delivery, confirmation; no lines, totals,
fulfillments or adjustments, which came with 2026-04-17)."""

from __future__ import annotations

from typing import Any

from merchant.orders import wire_2026_04_17 as newer
from merchant.orders.service import OrderView

Json = dict[str, Any]

# 2026-01-30's closed status enum (confirmed, processing, shipped, delivered); ``canceled`` has
# no counterpart there and is left out (the field is optional).
_STATUS = {
    "created": "confirmed",
    "confirmed": "confirmed",
    "manual_review": "processing",
    "processing": "processing",
    "shipped": "shipped",
    "completed": "delivered",
}
_FIELDS = ("id", "checkout_session_id", "order_number", "permalink_url", "estimated_delivery")


def render_order(view: OrderView) -> Json:
    full = newer.render_order(view)
    body: Json = {key: full[key] for key in _FIELDS if key in full}
    if (status := _STATUS.get(view.order.status)) is not None:
        body["status"] = status
    body["confirmation"] = {"confirmation_number": view.number}
    return body
