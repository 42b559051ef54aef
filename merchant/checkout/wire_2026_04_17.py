"""ACP 2026-04-17 wire format: render a canonical checkout session as the protocol's object.

The core (``checkout.service`` / ``checkout.evaluate``) knows nothing of this shape; other API
versions get their own module. Display texts are English for now (``locale`` is accepted so
translations can be added without changing callers).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from merchant.checkout.evaluate import Evaluation, Message
from merchant.checkout.pricing import PricedLine, TaxRule, Totals
from merchant.checkout.service import View
from merchant.checkout.shipping import Option

VERSION = "2026-04-17"
Json = dict[str, Any]

_TOTAL_TEXT = {
    "items_base_amount": "Items",
    "items_discount": "Item discounts",
    "subtotal": "Subtotal",
    "discount": "Discount",
    "fulfillment": "Shipping",
    "tax": "Tax",
    "total": "Total",
}


def _time(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _total(kind: str, amount: int, **extra: Any) -> Json:
    return {"type": kind, "display_text": _TOTAL_TEXT[kind], "amount": amount, **extra}


def _tax_total(amount: int, breakdown: tuple[tuple[str, int], ...], rule: TaxRule) -> Json:
    rates = {c.jurisdiction: c.rate for c in rule.components}
    extra: Json = {}
    if rule.inclusive:
        extra["display_text"] = "Tax (included)"
    if breakdown:
        extra["breakdown"] = [
            {"jurisdiction": name, "rate": float(rates[name]), "amount": value} for name, value in breakdown
        ]
    return {**_total("tax", amount), **extra}


def _line(line: PricedLine, variant_id: str, title: str, rule: TaxRule) -> Json:
    totals = [_total("items_base_amount", line.base_amount)]
    if line.discount:
        totals.append(_total("items_discount", line.discount))
    totals += [
        _total("subtotal", line.subtotal),
        _tax_total(line.tax, tuple(p for p in line.tax_breakdown if p[1]), rule),
        _total("total", line.total),
    ]
    return {
        "id": line.id,
        "item": {"id": variant_id},
        "quantity": line.quantity,
        "name": title,
        "unit_amount": line.unit_amount,
        "totals": totals,
    }


def _session_totals(totals: Totals, evaluation: Evaluation) -> list[Json]:
    entries = [_total("items_base_amount", totals.items_base_amount)]
    if totals.items_discount:
        entries.append(_total("items_discount", totals.items_discount))
    entries.append(_total("subtotal", totals.subtotal))
    if evaluation.selected_option is not None:
        entries.append(_total("fulfillment", totals.fulfillment))
    breakdown = tuple(p for p in totals.tax_breakdown if p[1])
    entries.append(_tax_total(totals.tax, breakdown, evaluation.tax_rule))
    entries.append(_total("total", totals.total))
    return entries


def _option(option: Option, now: datetime) -> Json:
    rendered: Json = {
        "type": option.type,
        "id": option.id,
        "title": option.title,
        "totals": [{"type": "total", "display_text": option.title, "amount": option.amount}],
    }
    if option.type == "shipping":
        rendered["earliest_delivery_time"] = _time(now + timedelta(days=option.min_days))
        rendered["latest_delivery_time"] = _time(now + timedelta(days=option.max_days))
        if option.carrier:
            rendered["carrier"] = option.carrier
    return rendered


def _message(message: Message) -> Json:
    return {
        "type": message.type.value,
        "code": message.code,
        "param": message.param,
        "content_type": "plain",
        "content": message.text,
    }


def render_session(view: View, *, links: list[Json], now: datetime, locale: str = "en") -> Json:
    """The ``CheckoutSession`` object for ``view``."""
    record, evaluation = view.record, view.evaluation
    lines = {line.priced.id: line for line in evaluation.lines}
    body: Json = {
        "id": record.id,
        "status": view.status.value,
        "currency": record.currency.lower(),
        "line_items": [
            _line(line.priced, line.item.variant_id, line.item.title, evaluation.tax_rule)
            for line in lines.values()
        ],
        "totals": _session_totals(evaluation.totals, evaluation),
        "fulfillment_options": [_option(option, now) for option in evaluation.options],
        "messages": [_message(message) for message in evaluation.messages],
        "links": links,
        "capabilities": {},
        "created_at": _time(record.created_at),
        "updated_at": _time(record.updated_at),
        "expires_at": _time(record.expires_at),
    }
    chosen = next((o for o in evaluation.options if o.id == evaluation.selected_option), None)
    if chosen is not None:
        body["selected_fulfillment_options"] = [
            {"type": chosen.type, "option_id": chosen.id, "item_ids": list(lines)}
        ]
    if record.buyer is not None:
        body["buyer"] = record.buyer
    if record.fulfillment_details is not None:
        body["fulfillment_details"] = record.fulfillment_details
    if record.locale:
        body["locale"] = record.locale
    if record.session_metadata:
        body["metadata"] = record.session_metadata
    return body


def render_links(config_links: Any) -> list[Json]:
    """Policy links from the checkout configuration (``CheckoutConfig.links``)."""
    return [
        {"type": kind, "url": str(url)}
        for kind in ("terms_of_use", "privacy_policy", "return_policy")
        if (url := getattr(config_links, kind)) is not None
    ]
