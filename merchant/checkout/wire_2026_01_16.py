"""ACP 2026-01-16 and 2025-12-12 wire formats, as their differences from 2026-04-17 (acp-spec.md §1.1).

Requests: ``items[{id, quantity}]`` (no ``currency``: sessions are in the shop's currency, no
``capabilities``), ``Buyer{first_name, last_name, email, phone_number?}``, nested
``selected_fulfillment_options[{type, shipping|digital: {option_id, item_ids}}]`` and
``payment_data{token, provider: "stripe", billing_address?}`` (the token is a Stripe shared payment
token, charged through our card handler as a 2026-04-17 ``spt`` credential). Responses:
``payment_provider`` instead of ``capabilities``/``protocol``, line items with flat integer amounts,
fulfillment options with ``totals`` (2026-01-16) or ``subtitle``/``total`` (2025-12-12), the
``Order{id, checkout_session_id, permalink_url}``. Closed enums are down-mapped: status
``expired`` -> ``canceled`` (the session can no longer be paid, as a canceled one), warnings ->
``info`` messages, message error codes outside the enum -> ``invalid``; totals and links of other
types are left out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from merchant.checkout import wire_2026_01_30 as v2026_01_30
from merchant.checkout import wire_2026_04_17 as newer
from merchant.checkout.complete import CompleteRequest, PaymentInput, RiskInput
from merchant.checkout.evaluate import RequestedItem
from merchant.checkout.service import Changes, NewSession, View
from merchant.merchant_config import MerchantConfig

VERSION = "2026-01-16"
VERSION_2025_12_12 = "2025-12-12"
Json = dict[str, Any]
SHOP_CURRENCY = ""  # ``NewSession.currency`` when the request names none: the shop's (checkout.wire)
_CARD_NETWORKS = ("amex", "discover", "mastercard", "visa")
_STATUS = {"expired": "canceled"}
_MESSAGE_CODES = {
    "missing",
    "invalid",
    "out_of_stock",
    "payment_declined",
    "requires_sign_in",
    "requires_3ds",
}
_TOTAL_TYPES = {
    "items_base_amount",
    "items_discount",
    "subtotal",
    "discount",
    "fulfillment",
    "tax",
    "fee",
    "total",
}
_LINK_TYPES = {"terms_of_use", "privacy_policy", "return_policy"}
_BUYER_FIELDS = ("first_name", "last_name", "email", "phone_number")
_LINE_DISPLAY_FIELDS = ("name", "unit_amount", "images")
# This version's 3-D Secure outcomes, as the canonical (2026-04-17) ones.
_OUTCOMES = {
    "authenticated": "authenticated",
    "failed": "denied",
    "unavailable": "not_supported",
    "rejected": "rejected",
    "attempt": "attempt_acknowledged",
}


# -- requests --------------------------------------------------------------------------------------


class ItemIn(newer._Closed):
    id: Annotated[str, Field(min_length=1, max_length=200)]
    quantity: Annotated[int, Field(ge=1, le=10_000)]


class BuyerIn(newer._Closed):
    first_name: newer.Name
    last_name: newer.Name
    email: newer.Email
    phone_number: newer.Phone | None = None


class SelectedIn(newer._Closed):
    option_id: Annotated[str, Field(min_length=1, max_length=256)]
    item_ids: list[Annotated[str, Field(max_length=256)]]


class SelectedOptionIn(newer._Closed):
    type: Literal["shipping", "digital"]
    shipping: SelectedIn | None = None
    digital: SelectedIn | None = None

    @model_validator(mode="after")
    def _matching_detail(self) -> Self:
        if getattr(self, self.type) is None:
            raise PydanticCustomError("missing", f"{self.type} is required when type is {self.type}")
        return self

    @property
    def option_id(self) -> str:
        chosen = self.shipping if self.type == "shipping" else self.digital
        return chosen.option_id if chosen else ""


def _items(items: list[ItemIn]) -> list[RequestedItem]:
    return [RequestedItem(item.id, item.quantity) for item in items]


class CreateIn(newer._Closed):
    items: Annotated[list[ItemIn], Field(min_length=1)]
    buyer: BuyerIn | None = None
    fulfillment_details: v2026_01_30.FulfillmentDetailsIn | None = None
    affiliate_attribution: newer.AffiliateAttributionIn | None = None

    def to_new_session(self) -> NewSession:
        return NewSession(
            items=_items(self.items),
            currency=SHOP_CURRENCY,
            buyer=newer._dump(self.buyer),
            fulfillment_details=newer._dump(self.fulfillment_details),
        )


class UpdateIn(newer._Closed):
    buyer: BuyerIn | None = None
    items: list[ItemIn] | None = None
    fulfillment_details: v2026_01_30.FulfillmentDetailsIn | None = None
    selected_fulfillment_options: list[SelectedOptionIn] | None = None

    def to_changes(self) -> Changes:
        """Absent fields keep the stored value; ``null`` clears it."""
        sent = self.model_fields_set
        changes: dict[str, Any] = {}
        if "items" in sent:
            changes["items"] = _items(self.items or [])
        if "buyer" in sent:
            changes["buyer"] = newer._dump(self.buyer)
        if "fulfillment_details" in sent:
            changes["fulfillment_details"] = newer._dump(self.fulfillment_details)
        if "selected_fulfillment_options" in sent:
            options = self.selected_fulfillment_options or []
            changes["selected_option"] = options[0].option_id if options else None
        return Changes(**changes)


class PaymentDataIn(newer._Closed):
    token: Annotated[str, Field(min_length=1, max_length=4096)]
    provider: Literal["stripe"]
    billing_address: v2026_01_30.AddressIn | None = None


class AuthenticationResultIn(newer._Closed):
    outcome: Literal["authenticated", "failed", "unavailable", "rejected", "attempt"]
    outcome_details: newer.AuthenticationDetailsIn | None = None


class CompleteIn(newer._Closed):
    payment_data: PaymentDataIn
    buyer: BuyerIn | None = None
    affiliate_attribution: newer.AffiliateAttributionIn | None = None
    authentication_result: AuthenticationResultIn | None = None

    def to_request(self, forwarded: str | None, handler_id: str) -> CompleteRequest:
        payment, result = self.payment_data, self.authentication_result
        return CompleteRequest(
            payment=PaymentInput(
                handler_id=handler_id,
                instrument_type="card",
                credential_type="spt",
                token=payment.token,
                billing_address=newer._dump(payment.billing_address),
            ),
            buyer=newer._dump(self.buyer),
            authentication_outcome=_OUTCOMES[result.outcome] if result else None,  # type: ignore[arg-type]
            risk=RiskInput(forwarded=forwarded),
        )


# -- responses -------------------------------------------------------------------------------------


def render_capabilities(config: MerchantConfig, agent_interventions: list[str]) -> Json:
    """``payment_provider`` (the key ``capabilities`` has in 2026-04-17's ``render_session``)."""
    card = config.payments.card
    networks = [brand for brand in card.accepted_brands if brand in _CARD_NETWORKS]
    return {
        "provider": "stripe",
        "merchant_id": card.merchant_id,
        "supported_payment_methods": [{"type": "card", "supported_card_networks": networks}],
    }


def render_capabilities_2025_12_12(config: MerchantConfig, agent_interventions: list[str]) -> Json:
    """2025-12-12's ``PaymentProvider`` has no ``merchant_id``."""
    provider = render_capabilities(config, agent_interventions)
    del provider["merchant_id"]
    return provider


def _amount(totals: list[Json], kind: str) -> int:
    return sum(int(t["amount"]) for t in totals if t["type"] == kind)


def _line(line: Json) -> Json:
    totals = line["totals"]
    flat: Json = {
        "id": line["id"],
        "item": {"id": line["item"]["id"], "quantity": line["quantity"]},
        "base_amount": _amount(totals, "items_base_amount"),
        "discount": _amount(totals, "items_discount"),
        "subtotal": _amount(totals, "subtotal"),
        "tax": _amount(totals, "tax"),
        "total": _amount(totals, "total"),
    }
    return flat | {key: line[key] for key in _LINE_DISPLAY_FIELDS if key in line}


def _option(option: Json, *, flat_totals: bool) -> Json:
    if option["type"] not in ("shipping", "digital"):
        return {}
    rendered = {k: v for k, v in option.items() if k != "totals"}
    totals = [t for t in option["totals"] if t["type"] in _TOTAL_TYPES]
    if flat_totals:  # 2025-12-12
        return rendered | {"total": _amount(totals, "total")}
    return rendered | {"totals": totals}


def _message(message: Json) -> Json:
    if message["type"] != "error":
        return {k: v for k, v in message.items() if k != "code"} | {"type": "info"}
    code = message["code"] if message["code"] in _MESSAGE_CODES else "invalid"
    return {**message, "code": code}


def _buyer(buyer: Json) -> Json | None:
    kept = {key: buyer[key] for key in _BUYER_FIELDS if buyer.get(key)}
    return kept if {"first_name", "last_name", "email"} <= set(kept) else None


def _render(
    view: View, *, links: list[Json], now: datetime, locale: str, capabilities: Json | None, flat: bool
) -> Json:
    full = newer.render_session(view, links=links, now=now, locale=locale)
    body: Json = {
        "id": full["id"],
        "status": _STATUS.get(full["status"], full["status"]),
        "currency": full["currency"],
        "line_items": [_line(line) for line in full["line_items"]],
        "totals": [t for t in full["totals"] if t["type"] in _TOTAL_TYPES],
        "fulfillment_options": [
            o for o in (_option(o, flat_totals=flat) for o in full["fulfillment_options"]) if o
        ],
        "messages": [_message(m) for m in full["messages"]],
        "links": [link for link in links if link["type"] in _LINK_TYPES],
    }
    if capabilities:
        body["payment_provider"] = capabilities
    for chosen in full.get("selected_fulfillment_options", []):
        if chosen["type"] in ("shipping", "digital"):
            detail = {"option_id": chosen["option_id"], "item_ids": chosen["item_ids"]}
            body["selected_fulfillment_options"] = [{"type": chosen["type"], chosen["type"]: detail}]
    if "buyer" in full and (buyer := _buyer(full["buyer"])) is not None:
        body["buyer"] = buyer
    if "fulfillment_details" in full:
        details = v2026_01_30._without_company(full["fulfillment_details"])
        body["fulfillment_details"] = {
            k: v for k, v in details.items() if k in newer.FulfillmentDetailsIn.model_fields
        }
    return body


def render_session(
    view: View, *, links: list[Json], now: datetime, locale: str = "en", capabilities: Json | None = None
) -> Json:
    """The 2026-01-16 ``CheckoutSession`` object for ``view`` (also one created in another version)."""
    return _render(view, links=links, now=now, locale=locale, capabilities=capabilities, flat=False)


def render_session_2025_12_12(
    view: View, *, links: list[Json], now: datetime, locale: str = "en", capabilities: Json | None = None
) -> Json:
    """2025-12-12's: 2026-01-16's with ``subtitle``/``total`` fulfillment options."""
    return _render(view, links=links, now=now, locale=locale, capabilities=capabilities, flat=True)
