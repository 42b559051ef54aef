"""ACP 2026-04-17 wire format: render a canonical checkout session as the protocol's object.

The core (``checkout.service`` / ``checkout.evaluate``) knows nothing of this shape; other API
versions get their own module. Display texts are English for now (``locale`` is accepted so
translations can be added without changing callers).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from merchant.checkout.complete import (
    AUTHENTICATED_OUTCOMES,
    AuthenticationOutcome,
    CompleteRequest,
    PaymentInput,
    RiskInput,
)
from merchant.checkout.config import LinksConfig
from merchant.checkout.evaluate import Evaluation, Message, RequestedItem
from merchant.checkout.pricing import PricedLine, TaxRule, Totals
from merchant.checkout.service import Changes, NewSession, View
from merchant.checkout.shipping import Option
from merchant.kit.clock import rfc3339
from merchant.merchant_config import MerchantConfig

VERSION = "2026-04-17"
Json = dict[str, Any]
KNOWN_INTERVENTIONS = ("3ds", "biometric", "address_verification")
CARD_HANDLER = {  # the ACP tokenized-card handler (acp-spec.md §8.4)
    "name": "dev.acp.tokenized.card",
    "version": "2026-01-22",
    "spec": "https://acp.dev/handlers/tokenized.card",
    "config_schema": "https://acp.dev/schemas/handlers/tokenized.card/config.json",
    "instrument_schemas": ["https://acp.dev/schemas/handlers/tokenized.card/instrument.json"],
}

_TOTAL_TEXT = {
    "items_base_amount": "Items",
    "items_discount": "Item discounts",
    "subtotal": "Subtotal",
    "discount": "Discount",
    "fulfillment": "Shipping",
    "tax": "Tax",
    "total": "Total",
}


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
        rendered["earliest_delivery_time"] = rfc3339(now + timedelta(days=option.min_days))
        rendered["latest_delivery_time"] = rfc3339(now + timedelta(days=option.max_days))
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


def render_capabilities(config: MerchantConfig, agent_interventions: list[str]) -> Json:
    """Our payment handler, and the interventions both sides support (acp-spec.md §2.5)."""
    card = config.payments.card
    handler_config: Json = {
        "merchant_id": card.merchant_id,
        "psp": "stripe",
        "accepted_brands": list(card.accepted_brands),
        "accepted_funding_types": list(card.accepted_funding_types),
        "supports_3ds": card.supports_3ds,
        "environment": card.environment,
    }
    if card.merchant_display_name:
        handler_config["merchant_display_name"] = card.merchant_display_name
    handler = {
        "id": card.id,
        "display_name": card.display_name,
        "requires_delegate_payment": True,
        "requires_pci_compliance": False,
        "psp": "stripe",
        **CARD_HANDLER,
        "config": handler_config,
    }
    capabilities: Json = {"payment": {"handlers": [handler]}}
    seller = config.interventions
    if seller.supported or seller.required:
        interventions: Json = {"supported": [i for i in seller.supported if i in agent_interventions]}
        if seller.required:
            interventions["required"] = list(seller.required)
            interventions["enforcement"] = seller.enforcement
        capabilities["interventions"] = interventions
    return capabilities


def render_session(
    view: View, *, links: list[Json], now: datetime, locale: str = "en", capabilities: Json | None = None
) -> Json:
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
        "capabilities": capabilities or {},
        "created_at": rfc3339(record.created_at),
        "updated_at": rfc3339(record.updated_at),
        "expires_at": rfc3339(record.expires_at),
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


def render_links(config_links: LinksConfig) -> list[Json]:
    """Policy links from the checkout configuration (``[links]`` in merchant.toml)."""
    return [
        {"type": kind, "url": str(url)}
        for kind in ("terms_of_use", "privacy_policy", "return_policy")
        if (url := getattr(config_links, kind)) is not None
    ]


# -- requests --------------------------------------------------------------------------------------


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


# String caps where the schema gives none (NUL, surrogates and 16 KiB for any string: kit.json_guard).
Name = Annotated[str, Field(max_length=256)]
Phone = Annotated[str, Field(max_length=64)]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=320)]


def _rfc3339(value: str) -> str:
    """A ``date-time`` string is kept as sent, once it parses as an RFC 3339 timestamp with an offset."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an RFC 3339 date-time") from None
    if parsed.tzinfo is None:
        raise ValueError("must be an RFC 3339 date-time with a UTC offset")
    return value


DateTimeText = Annotated[str, Field(max_length=64), AfterValidator(_rfc3339)]


def _flat_value(value: Any) -> Any:
    if isinstance(value, str | int | float | bool):
        return value
    raise ValueError("must be a string, a number or a boolean")


FlatValue = Annotated[Any, AfterValidator(_flat_value)]


class ItemIn(_Closed):
    id: Annotated[str, Field(min_length=1, max_length=200)]
    name: Annotated[str, Field(max_length=1024)] | None = None
    unit_amount: int | None = None  # informative only: prices come from the catalog
    quantity: Annotated[int, Field(ge=1, le=10_000)] = 1  # not in the schema, but sent by agents (spec slip)


class AddressIn(_Closed):
    name: Annotated[str, Field(max_length=256)]
    line_one: Annotated[str, Field(max_length=256)]
    line_two: Annotated[str, Field(max_length=256)] | None = None
    city: Annotated[str, Field(max_length=128)]
    state: Annotated[str, Field(max_length=64)]
    country: Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")]
    postal_code: Annotated[str, Field(max_length=32)]
    company: Name | None = None


class FulfillmentDetailsIn(_Closed):
    name: Name | None = None
    phone_number: Phone | None = None
    email: Email | None = None
    address: AddressIn | None = None


class CompanyIn(_Closed):
    """``CompanyInfo``."""

    name: Name
    tax_id: Name | None = None
    department: Name | None = None
    cost_center: Name | None = None


class LoyaltyIn(_Closed):
    """``LoyaltyInfo``."""

    tier: Name | None = None
    points_balance: int | None = None
    member_since: DateTimeText | None = None


class TaxExemptionIn(_Closed):
    """``TaxExemption``."""

    certificate_id: Name
    certificate_type: Literal["resale", "exempt_organization", "government"]
    exempt_regions: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=100)] | None = None
    expires_at: DateTimeText | None = None


class BuyerIn(_Closed):
    email: Email
    first_name: Name | None = None
    last_name: Name | None = None
    full_name: Name | None = None
    phone_number: Phone | None = None
    customer_id: Name | None = None
    account_type: Literal["guest", "registered", "business"] | None = None
    authentication_status: Literal["authenticated", "guest", "requires_signin"] | None = None
    company: CompanyIn | None = None
    loyalty: LoyaltyIn | None = None
    tax_exemption: TaxExemptionIn | None = None


class AttributionSourceIn(_Closed):
    """``AffiliateAttributionSource``."""

    type: Literal["url", "platform", "unknown"]
    url: Annotated[str, Field(max_length=2048)] | None = None


class AffiliateAttributionIn(BaseModel):
    """``AffiliateAttribution`` (acp-spec.md §9.3): validated, not stored. Unknown fields are
    ignored, as the schema asks for forward compatibility."""

    model_config = ConfigDict(extra="ignore")

    provider: Name
    token: Annotated[str, Field(max_length=4096)] | None = None
    publisher_id: Name | None = None
    campaign_id: Name | None = None
    creative_id: Name | None = None
    sub_id: Name | None = None
    source: AttributionSourceIn | None = None
    issued_at: DateTimeText | None = None
    expires_at: DateTimeText | None = None
    metadata: dict[Name, FlatValue] | None = None
    touchpoint: Literal["first", "last"] | None = None

    @model_validator(mode="after")
    def _token_or_publisher(self) -> Self:
        if self.token is None and self.publisher_id is None:
            raise PydanticCustomError("missing", "token or publisher_id is required")
        return self


class SelectedOptionIn(_Closed):
    type: Literal["shipping", "digital", "pickup", "local_delivery"]
    option_id: Annotated[str, Field(min_length=1, max_length=256)]
    item_ids: list[Annotated[str, Field(max_length=256)]] = []


def _items(line_items: list[ItemIn] | None, legacy: list[ItemIn] | None) -> list[RequestedItem] | None:
    chosen = line_items if line_items is not None else legacy
    return None if chosen is None else [RequestedItem(item.id, item.quantity) for item in chosen]


def _dump(model: BaseModel | None) -> Json | None:
    return None if model is None else model.model_dump(exclude_none=True)


class CreateIn(_Closed):
    line_items: Annotated[list[ItemIn], Field(min_length=1)] | None = None
    items: Annotated[list[ItemIn], Field(min_length=1)] | None = None  # legacy name (spec slip)
    currency: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")]
    capabilities: dict[str, Any] | None = None  # required by the schema; accepted when missing
    buyer: BuyerIn | None = None
    fulfillment_details: FulfillmentDetailsIn | None = None
    fulfillment_groups: list[dict[str, Any]] | None = None
    affiliate_attribution: AffiliateAttributionIn | None = None
    coupons: list[Name] | None = None
    discounts: dict[str, Any] | None = None
    locale: Annotated[str, Field(max_length=35)] | None = None
    timezone: Annotated[str, Field(max_length=64)] | None = None
    quote_id: Name | None = None
    metadata: dict[str, Any] | None = None
    order_notes: Annotated[str, Field(max_length=5000)] | None = None

    @model_validator(mode="after")
    def _some_items(self) -> Self:
        if self.line_items is None and self.items is None:
            raise PydanticCustomError("missing", "line_items is required")
        return self

    def to_new_session(self) -> NewSession:
        interventions = ((self.capabilities or {}).get("interventions") or {}).get("supported") or []
        return NewSession(
            agent_interventions=[i for i in interventions if i in KNOWN_INTERVENTIONS],  # unknown: ignored
            items=_items(self.line_items, self.items) or [],
            currency=self.currency,
            buyer=_dump(self.buyer),
            fulfillment_details=_dump(self.fulfillment_details),
            locale=self.locale,
            order_notes=self.order_notes,
            metadata=self.metadata,
        )


class UpdateIn(_Closed):
    buyer: BuyerIn | None = None
    line_items: Annotated[list[ItemIn], Field(min_length=1)] | None = None
    items: Annotated[list[ItemIn], Field(min_length=1)] | None = None
    fulfillment_details: FulfillmentDetailsIn | None = None
    fulfillment_groups: list[dict[str, Any]] | None = None
    selected_fulfillment_options: list[SelectedOptionIn] | None = None
    coupons: list[Name] | None = None
    discounts: dict[str, Any] | None = None
    order_notes: Annotated[str, Field(max_length=5000)] | None = None

    def to_changes(self) -> Changes:
        """Absent fields keep the stored value; ``null`` clears it."""
        sent = self.model_fields_set
        changes: dict[str, Any] = {}
        if "line_items" in sent or "items" in sent:
            changes["items"] = _items(self.line_items, self.items) or []
        if "buyer" in sent:
            changes["buyer"] = _dump(self.buyer)
        if "fulfillment_details" in sent:
            changes["fulfillment_details"] = _dump(self.fulfillment_details)
        if "selected_fulfillment_options" in sent:
            options = self.selected_fulfillment_options or []
            changes["selected_option"] = options[0].option_id if options else None
        if "order_notes" in sent:
            changes["order_notes"] = self.order_notes
        return Changes(**changes)


class CredentialIn(BaseModel):
    model_config = ConfigDict(extra="ignore")  # the schema leaves the credential open

    type: Annotated[str, Field(min_length=1, max_length=64)]
    token: Annotated[str, Field(min_length=1, max_length=4096)]


class InstrumentIn(BaseModel):
    model_config = ConfigDict(extra="allow")  # the schema leaves the instrument open

    type: Annotated[str, Field(min_length=1, max_length=64)]
    credential: CredentialIn


class PaymentDataIn(_Closed):
    handler_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    instrument: InstrumentIn | None = None
    billing_address: AddressIn | None = None
    purchase_order_number: Annotated[str, Field(max_length=200)] | None = None
    payment_terms: Literal["immediate", "net_15", "net_30", "net_60", "net_90"] | None = None
    due_date: datetime | None = None
    approval_required: bool | None = None

    @model_validator(mode="after")
    def _handler_or_purchase_order(self) -> Self:
        if (self.handler_id is None or self.instrument is None) and self.purchase_order_number is None:
            missing = "instrument" if self.handler_id is not None else "handler_id"
            raise PydanticCustomError("missing", f"{missing} is required")
        return self


class RiskSignalsIn(_Closed):
    ip_address: Annotated[str, Field(max_length=64)] | None = None
    user_agent: Annotated[str, Field(max_length=1024)] | None = None
    accept_language: Annotated[str, Field(max_length=256)] | None = None
    session_id: Annotated[str, Field(max_length=256)] | None = None
    device_fingerprint: Annotated[str, Field(max_length=512)] | None = None


class AuthenticationDetailsIn(_Closed):
    three_ds_cryptogram: Annotated[str, Field(min_length=1, max_length=128)]
    electronic_commerce_indicator: Literal["01", "02", "05", "06", "07"]
    transaction_id: Annotated[str, Field(min_length=1, max_length=128)]
    version: Annotated[str, Field(min_length=1, max_length=16)]


class AuthenticationResultIn(_Closed):
    """The agent's 3-D Secure result (acp-spec.md §8.3); its outcome decides whether we charge."""

    outcome: AuthenticationOutcome
    outcome_details: AuthenticationDetailsIn | None = None

    @model_validator(mode="after")
    def _details_when_authenticated(self) -> Self:
        if self.outcome in AUTHENTICATED_OUTCOMES and self.outcome_details is None:
            raise PydanticCustomError(
                "missing", f"outcome_details is required when outcome is {self.outcome}"
            )
        return self


class CompleteIn(_Closed):
    payment_data: PaymentDataIn
    buyer: BuyerIn | None = None
    authentication_result: AuthenticationResultIn | None = None
    affiliate_attribution: AffiliateAttributionIn | None = None
    risk_signals: RiskSignalsIn | None = None
    marketing_consents: list[dict[str, Any]] | None = None
    order_notes: Annotated[str, Field(max_length=5000)] | None = None

    def to_request(self, forwarded: str | None) -> CompleteRequest:
        payment, risk = self.payment_data, self.risk_signals or RiskSignalsIn()
        instrument = payment.instrument
        return CompleteRequest(
            payment=PaymentInput(
                handler_id=payment.handler_id,
                instrument_type=instrument.type if instrument else None,
                credential_type=instrument.credential.type if instrument else None,
                token=instrument.credential.token if instrument else None,
                billing_address=_dump(payment.billing_address),
                purchase_order_number=payment.purchase_order_number,
            ),
            buyer=_dump(self.buyer),
            order_notes=self.order_notes,
            authentication_outcome=self.authentication_result.outcome if self.authentication_result else None,
            risk=RiskInput(
                ip_address=risk.ip_address,
                user_agent=risk.user_agent,
                accept_language=risk.accept_language,
                session_id=risk.session_id,
                device_fingerprint=risk.device_fingerprint,
                forwarded=forwarded,
            ),
        )


class CancelIn(BaseModel):
    """Cancel carries optional context (intent traces); nothing in it changes the outcome."""

    model_config = ConfigDict(extra="allow")
