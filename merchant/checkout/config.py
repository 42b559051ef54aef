"""The checkout sections of ``merchant.toml``: shipping zones, tax rules, links, the card handler.

The file itself (its root, loading and errors) is :mod:`merchant.merchant_config`. Amounts are
integer minor units of the shop currency; weights in grams.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, model_validator

from merchant.checkout.pricing import TaxComponent, TaxRule
from merchant.checkout.shipping import Band, Method, ShippingTable, Zone
from merchant.checkout.tax import TableTaxProvider

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


class ShippingConfig(_Strict):
    """``[[shipping.zones]]``: the first zone matching the destination wins."""

    zones: list[ZoneConfig] = []

    def table(self, currency: str) -> ShippingTable:
        zones = tuple(
            Zone(frozenset(z.countries), tuple(m.to_method() for m in z.methods), frozenset(z.regions))
            for z in self.zones
        )
        return ShippingTable(currency, zones)


TaxKey = Annotated[str, Field(pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")]


class TaxConfig(_Strict):
    """``[tax.rates.<COUNTRY or COUNTRY-REGION>]`` and ``[tax.default]`` (no tax when absent)."""

    rates: dict[TaxKey, TaxRuleConfig] = {}
    default: TaxRuleConfig | None = None

    def provider(self) -> TableTaxProvider:
        default = self.default.to_rule() if self.default else TableTaxProvider().default
        return TableTaxProvider({code: rule.to_rule() for code, rule in self.rates.items()}, default)
