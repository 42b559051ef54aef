"""The merchant's checkout configuration: currency, shipping zones, tax rules, policy links.

Read from the YAML (or JSON) file named by ``MERCHANT_CHECKOUT_CONFIG``; without it a small
development default applies (US only, flat shipping, no tax). Amounts are integer minor units
of ``currency``; weights in grams. Example::

    currency: USD
    session_ttl_minutes: 30
    links:
      terms_of_use: https://shop.example/terms
    card_handler:                        # the Stripe tokenized-card handler agents pay with
      merchant_id: acct_1234567890
      accepted_brands: [visa, mastercard, amex]
      environment: production
    interventions: {supported: [3ds, address_verification]}
    shipping:
      - countries: [US]
        regions: [US-AK, US-HI]          # optional; list regions before their whole country
        methods:
          - {id: remote, title: Remote post, flat: 2500, min_days: 5, max_days: 10}
      - countries: [US, CA]
        methods:
          - id: standard
            title: Standard
            by_weight_grams: [{up_to: 1000, amount: 500}, {up_to: 5000, amount: 900}]
            free_from_subtotal: 10000
          - {id: express, title: Express, flat: 1500, min_days: 1, max_days: 2, carrier: UPS}
    tax:
      US-CA: {components: [{jurisdiction: US-CA, rate: 0.0725}], shipping_taxable: false}
      DE: {components: [{jurisdiction: DE, rate: 0.19}], inclusive: true, shipping_taxable: true}
"""

from __future__ import annotations

from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from merchant.checkout.pricing import TaxComponent, TaxRule
from merchant.checkout.shipping import Band, Method, ShippingTable, Zone
from merchant.checkout.tax import TableTaxProvider
from merchant.config import ConfigurationError
from merchant.kit.money import currency_code

Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
Region = Annotated[str, Field(pattern=r"^[A-Z]{2}-[A-Z0-9]{1,3}$")]
Amount = Annotated[int, Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BandConfig(_Strict):
    up_to: Amount | None = None  # inclusive; omitted = no upper limit
    amount: Amount


class MethodConfig(_Strict):
    id: Annotated[str, Field(min_length=1, max_length=64)]
    title: Annotated[str, Field(min_length=1, max_length=200)]
    carrier: str | None = None
    flat: Amount | None = None
    by_weight_grams: list[BandConfig] = []
    by_subtotal: list[BandConfig] = []
    free_from_subtotal: Amount | None = None
    min_days: Annotated[int, Field(ge=0, le=365)] = 1
    max_days: Annotated[int, Field(ge=0, le=365)] = 5

    def to_method(self) -> Method:
        def bands(items: list[BandConfig]) -> tuple[Band, ...]:
            return tuple(Band(b.up_to, b.amount) for b in items)

        return Method(
            id=self.id,
            title=self.title,
            flat=self.flat,
            by_weight=bands(self.by_weight_grams),
            by_subtotal=bands(self.by_subtotal),
            free_from_subtotal=self.free_from_subtotal,
            min_days=self.min_days,
            max_days=self.max_days,
            carrier=self.carrier,
        )

    @model_validator(mode="after")
    def _one_pricing(self) -> Self:
        self.to_method()  # raises ValueError with the reason
        return self


class ZoneConfig(_Strict):
    countries: Annotated[list[Country], Field(min_length=1)]
    regions: list[Region] = []
    methods: Annotated[list[MethodConfig], Field(min_length=1)]


class TaxComponentConfig(_Strict):
    jurisdiction: Annotated[str, Field(min_length=1, max_length=64)]
    rate: Annotated[Decimal, Field(ge=0, le=1)]


class TaxRuleConfig(_Strict):
    components: list[TaxComponentConfig]
    inclusive: bool = False
    shipping_taxable: bool = False

    def to_rule(self) -> TaxRule:
        components = tuple(TaxComponent(c.jurisdiction, c.rate) for c in self.components)
        return TaxRule(components, self.inclusive, self.shipping_taxable)


class LinksConfig(_Strict):
    terms_of_use: AnyHttpUrl | None = None
    privacy_policy: AnyHttpUrl | None = None
    return_policy: AnyHttpUrl | None = None


Brand = Literal["visa", "mastercard", "amex", "discover", "diners", "jcb", "unionpay"]
Intervention = Literal["3ds", "biometric", "address_verification"]


class CardHandlerConfig(_Strict):
    """The Stripe tokenized-card payment handler offered to agents (``dev.acp.tokenized.card``)."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = "card_tokenized"
    display_name: Annotated[str, Field(max_length=128)] = "Credit or debit card"
    merchant_id: Annotated[str, Field(min_length=1, max_length=256)] = "acct_development"  # Stripe account
    merchant_display_name: str | None = None
    accepted_brands: Annotated[list[Brand], Field(min_length=1)] = ["visa", "mastercard", "amex", "discover"]
    accepted_funding_types: list[Literal["credit", "debit", "prepaid"]] = ["credit", "debit"]
    supports_3ds: bool = False
    environment: Literal["sandbox", "production"] = "sandbox"


class InterventionsConfig(_Strict):
    supported: list[Intervention] = []
    required: list[Literal["3ds", "biometric"]] = []
    enforcement: Literal["always", "conditional", "optional"] = "conditional"


class CheckoutConfig(_Strict):
    currency: str = "USD"
    session_ttl_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 30
    links: LinksConfig = LinksConfig()
    card_handler: CardHandlerConfig = CardHandlerConfig()
    interventions: InterventionsConfig = InterventionsConfig()
    shipping: list[ZoneConfig] = []
    tax: dict[Annotated[str, Field(pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")], TaxRuleConfig] = {}
    default_tax: TaxRuleConfig | None = None

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return currency_code(value)

    @cached_property
    def _shipping_table(self) -> ShippingTable:
        zones = tuple(
            Zone(frozenset(z.countries), tuple(m.to_method() for m in z.methods), frozenset(z.regions))
            for z in self.shipping
        )
        return ShippingTable(self.currency, zones)

    def shipping_table(self) -> ShippingTable:
        return self._shipping_table

    @cached_property
    def _tax_provider(self) -> TableTaxProvider:
        default = self.default_tax.to_rule() if self.default_tax else TableTaxProvider().default
        return TableTaxProvider({code: rule.to_rule() for code, rule in self.tax.items()}, default)

    def tax_provider(self) -> TableTaxProvider:
        """Built once per configuration (the configuration is immutable)."""
        return self._tax_provider


DEVELOPMENT_DEFAULT: dict[str, Any] = {
    "currency": "USD",
    "shipping": [
        {
            "countries": ["US"],
            "methods": [
                {"id": "standard", "title": "Standard shipping", "flat": 500, "free_from_subtotal": 5000},
                {"id": "express", "title": "Express shipping", "flat": 1500, "min_days": 1, "max_days": 2},
            ],
        }
    ],
}


def load_checkout_config(path: Path | None) -> CheckoutConfig:
    """The configuration in ``path`` (YAML or JSON), or the development default."""
    if path is None:
        return CheckoutConfig.model_validate(DEVELOPMENT_DEFAULT)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read the checkout configuration {path}: {exc}") from None
    try:
        return CheckoutConfig.model_validate(data or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(root)'}: {error['msg']}" for error in exc.errors()
        )
        raise ConfigurationError(f"invalid checkout configuration {path}: {problems}") from None
