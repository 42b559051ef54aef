"""The payment gateway port: what checkout and orders need from a PSP, in our own terms.

The checkout core never sees PSP objects. ``StripeGateway`` is the one adapter today (Stripe
shared payment tokens); another PSP's delegated tokens would be another adapter. Every call that
moves money takes an idempotency key derived from our own rows, so a retry after a crash or a
timeout reuses it and the PSP answers with the first result instead of acting twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, Protocol

CaptureMethod = Literal["manual", "automatic"]


class ChargeStatus(StrEnum):
    authorized = "authorized"  # manual capture: the money is held
    captured = "captured"  # automatic capture, or captured later
    declined = "declined"  # the card or the credential was refused: nothing happened
    requires_action = "requires_action"  # issuer authentication needed; the intent was canceled
    canceled = "canceled"


@dataclass(frozen=True, slots=True)
class Decline:
    """Why a charge was refused, kept for operations (never shown raw to the buyer)."""

    code: str  # card_declined, expired_card, ..., credential_unusable
    decline_code: str | None = None  # insufficient_funds, fraudulent, ...
    message: str | None = None  # the PSP's text, for staff
    advice_code: str | None = None


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What the PSP says about a delegated credential before we charge it."""

    usable: bool
    reason: str | None = None  # why not: expired, revoked, consumed, ...
    currency: str | None = None  # lower-case ISO 4217
    max_amount: int | None = None
    expires_at: datetime | None = None
    card: Mapping[str, Any] = field(default_factory=dict)  # brand, last4, fingerprint, country, funding
    risk: Mapping[str, Any] | None = None  # risk_details.insights


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    attempt_id: str
    checkout_session_id: str
    token: str
    amount: int  # minor units
    currency: str  # ISO 4217, any case
    capture_method: CaptureMethod
    idempotency_key: str
    email: str | None = None
    description: str | None = None
    shipping: Mapping[str, Any] | None = None  # name + address, for the PSP's risk checks


@dataclass(frozen=True, slots=True)
class ChargeResult:
    status: ChargeStatus
    payment_intent_id: str | None = None
    charge_id: str | None = None
    amount_captured: int = 0
    card: Mapping[str, Any] = field(default_factory=dict)
    outcome: Mapping[str, Any] | None = None  # the PSP's risk outcome (Stripe Radar)
    capture_before: datetime | None = None
    decline: Decline | None = None


@dataclass(frozen=True, slots=True)
class RefundResult:
    refund_id: str
    amount: int
    status: str  # pending | succeeded | failed


class GatewayUnavailable(Exception):
    """The PSP could not be reached or answered with a server error: the outcome is unknown.

    Whatever was asked may or may not have happened; repeat it with the same idempotency key.
    """


class GatewayError(Exception):
    """The PSP refused the request as malformed or our configuration is wrong (a bug or a
    misconfiguration, not the buyer's problem)."""


class GatewayRejected(Exception):
    """The PSP refused an operation on an existing payment (wrong state, amount too large)."""


class PaymentGateway(Protocol):
    async def inspect_token(self, token: str) -> TokenInfo | None:
        """Details of a delegated credential, or None when the PSP cannot tell."""

    async def charge(self, request: ChargeRequest) -> ChargeResult: ...

    async def capture(self, payment_intent_id: str, amount: int, *, idempotency_key: str) -> ChargeResult: ...

    async def cancel(self, payment_intent_id: str, *, reason: str, idempotency_key: str) -> ChargeResult: ...

    async def refund(
        self, payment_intent_id: str, amount: int, *, reason: str, idempotency_key: str
    ) -> RefundResult: ...

    async def find_charge(self, attempt_id: str) -> ChargeResult | None:
        """The payment made for ``attempt_id`` (by the metadata we attach), if any."""
