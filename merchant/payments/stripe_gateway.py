"""The Stripe adapter of the payment gateway: shared payment tokens charged on the merchant's account.

shared/docs/payments-stripe.md is the reference: a PaymentIntent created and confirmed with the
token in ``payment_method_data[shared_payment_granted_token]``, the preview ``Stripe-Version``
sent on token calls only, ``error_on_requires_action`` (the agent side runs any authentication),
our own idempotency keys, a short timeout and our own retry policy (the SDK's is off, so one
policy decides what is retried and how long a buyer waits). A ``Retry-After`` on a 429 (or a 5xx)
sets the wait before the retry instead of the backoff, up to ``RetryPolicy.max_retry_after``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import stripe

from merchant.kit.retry_after import parse_retry_after
from merchant.payments.gateway import (
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    Decline,
    GatewayError,
    GatewayRejected,
    GatewayUnavailable,
    RefundResult,
    TokenInfo,
)

# The shared-payment-token surface is a preview API (payments-stripe.md §1.2): this version is
# sent on the calls that carry or read a token, the account default on everything else.
SPT_STRIPE_VERSION = "2026-04-22.preview"
TOKEN_PARAM = "payment_method_data[shared_payment_granted_token]"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3  # calls in all, the first included
    backoff: float = 0.25  # seconds before the first retry, doubling, with jitter
    max_backoff: float = 2.0
    max_retry_after: float = 10.0  # the longest Retry-After honoured (a longer one waits this long)

    def delay(self, attempt: int, exc: stripe.StripeError) -> float:
        """Seconds before retrying after failed ``attempt`` (1-based) ended by ``exc``."""
        headers = {str(name).lower(): value for name, value in (exc.headers or {}).items()}
        asked = parse_retry_after(headers.get("retry-after"))
        if asked is not None:
            return min(asked, self.max_retry_after)
        delay: float = min(self.max_backoff, self.backoff * 2.0 ** (attempt - 1))
        return delay * (0.5 + random.random() / 2)  # jitter


def stripe_client(api_key: str, *, api_base: str | None, timeout: float) -> stripe.StripeClient:
    """An async-capable client; the SDK's own retries are off (``StripeGateway`` retries)."""
    addresses: dict[str, str] = {"api": api_base.rstrip("/")} if api_base else {}
    return stripe.StripeClient(
        api_key,
        base_addresses=cast(Any, addresses),
        max_network_retries=0,
        http_client=stripe.HTTPXClient(timeout=timeout),
    )


def _retryable(exc: stripe.StripeError) -> bool:
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError):
        return True
    if exc.http_status == 409:  # a concurrent request with the same key: ask again
        return True
    if exc.http_status is not None and exc.http_status >= 500:
        return (exc.headers or {}).get("stripe-should-retry", "true") != "false"
    return False


def _unknown_outcome(exc: stripe.StripeError) -> bool:
    return isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError | stripe.APIError) or (
        exc.http_status is not None and (exc.http_status >= 500 or exc.http_status == 409)
    )


def _time(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None


def _plain(value: Any) -> Any:
    """A StripeObject as plain JSON data (dicts and lists)."""
    if isinstance(value, stripe.StripeObject):
        return {key: _plain(item) for key, item in value.to_dict().items()}
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _card(details: Mapping[str, Any] | None) -> dict[str, Any]:
    card = (details or {}).get("card") or {}
    keys = ("brand", "last4", "fingerprint", "country", "funding", "exp_month", "exp_year", "checks")
    return {key: card[key] for key in keys if card.get(key) is not None}


_STATUS = {
    "requires_capture": ChargeStatus.authorized,
    "succeeded": ChargeStatus.captured,
    "canceled": ChargeStatus.canceled,
    "requires_action": ChargeStatus.requires_action,
    "requires_payment_method": ChargeStatus.declined,
}


def _result(intent: Mapping[str, Any]) -> ChargeResult:
    charge = intent.get("latest_charge")
    charge = charge if isinstance(charge, Mapping) else {}
    status = _STATUS.get(str(intent.get("status")))
    if status is None:  # processing, requires_confirmation: not a state our flow produces
        raise GatewayError(
            f"PaymentIntent {intent.get('id')} is in the unexpected state {intent.get('status')}"
        )
    card_details = (charge.get("payment_method_details") or {}).get("card") or {}
    return ChargeResult(
        status=status,
        payment_intent_id=str(intent["id"]),
        charge_id=charge.get("id"),
        amount_captured=int(charge.get("amount_captured") or intent.get("amount_received") or 0),
        card=_card(charge.get("payment_method_details")),
        outcome=charge.get("outcome"),
        capture_before=_time(card_details.get("capture_before")),
        decline=_decline_of(intent) if status is ChargeStatus.declined else None,
    )


def _decline_of(intent: Mapping[str, Any]) -> Decline:
    error = intent.get("last_payment_error") or {}
    return Decline(
        code=str(error.get("code") or "card_declined"),
        decline_code=error.get("decline_code"),
        message=error.get("message"),
        advice_code=error.get("advice_code"),
    )


def _declined_by_card_error(exc: stripe.CardError) -> ChargeResult:
    error = exc.error
    intent = _plain(getattr(error, "payment_intent", None)) or {}
    code = str(exc.code or "card_declined")
    decline = Decline(
        code, getattr(error, "decline_code", None), exc.user_message, getattr(error, "advice_code", None)
    )
    status = ChargeStatus.requires_action if code == "authentication_required" else ChargeStatus.declined
    charge = intent.get("latest_charge") if isinstance(intent.get("latest_charge"), Mapping) else {}
    return ChargeResult(
        status=status,
        payment_intent_id=intent.get("id"),
        charge_id=charge.get("id") if charge else getattr(error, "charge", None),
        outcome=charge.get("outcome") if charge else None,
        decline=decline,
    )


def _credential_unusable(exc: stripe.InvalidRequestError) -> bool:
    """A 400 about the token, the amount or the currency: the credential cannot pay this total."""
    param = str(exc.param or "")
    return "shared_payment_granted_token" in param or param in {"amount", "currency"}


class StripeGateway:
    def __init__(self, client: stripe.StripeClient, *, retry: RetryPolicy | None = None) -> None:
        self.client = client
        self.retry = retry or RetryPolicy()
        self._intents = client.v1.payment_intents

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run ``operation`` under our retry policy; an unknown outcome ends as GatewayUnavailable."""
        for attempt in range(1, self.retry.attempts + 1):
            try:
                return await operation()
            except (stripe.AuthenticationError, stripe.PermissionError, stripe.IdempotencyError) as exc:
                raise GatewayError(f"Stripe refused our request: {exc.user_message or exc}") from exc
            except stripe.StripeError as exc:
                if not _retryable(exc) or attempt == self.retry.attempts:
                    if _unknown_outcome(exc):
                        raise GatewayUnavailable(f"Stripe did not answer: {exc.user_message or exc}") from exc
                    raise
                await asyncio.sleep(self.retry.delay(attempt, exc))
        raise AssertionError("unreachable")  # pragma: no cover

    async def inspect_token(self, token: str) -> TokenInfo | None:
        if not token.startswith("spt_"):
            return None  # another kind of credential: Stripe cannot describe it
        path = f"/v1/shared_payment/granted_tokens/{token}"

        async def fetch() -> Any:
            response = await self.client.raw_request_async("get", path, stripe_version=SPT_STRIPE_VERSION)
            return self.client.deserialize(response, api_mode="V1")

        try:
            granted = _plain(await self._call(fetch))
        except stripe.InvalidRequestError:
            return TokenInfo(usable=False, reason="unknown")
        limits = granted.get("usage_limits") or {}
        deactivated = granted.get("deactivated_reason") or (
            "deactivated" if granted.get("deactivated_at") else None
        )
        return TokenInfo(
            usable=deactivated is None,
            reason=deactivated,
            currency=(limits.get("currency") or "").lower() or None,
            max_amount=limits.get("max_amount"),
            expires_at=_time(limits.get("expires_at")),
            card=_card(granted.get("payment_method_details")),
            risk=(granted.get("risk_details") or {}).get("insights"),
        )

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        params: dict[str, Any] = {
            "amount": request.amount,
            "currency": request.currency.lower(),
            "confirm": True,
            "capture_method": request.capture_method,
            "payment_method_data": {"shared_payment_granted_token": request.token},
            "error_on_requires_action": True,
            "metadata": {
                "acp_checkout_session_id": request.checkout_session_id,
                "acp_attempt_id": request.attempt_id,
            },
            "expand": ["latest_charge"],
        }
        if request.email:
            params["receipt_email"] = request.email
        if request.description:
            params["description"] = request.description
        if request.shipping:
            params["shipping"] = dict(request.shipping)
        options: Any = {"idempotency_key": request.idempotency_key, "stripe_version": SPT_STRIPE_VERSION}
        try:
            intent = await self._call(lambda: self._intents.create_async(cast(Any, params), options))
        except stripe.CardError as exc:
            return _declined_by_card_error(exc)
        except stripe.InvalidRequestError as exc:
            if not _credential_unusable(exc):
                raise GatewayError(f"Stripe refused the charge: {exc.user_message or exc}") from exc
            return ChargeResult(
                ChargeStatus.declined, decline=Decline("credential_unusable", None, exc.user_message)
            )
        result = _result(_plain(intent))
        if result.status is ChargeStatus.requires_action and result.payment_intent_id:
            # The agent side authenticates; an intent parked here would only hold the money.
            key = f"{request.idempotency_key}-cancel"
            await self.cancel(result.payment_intent_id, reason="abandoned", idempotency_key=key)
            return ChargeResult(
                ChargeStatus.requires_action,
                result.payment_intent_id,
                decline=Decline("authentication_required"),
            )
        return result

    async def _intent(self, operation: Callable[[], Awaitable[Any]]) -> ChargeResult:
        try:
            return _result(_plain(await self._call(operation)))
        except stripe.InvalidRequestError as exc:
            raise GatewayRejected(exc.user_message or str(exc)) from exc

    async def capture(self, payment_intent_id: str, amount: int, *, idempotency_key: str) -> ChargeResult:
        params: Any = {"amount_to_capture": amount, "expand": ["latest_charge"]}
        options: Any = {"idempotency_key": idempotency_key}
        return await self._intent(lambda: self._intents.capture_async(payment_intent_id, params, options))

    async def cancel(self, payment_intent_id: str, *, reason: str, idempotency_key: str) -> ChargeResult:
        params: Any = {"cancellation_reason": reason, "expand": ["latest_charge"]}
        options: Any = {"idempotency_key": idempotency_key}
        return await self._intent(lambda: self._intents.cancel_async(payment_intent_id, params, options))

    async def refund(
        self, payment_intent_id: str, amount: int, *, reason: str, idempotency_key: str
    ) -> RefundResult:
        params: Any = {"payment_intent": payment_intent_id, "amount": amount, "reason": reason}
        options: Any = {"idempotency_key": idempotency_key}
        try:
            refund = await self._call(lambda: self.client.v1.refunds.create_async(params, options))
        except stripe.InvalidRequestError as exc:
            raise GatewayRejected(exc.user_message or str(exc)) from exc
        return RefundResult(str(refund.id), int(refund.amount), str(refund.status))

    async def find_charge(self, attempt_id: str) -> ChargeResult | None:
        query: Any = {"query": f"metadata['acp_attempt_id']:'{attempt_id}'", "expand": ["data.latest_charge"]}
        found = await self._call(lambda: self._intents.search_async(query))
        intents = [_plain(intent) for intent in found.data]
        return _result(intents[0]) if intents else None
