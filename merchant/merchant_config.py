"""``merchant.toml``: the merchant's own configuration, one documented file.

Shop identity, policy links, payment handlers, shipping rate tables, tax rates and the session
lifetime live here; service settings (database, ports, secrets) stay in ``MERCHANT_*`` environment
variables (:mod:`merchant.config`). The path comes from ``MERCHANT_CONFIG``; without it the built-in
defaults apply (a US shop with flat shipping and no tax), which is what the demo runs on.

The file is read once at start and validated as a whole: every wrong key is reported with its
dotted path and the problem, and the service does not start. ``merchant.example.toml`` at the
repository root documents every key.
"""

from __future__ import annotations

import functools
import tomllib
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, ValidationError, field_validator

from merchant.checkout.config import (
    CardHandlerConfig,
    InterventionsConfig,
    LinksConfig,
    ShippingConfig,
    TaxConfig,
)
from merchant.checkout.shipping import ShippingTable
from merchant.checkout.tax import TableTaxProvider
from merchant.config import ConfigurationError, Settings
from merchant.fraud.config import FraudConfig
from merchant.kit.money import currency_code


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ShopConfig(_Section):
    name: Annotated[str, Field(min_length=1, max_length=200)] = "Merchant demo shop"
    # ISO 4217; catalog prices and sessions are in this currency.
    currency: str = "USD"
    # Where agents reach this service (discovery `api_base_url`, order permalinks);
    # MERCHANT_PUBLIC_URL overrides it. Required (https) in production; unset elsewhere: our bind
    # address. Never the Host header of a request.
    public_url: AnyHttpUrl | None = None

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return currency_code(value)


class CheckoutConfig(_Section):
    session_ttl_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 30


class PaymentsConfig(_Section):
    # When the charge is captured: "auto" = at fulfilment (manual) when the cart has physical
    # goods, at once (automatic) for digital-only carts; or always "manual" / "automatic".
    # Orders held for fraud review are always authorized only.
    capture: Literal["auto", "manual", "automatic"] = "auto"
    # Card authorizations lapse (about 7 days; Stripe's capture_before). This long before that,
    # an order still not captured is reported ("alert": logged for staff, once) or canceled
    # ("cancel": the authorization released, the stock returned, the agent told).
    authorization_deadline_hours: Annotated[int, Field(ge=1, le=24 * 6)] = 24
    authorization_deadline_action: Literal["alert", "cancel"] = "alert"
    card: CardHandlerConfig = CardHandlerConfig()


class MerchantConfig(_Section):
    shop: ShopConfig = ShopConfig()
    checkout: CheckoutConfig = CheckoutConfig()
    links: LinksConfig = LinksConfig()
    payments: PaymentsConfig = PaymentsConfig()
    interventions: InterventionsConfig = InterventionsConfig()
    shipping: ShippingConfig = ShippingConfig()
    tax: TaxConfig = TaxConfig()
    fraud: FraudConfig = FraudConfig()

    @cached_property
    def _shipping_table(self) -> ShippingTable:
        return self.shipping.table(self.shop.currency)

    def shipping_table(self) -> ShippingTable:
        """Built once per configuration (the configuration is immutable)."""
        return self._shipping_table

    @cached_property
    def _tax_provider(self) -> TableTaxProvider:
        return self.tax.provider()

    def tax_provider(self) -> TableTaxProvider:
        return self._tax_provider


# The built-in defaults: enough for `merchant serve` and `merchant demo` to sell to a US address.
DEFAULTS = """
[[shipping.zones]]
countries = ["US"]
methods = [
  { id = "standard", title = "Standard shipping", flat = 500, free_from_subtotal = 5000 },
  { id = "express", title = "Express shipping", flat = 1500, min_days = 1, max_days = 2 },
]
"""


def load_merchant_config(path: Path | None) -> MerchantConfig:
    """The configuration in ``path`` (TOML), or the built-in defaults when ``path`` is None."""
    if path is None:
        return parse_merchant_config(tomllib.loads(DEFAULTS, parse_float=Decimal), source="(defaults)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read the merchant configuration {path}: {exc}") from None
    return parse_merchant_config(data, source=str(path))


def parse_merchant_config(data: dict[str, Any], *, source: str = "merchant.toml") -> MerchantConfig:
    try:
        return MerchantConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{_dotted(error['loc'])}: {error['msg']}" for error in exc.errors())
        raise ConfigurationError(f"invalid merchant configuration {source}: {problems}") from None


def _dotted(location: tuple[int | str, ...]) -> str:
    """``('shipping', 'zones', 0, 'countries', 1)`` -> ``shipping.zones[0].countries[1]``."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(root)"


def configured_public_url(settings: Settings, config: MerchantConfig) -> str | None:
    """``MERCHANT_PUBLIC_URL``, else ``[shop] public_url`` (no trailing ``/``); None when neither."""
    url = settings.public_url or config.shop.public_url
    return None if url is None else str(url).rstrip("/")


def public_base(settings: Settings, config: MerchantConfig) -> str:
    """Where agents and buyers reach us: the configured public URL, else (never in production: it
    refuses to start without one) our own bind address. Never a request's Host header."""
    configured = configured_public_url(settings, config)
    if configured is not None:
        return configured
    host = "127.0.0.1" if settings.host in ("", "0.0.0.0", "::") else settings.host
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.port}"


@functools.cache
def current_merchant_config() -> MerchantConfig:
    """The configuration named by the settings, loaded once per process (jobs, commands)."""
    from merchant.config import get_settings

    return load_merchant_config(get_settings().config)
