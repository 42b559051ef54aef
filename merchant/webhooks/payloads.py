"""The body of an order event, in the ACP version the platform's receiver reads (acp-spec.md §6.1).

2026-04-17: ``{type, data}`` with ``data`` the full ``Order`` (``type: "order"``, ids, status,
line items, fulfilments, adjustments, totals). Older versions: the legacy closed shape
``{type, data: {type, checkout_session_id, permalink_url, status, refunds}}`` with its own status
enum and no order id.
"""

from __future__ import annotations

from typing import Any

from merchant.orders.service import OrderView
from merchant.orders.wire_2026_04_17 import render_order

Json = dict[str, Any]
CURRENT = "2026-04-17"
# Legacy order statuses: created, manual_review, confirmed, canceled, shipped, fulfilled.
_LEGACY_STATUS = {"processing": "confirmed", "completed": "fulfilled"}


def event_body(view: OrderView, kind: str, version: str) -> Json:
    if version == CURRENT:
        return {"type": kind, "data": render_order(view)}
    return {"type": kind, "data": _legacy(view)}


def _legacy(view: OrderView) -> Json:
    order = view.order
    refunds = [
        {"type": "original_payment", "amount": adjustment.amount}
        for adjustment in view.adjustments
        if adjustment.type == "refund" and adjustment.status == "completed" and adjustment.amount
    ]
    return {
        "type": "order",
        "checkout_session_id": order.checkout_session_id,
        "permalink_url": order.permalink_url or "",
        "status": _LEGACY_STATUS.get(order.status, order.status),
        "refunds": refunds,
    }
