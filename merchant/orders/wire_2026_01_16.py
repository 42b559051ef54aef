"""ACP 2026-01-16 (and 2025-12-12) wire format of an order: ``{id, checkout_session_id,
permalink_url}`` only (a closed object; number, status and confirmation came with 2026-01-30)."""

from __future__ import annotations

from typing import Any

from merchant.orders import wire_2026_04_17 as newer
from merchant.orders.service import OrderView

Json = dict[str, Any]
_FIELDS = ("id", "checkout_session_id", "permalink_url")


def render_order(view: OrderView) -> Json:
    full = newer.render_order(view)
    return {key: full[key] for key in _FIELDS}
