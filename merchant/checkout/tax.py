"""Which tax applies at a destination: a configured table behind a small provider interface.

``TaxProvider`` is what checkout calls; ``TableTaxProvider`` answers from configuration (the
most specific match wins: country + region, then country, then the default). An external tax
service plugs in as another ``TaxProvider``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from merchant.checkout.pricing import NO_TAX, TaxRule


@dataclass(frozen=True, slots=True)
class Destination:
    country: str  # ISO 3166-1 alpha-2
    region: str | None = None  # ISO 3166-2 subdivision ("CA" or "US-CA")
    postal_code: str | None = None


class TaxProvider(Protocol):
    async def rule_for(self, destination: Destination) -> TaxRule: ...


@dataclass(frozen=True, slots=True)
class TableTaxProvider:
    """Rules keyed by ``"US"`` or ``"US-CA"``."""

    rules: Mapping[str, TaxRule] = field(default_factory=dict)
    default: TaxRule = NO_TAX

    def lookup(self, destination: Destination) -> TaxRule:
        country = destination.country.strip().upper()
        if destination.region:
            region = destination.region.strip().upper()
            code = region if region.startswith(f"{country}-") else f"{country}-{region}"
            if code in self.rules:
                return self.rules[code]
        return self.rules.get(country, self.default)

    async def rule_for(self, destination: Destination) -> TaxRule:
        return self.lookup(destination)
