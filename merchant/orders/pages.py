"""The order-status page behind an order's ``permalink_url``: plain HTML at an unguessable URL.

The URL carries a 192-bit random token (not the order id), so it can be shared with the buyer
without authentication; nothing on the page allows a change.
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from merchant.db.transaction import transaction
from merchant.kit.money import Money, format_price
from merchant.merchant_config import MerchantConfig
from merchant.orders.service import PERMALINK_PATH, OrderView, load_by_permalink
from merchant.orders.wire_2026_04_17 import line_status

router = APIRouter(tags=["orders"])
PATH = PERMALINK_PATH
# The page is static HTML without styles, scripts, images or forms: the policy allows nothing, so a
# slip in escaping still runs no script, loads nothing and cannot be framed.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the URL is the credential: never sent on as a Referer
    "Cache-Control": "no-store",
}


def render_page(view: OrderView, shop_name: str) -> str:
    order = view.order

    def money(amount: int) -> str:
        return escape(format_price(Money(amount, order.currency)))

    rows = "".join(
        f"<tr><td>{escape(line.title)}</td><td>{line.quantity_current}</td>"
        f"<td>{money(line.total)}</td><td>{escape(line_status(line))}</td></tr>"
        for line in view.lines
    )
    shipments = "".join(
        f"<li>{escape(f.carrier or f.type)} {escape(f.tracking_number or '')}: {escape(f.status)}</li>"
        for f in view.fulfillments
    )
    refunded = f"<p>Refunded: {money(order.amount_refunded)}</p>" if order.amount_refunded else ""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='robots' content='noindex'>"
        f"<title>Order {view.number} - {escape(shop_name)}</title></head><body>"
        f"<h1>{escape(shop_name)}: order {view.number}</h1>"
        f"<p>Status: <strong>{escape(order.status.replace('_', ' '))}</strong></p>"
        "<table><thead><tr><th>Item</th><th>Quantity</th><th>Total</th><th>Status</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        f"<p>Total charged: {money(order.total)}</p>{refunded}"
        f"{f'<h2>Shipments</h2><ul>{shipments}</ul>' if shipments else ''}"
        "</body></html>"
    )


_NO_SUCH_ORDER: dict[int | str, dict[str, Any]] = {
    404: {"description": "No order at that URL", "content": {"text/html": {"schema": {"type": "string"}}}}
}


@router.get(
    PATH,
    response_class=HTMLResponse,
    summary="Order status page (public, unguessable URL)",
    responses=_NO_SUCH_ORDER,
)
async def order_status_page(token: str, request: Request) -> HTMLResponse:
    async with transaction(request.app.state.sessions) as session:
        view = await load_by_permalink(session, token)
    if view is None:
        return HTMLResponse(
            "<!doctype html><title>Not found</title><p>No such order.</p>",
            status_code=404,
            headers=PAGE_HEADERS,
        )
    config: MerchantConfig = request.app.state.merchant_config
    page = render_page(view, config.shop.name)
    return HTMLResponse(page, headers=PAGE_HEADERS)
