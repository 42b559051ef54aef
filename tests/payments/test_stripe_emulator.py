"""The Stripe emulator, driven only through the real stripe library (sync: requests, async: httpx)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import pytest
import stripe

from merchant.payments.stripe_emulator import TOKEN_PARAM, StripeEmulator

API_KEY = "sk_test_emulator"
PREVIEW = "2026-04-22.preview"
ENDPOINT_SECRET = "whsec_test_endpoint"
# stripe 16.1.0's HTTPXClient posts its form body with httpx's deprecated ``data=<bytes>``.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload raw bytes:DeprecationWarning")


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[StripeEmulator]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # proxy settings must not capture loopback
    monkeypatch.setattr(stripe.HTTPClient, "INITIAL_DELAY", 0.01)  # the SDK's retry backoff, for speed
    with StripeEmulator(webhook_secret=ENDPOINT_SECRET) as emulator:
        yield emulator


def sync_client(emu: StripeEmulator, *, retries: int = 0, timeout: float = 5.0) -> stripe.StripeClient:
    return stripe.StripeClient(
        API_KEY,
        base_addresses={"api": emu.url},
        max_network_retries=retries,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


def async_client(
    emu: StripeEmulator, *, retries: int = 0, timeout: float = 5.0, key: str = API_KEY
) -> stripe.StripeClient:
    return stripe.StripeClient(
        key,
        base_addresses={"api": emu.url},
        max_network_retries=retries,
        http_client=stripe.HTTPXClient(timeout=timeout),
    )


def charge_params(token: str, amount: int = 1500, *, capture: str = "manual", **extra: Any) -> Any:
    params: dict[str, Any] = {
        "amount": amount,
        "currency": "usd",
        "confirm": True,
        "capture_method": capture,
        "payment_method_data": {"shared_payment_granted_token": token},
        "error_on_requires_action": True,
        "metadata": {"acp_attempt_id": "att_1"},
        "expand": ["latest_charge"],
    }
    return cast(Any, params | extra)


def spt_options(key: str = "acp-pay-1") -> Any:
    return cast(Any, {"idempotency_key": key, "stripe_version": PREVIEW})


def posts(emu: StripeEmulator, path: str = "/v1/payment_intents") -> list[tuple[int | None, str | None]]:
    return [(e.status, e.idempotency_key) for e in emu.journal if e.method == "POST" and e.path == path]


def event_types(emu: StripeEmulator) -> list[str]:
    return [e["type"] for e in emu.events()]


def replayed(obj: stripe.StripeObject) -> str | None:
    """The Idempotent-Replayed header of the response that built ``obj``."""
    assert obj.last_response is not None
    return obj.last_response.headers.get("idempotent-replayed")


# -- granted tokens and the happy paths -------------------------------------------------------------


def test_a_token_minted_over_http_reads_back_with_limits_risk_and_card(emu: StripeEmulator) -> None:
    client = sync_client(emu)
    created = client.raw_request(
        "post",
        "/v1/test_helpers/shared_payment/granted_tokens",
        payment_method="pm_card_visa",
        usage_limits={"currency": "usd", "max_amount": 5000, "expires_at": int(time.time()) + 600},
        stripe_version=PREVIEW,
    )
    token_id = str(json.loads(created.body)["id"])
    fetched = client.raw_request(
        "get", f"/v1/shared_payment/granted_tokens/{token_id}", stripe_version=PREVIEW
    )
    token = json.loads(fetched.body)
    assert token_id.startswith("spt_")
    assert (token["object"], token["livemode"], token["deactivated_reason"]) == (
        "shared_payment.granted_token",
        False,
        None,
    )
    assert (token["usage_limits"]["currency"], token["usage_limits"]["max_amount"]) == ("usd", 5000)
    assert token["usage_details"]["amount_captured"] == {"currency": "usd", "value": 0}
    card = token["payment_method_details"]["card"]
    assert (card["brand"], card["last4"], card["checks"]["cvc_check"]) == ("visa", "4242", "pass")
    assert set(token["risk_details"]["insights"]) == {
        "bot",
        "card_issuer_decline",
        "card_testing",
        "fraudulent_dispute",
        "stolen_card",
    }
    assert token["risk_details"]["insights"]["stolen_card"]["recommended_action"] == "continue"

    revoked = client.raw_request(
        "post", f"/v1/test_helpers/shared_payment/granted_tokens/{token_id}/revoke", stripe_version=PREVIEW
    )
    assert json.loads(revoked.body)["deactivated_reason"] == "revoked"
    with pytest.raises(stripe.InvalidRequestError) as missing:  # the token surface is preview-only
        client.raw_request("get", f"/v1/shared_payment/granted_tokens/{token_id}")
    assert missing.value.http_status == 404


def test_manual_capture_authorizes_then_a_partial_capture_succeeds(emu: StripeEmulator) -> None:
    client = sync_client(emu)
    token = emu.create_granted_token(max_amount=1500)
    shipping = {"name": "Ada", "address": {"line1": "1 Main St", "postal_code": "94107", "country": "US"}}
    intent = client.v1.payment_intents.create(
        charge_params(token, shipping=shipping, receipt_email="ada@example.com"), spt_options()
    )
    assert (intent.status, intent.amount, intent.amount_capturable) == ("requires_capture", 1500, 1500)
    charge = intent.to_dict()["latest_charge"]  # expanded
    outcome = charge["outcome"]
    assert (outcome["type"], outcome["risk_level"], outcome["network_status"]) == (
        "authorized",
        "normal",
        "approved_by_network",
    )
    assert outcome["seller_message"] == "Payment complete."
    assert charge["payment_method_details"]["card"]["capture_before"] > time.time() + 6 * 24 * 3600
    assert emu.granted_token(token)["deactivated_reason"] == "consumed"
    [entry] = [e for e in emu.journal if e.path == "/v1/payment_intents"]
    assert entry.params["payment_method_data"] == {"shared_payment_granted_token": token}  # row 1
    assert entry.params["shipping"]["address"] == {
        "line1": "1 Main St",
        "postal_code": "94107",
        "country": "US",
    }
    assert (entry.params["expand"], entry.params["confirm"], entry.params["amount"]) == (
        ["latest_charge"],
        "true",
        "1500",
    )
    assert (entry.idempotency_key, entry.stripe_version, entry.authorization) == (
        "acp-pay-1",
        PREVIEW,
        f"Bearer {API_KEY}",
    )
    pm = client.v1.payment_methods.retrieve(str(intent.payment_method))
    assert pm.to_dict()["shared_payment_granted_token"] == token  # the cloned PaymentMethod points back

    captured = client.v1.payment_intents.capture(
        intent.id, cast(Any, {"amount_to_capture": 1000}), cast(Any, {"idempotency_key": "acp-cap-1"})
    )
    assert (captured.status, captured.amount_received, captured.amount_capturable) == ("succeeded", 1000, 0)
    assert client.v1.charges.retrieve(charge["id"]).amount_captured == 1000
    assert emu.granted_token(token)["usage_details"]["amount_captured"]["value"] == 1000
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.payment_intents.capture(intent.id)
    assert again.value.code == "payment_intent_unexpected_state"
    assert [t for t in event_types(emu) if t.startswith(("payment_intent.", "charge."))] == [
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.amount_capturable_updated",
        "charge.captured",
        "payment_intent.succeeded",
    ]


async def test_automatic_capture_succeeds_at_once(emu: StripeEmulator) -> None:
    client = async_client(emu)
    token = emu.create_granted_token()
    intent = await client.v1.payment_intents.create_async(
        charge_params(token, 2500, capture="automatic"), spt_options()
    )
    assert (intent.status, intent.amount_received) == ("succeeded", 2500)
    stored = emu.payment_intent(intent.id)
    assert emu.object(stored["latest_charge"])["captured"] is True
    assert emu.granted_token(token)["usage_details"]["amount_captured"]["value"] == 2500
    assert "payment_intent.succeeded" in event_types(emu)
    with pytest.raises(stripe.InvalidRequestError) as captured:  # nothing left to capture
        await client.v1.payment_intents.capture_async(intent.id, cast(Any, {"amount_to_capture": 1}))
    assert captured.value.code == "payment_intent_unexpected_state"


# -- declines and authentication ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payment_method", "code", "decline_code", "outcome"),
    [
        ("pm_card_chargeDeclined", "card_declined", "generic_decline", "issuer_declined"),
        ("pm_card_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds", "issuer_declined"),
        ("pm_card_chargeDeclinedFraudulent", "card_declined", "fraudulent", "issuer_declined"),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card", "expired_card", "issuer_declined"),
        ("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc", "incorrect_cvc", "issuer_declined"),
        ("pm_card_chargeDeclinedProcessingError", "processing_error", "processing_error", "issuer_declined"),
        ("pm_card_radarBlock", "card_declined", "fraudulent", "blocked"),
    ],
)
async def test_declines_raise_card_errors_with_the_intent_inside(
    emu: StripeEmulator, payment_method: str, code: str, decline_code: str, outcome: str
) -> None:
    token = emu.create_granted_token(payment_method=payment_method)
    with pytest.raises(stripe.CardError) as declined:
        await async_client(emu).v1.payment_intents.create_async(charge_params(token), spt_options())
    error = declined.value.error
    assert declined.value.http_status == 402
    assert (declined.value.code, error.decline_code) == (code, decline_code)  # type: ignore[union-attr]
    intent = error.payment_intent  # type: ignore[union-attr]
    assert intent is not None
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error.decline_code == decline_code  # type: ignore[union-attr]
    assert str(error.charge).startswith("ch_")  # type: ignore[union-attr]
    charge = emu.object(str(error.charge))  # type: ignore[union-attr]
    assert (charge["status"], charge["outcome"]["type"]) == ("failed", outcome)
    assert emu.payment_intent(intent.id)["status"] == "requires_payment_method"
    assert emu.granted_token(token)["deactivated_reason"] is None  # a decline does not use the token
    assert event_types(emu)[-2:] == ["charge.failed", "payment_intent.payment_failed"]


async def test_authentication_required_is_an_error_or_a_parked_intent(emu: StripeEmulator) -> None:
    client = async_client(emu)
    token = emu.create_granted_token(payment_method="pm_card_authenticationRequired")
    with pytest.raises(stripe.CardError) as required:
        await client.v1.payment_intents.create_async(charge_params(token), spt_options())
    assert required.value.code == "authentication_required"
    assert required.value.error.payment_intent.status == "requires_payment_method"  # type: ignore[union-attr]

    parked = await client.v1.payment_intents.create_async(
        charge_params(token, error_on_requires_action=False), spt_options("acp-pay-2")
    )
    assert (parked.status, parked.next_action.type) == ("requires_action", "use_stripe_sdk")  # type: ignore[union-attr]
    canceled = await client.v1.payment_intents.cancel_async(
        parked.id, cast(Any, {"cancellation_reason": "abandoned"})
    )
    assert (canceled.status, canceled.cancellation_reason) == ("canceled", "abandoned")


async def test_elevated_risk_succeeds_into_manual_review(emu: StripeEmulator) -> None:
    token = emu.create_granted_token(payment_method="pm_card_riskLevelElevated")
    intent = await async_client(emu).v1.payment_intents.create_async(charge_params(token), spt_options())
    outcome = intent.to_dict()["latest_charge"]["outcome"]
    assert (intent.status, outcome["type"], outcome["risk_level"], outcome["reason"]) == (
        "requires_capture",
        "manual_review",
        "elevated",
        "elevated_risk_level",
    )
    assert "review.opened" in event_types(emu)


def test_an_intent_created_unconfirmed_is_confirmed_later(emu: StripeEmulator) -> None:
    client = sync_client(emu)
    token = emu.create_granted_token()
    params = charge_params(token, confirm=False, error_on_requires_action=False)
    created = client.v1.payment_intents.create(params, spt_options())
    assert (created.status, emu.granted_token(token)["deactivated_reason"]) == ("requires_confirmation", None)
    confirmed = client.v1.payment_intents.confirm(created.id, options=cast(Any, {"stripe_version": PREVIEW}))
    assert (confirmed.status, emu.granted_token(token)["deactivated_reason"]) == (
        "requires_capture",
        "consumed",
    )
    plain = client.v1.payment_intents.create(  # a test PaymentMethod without a token, as in test mode
        cast(Any, {"amount": 700, "currency": "usd", "confirm": True, "payment_method": "pm_card_visa"})
    )
    assert (plain.status, plain.amount_received) == ("succeeded", 700)


# -- token rules and the version gate ------------------------------------------------------------------


async def test_the_token_parameter_needs_a_preview_version(emu: StripeEmulator) -> None:
    token = emu.create_granted_token()
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await async_client(emu).v1.payment_intents.create_async(
            charge_params(token), cast(Any, {"idempotency_key": "acp-pay-1"})
        )
    assert (refused.value.http_status, refused.value.param, refused.value.code) == (
        400,
        TOKEN_PARAM,
        "parameter_unknown",
    )
    assert emu.journal[-1].stripe_version == stripe.api_version  # the SDK's GA default
    assert emu.payment_intents() == []
    # A validation error is not kept under the key: the same key with the preview version charges.
    intent = await async_client(emu).v1.payment_intents.create_async(charge_params(token), spt_options())
    assert (intent.status, replayed(intent)) == ("requires_capture", None)


async def test_unusable_tokens_are_refused_before_any_intent_exists(emu: StripeEmulator) -> None:
    client = async_client(emu)
    used = emu.create_granted_token()
    await client.v1.payment_intents.create_async(charge_params(used), spt_options("k-0"))
    revoked = emu.create_granted_token()
    emu.revoke_granted_token(revoked)
    expired = emu.create_granted_token(expires_at=int(time.time()) - 1)
    cases = [
        ("k-1", charge_params(used), TOKEN_PARAM, "shared_payment_granted_token_deactivated", "consumed"),
        ("k-2", charge_params(revoked), TOKEN_PARAM, "shared_payment_granted_token_deactivated", "revoked"),
        ("k-3", charge_params(expired), TOKEN_PARAM, "shared_payment_granted_token_deactivated", "expired"),
        ("k-4", charge_params(emu.create_granted_token(max_amount=1499)), "amount", None, "max_amount"),
        ("k-5", charge_params(emu.create_granted_token(currency="eur")), "currency", None, "currency"),
        ("k-6", charge_params("spt_unknown"), TOKEN_PARAM, "resource_missing", "No such"),
    ]
    for key, params, param, code, words in cases:
        with pytest.raises(stripe.InvalidRequestError) as refused:
            await client.v1.payment_intents.create_async(params, spt_options(key))
        assert (refused.value.http_status, refused.value.param) == (400, param), key
        assert code is None or refused.value.code == code, key
        assert words in str(refused.value.user_message), key
    assert len(emu.payment_intents()) == 1
    assert emu.granted_token(expired)["deactivated_reason"] == "expired"
    assert [status for status, _ in posts(emu)] == [200, 400, 400, 400, 400, 400, 400]


# -- idempotency -------------------------------------------------------------------------------------


def test_the_same_key_replays_the_first_answer(emu: StripeEmulator) -> None:
    client = sync_client(emu)
    token = emu.create_granted_token()
    first = client.v1.payment_intents.create(charge_params(token), spt_options())
    events = len(emu.events())
    second = client.v1.payment_intents.create(charge_params(token), spt_options())
    assert second.id == first.id
    assert (replayed(first), replayed(second)) == (None, "true")
    assert len(emu.payment_intents()) == 1
    assert len(emu.events()) == events
    assert [e.replayed for e in emu.journal] == [False, True]

    with pytest.raises(stripe.IdempotencyError) as mismatch:
        client.v1.payment_intents.create(charge_params(token, 1400), spt_options())
    assert mismatch.value.http_status == 400
    assert "acp-pay-1" in str(mismatch.value.user_message)


async def test_a_declined_answer_is_saved_and_replayed(emu: StripeEmulator) -> None:
    client = async_client(emu)
    token = emu.create_granted_token(payment_method="pm_card_chargeDeclinedInsufficientFunds")
    for _ in range(2):
        with pytest.raises(stripe.CardError) as declined:
            await client.v1.payment_intents.create_async(charge_params(token), spt_options())
    assert (declined.value.headers or {}).get("idempotent-replayed") == "true"
    assert len(emu.payment_intents()) == 1


async def test_a_key_in_use_answers_409(emu: StripeEmulator) -> None:
    client = async_client(emu)
    token = emu.create_granted_token()
    emu.inject_fault(path_prefix="/v1/payment_intents", kind="timeout", delay=0.6)
    slow = asyncio.create_task(client.v1.payment_intents.create_async(charge_params(token), spt_options()))
    await asyncio.sleep(0.2)
    with pytest.raises(stripe.APIError) as busy:
        await client.v1.payment_intents.create_async(charge_params(token), spt_options())
    assert busy.value.http_status == 409
    assert (await slow).status == "requires_capture"
    assert len(emu.payment_intents()) == 1


# -- faults ---------------------------------------------------------------------------------------------


async def test_sdk_retries_a_500_with_the_same_key_and_charges_once(emu: StripeEmulator) -> None:
    token = emu.create_granted_token()
    emu.inject_fault(path_prefix="/v1/payment_intents", kind="500")
    intent = await async_client(emu, retries=2).v1.payment_intents.create_async(
        charge_params(token), spt_options()
    )
    assert intent.status == "requires_capture"
    assert posts(emu) == [(500, "acp-pay-1"), (200, "acp-pay-1")]
    assert len(emu.payment_intents()) == 1


def test_a_500_that_must_not_be_retried_is_an_api_error(emu: StripeEmulator) -> None:
    token = emu.create_granted_token()
    emu.inject_fault(path_prefix="/v1/payment_intents", kind="500_no_retry")
    with pytest.raises(stripe.APIError) as failed:
        sync_client(emu, retries=2).v1.payment_intents.create(charge_params(token), spt_options())
    assert failed.value.http_status == 500
    assert (failed.value.headers or {}).get("stripe-should-retry") == "false"
    assert posts(emu) == [(500, "acp-pay-1")]
    assert emu.payment_intents() == []
    retried = sync_client(emu).v1.payment_intents.create(charge_params(token), spt_options())
    assert replayed(retried) is None  # nothing was saved


async def test_rate_limits_and_lock_conflicts(emu: StripeEmulator) -> None:
    token = emu.create_granted_token()
    emu.inject_fault(path_prefix="/v1/payment_intents", kind="429")
    with pytest.raises(stripe.RateLimitError):
        await async_client(emu, retries=2).v1.payment_intents.create_async(
            charge_params(token), spt_options()
        )
    emu.inject_fault(path_prefix="/v1/payment_intents", kind="409", times=2)
    intent = await async_client(emu, retries=2).v1.payment_intents.create_async(
        charge_params(token), spt_options()
    )
    assert intent.status == "requires_capture"
    assert [status for status, _ in posts(emu)] == [429, 409, 409, 200]


def test_a_dropped_connection_ran_and_the_retry_replays_it(emu: StripeEmulator) -> None:
    token = emu.create_granted_token()
    emu.inject_fault(path_prefix="/v1/payment_intents", kind="drop")
    with pytest.raises(stripe.APIConnectionError):
        sync_client(emu).v1.payment_intents.create(charge_params(token), spt_options())
    [created] = emu.payment_intents()
    assert created["status"] == "requires_capture"  # the outcome was unknown to the client, not to Stripe
    retry = sync_client(emu).v1.payment_intents.create(charge_params(token), spt_options())
    assert retry.id == created["id"]
    assert replayed(retry) == "true"
    assert posts(emu) == [(None, "acp-pay-1"), (200, "acp-pay-1")]


async def test_the_sdk_retries_a_dropped_connection_into_a_replay(emu: StripeEmulator) -> None:
    token = emu.create_granted_token()
    emu.inject_fault(path_prefix="/v1/payment_intents", kind="drop")
    intent = await async_client(emu, retries=1).v1.payment_intents.create_async(
        charge_params(token), spt_options()
    )
    assert replayed(intent) == "true"
    assert [pi["id"] for pi in emu.payment_intents()] == [intent.id]


async def test_a_timeout_leaves_a_slow_success_that_the_retry_replays(emu: StripeEmulator) -> None:
    token = emu.create_granted_token()
    emu.inject_fault(path_prefix="/v1/payment_intents", kind="timeout", delay=0.8)
    with pytest.raises(stripe.APIConnectionError):
        await async_client(emu, timeout=0.3).v1.payment_intents.create_async(
            charge_params(token), spt_options()
        )
    for _ in range(50):
        if emu.payment_intents():
            break
        await asyncio.sleep(0.05)
    [created] = emu.payment_intents()
    retry = await async_client(emu).v1.payment_intents.create_async(charge_params(token), spt_options())
    assert (retry.id, replayed(retry)) == (created["id"], "true")


async def test_a_500_after_execution_is_not_saved_so_look_before_charging_again(emu: StripeEmulator) -> None:
    client = async_client(emu)
    token = emu.create_granted_token()
    emu.inject_fault(path_prefix="/v1/payment_intents", kind="500_after_execution")
    with pytest.raises(stripe.APIError):
        await client.v1.payment_intents.create_async(charge_params(token), spt_options())
    with pytest.raises(stripe.InvalidRequestError) as again:  # executed again: the token is used up
        await client.v1.payment_intents.create_async(charge_params(token), spt_options())
    assert again.value.code == "shared_payment_granted_token_deactivated"
    found = await client.v1.payment_intents.search_async(
        cast(Any, {"query": "metadata['acp_attempt_id']:'att_1'", "expand": ["data.latest_charge"]})
    )
    assert [(pi["status"], pi["latest_charge"]["outcome"]["type"]) for pi in found.to_dict()["data"]] == [
        ("requires_capture", "authorized")
    ]


async def test_a_saved_500_after_execution_is_replayed(emu: StripeEmulator) -> None:
    client = async_client(emu, retries=2)
    token = emu.create_granted_token()
    emu.inject_fault(path_prefix="/v1/payment_intents", kind="500_after_execution_saved")
    for _ in range(2):
        with pytest.raises(stripe.APIError) as failed:
            await client.v1.payment_intents.create_async(charge_params(token), spt_options())
    assert (failed.value.headers or {}).get("idempotent-replayed") == "true"
    assert [status for status, _ in posts(emu)] == [500, 500]  # Stripe-Should-Retry: false: no SDK retry
    assert len(emu.payment_intents()) == 1


def test_a_wrong_api_key_is_an_authentication_error(emu: StripeEmulator) -> None:
    with pytest.raises(stripe.AuthenticationError):
        sync_client(emu).v1.payment_intents.retrieve("pi_x", options=cast(Any, {"api_key": "pk_test_x"}))
    with StripeEmulator(api_key="sk_test_right") as strict:
        client = stripe.StripeClient(
            "sk_test_wrong", base_addresses={"api": strict.url}, http_client=stripe.RequestsClient()
        )
        with pytest.raises(stripe.AuthenticationError) as refused:
            client.v1.payment_intents.retrieve("pi_x")
        assert refused.value.http_status == 401
        assert strict.journal[0].authorization == "Bearer sk_test_wrong"


# -- cancel, refunds, search -----------------------------------------------------------------------------


def test_cancel_releases_an_authorization_once(emu: StripeEmulator) -> None:
    client = sync_client(emu)
    intent = client.v1.payment_intents.create(charge_params(emu.create_granted_token()), spt_options())
    canceled = client.v1.payment_intents.cancel(intent.id, cast(Any, {"cancellation_reason": "abandoned"}))
    assert (canceled.status, canceled.amount_capturable) == ("canceled", 0)
    for call in (client.v1.payment_intents.cancel, client.v1.payment_intents.capture):
        with pytest.raises(stripe.InvalidRequestError) as wrong:
            call(intent.id)
        assert wrong.value.code == "payment_intent_unexpected_state"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.payment_intents.retrieve("pi_missing")
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")
    assert event_types(emu)[-1] == "payment_intent.canceled"


async def test_refunds_partial_then_full_never_more_than_captured(emu: StripeEmulator) -> None:
    client = async_client(emu)
    token = emu.create_granted_token()
    held = await client.v1.payment_intents.create_async(charge_params(token, 2000), spt_options())
    with pytest.raises(stripe.InvalidRequestError) as uncaptured:
        await client.v1.refunds.create_async(cast(Any, {"payment_intent": held.id}))
    assert uncaptured.value.code == "payment_intent_unexpected_state"
    await client.v1.payment_intents.capture_async(held.id)

    partial = await client.v1.refunds.create_async(
        cast(Any, {"payment_intent": held.id, "amount": 500, "reason": "requested_by_customer"}),
        cast(Any, {"idempotency_key": "acp-refund-1"}),
    )
    assert (partial.status, partial.amount, partial.reason) == ("succeeded", 500, "requested_by_customer")
    charge = await client.v1.charges.retrieve_async(str(partial.charge))
    assert (charge.amount_refunded, charge.refunded) == (500, False)
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        await client.v1.refunds.create_async(cast(Any, {"payment_intent": held.id, "amount": 1501}))
    assert (too_much.value.param, too_much.value.code) == ("amount", "amount_too_large")
    rest = await client.v1.refunds.create_async(cast(Any, {"payment_intent": held.id}))
    assert rest.amount == 1500
    assert (await client.v1.refunds.retrieve_async(rest.id)).payment_intent == held.id
    assert emu.object(str(partial.charge))["refunded"] is True
    with pytest.raises(stripe.InvalidRequestError) as done:
        await client.v1.refunds.create_async(cast(Any, {"payment_intent": held.id, "amount": 1}))
    assert done.value.code == "charge_already_refunded"
    assert event_types(emu)[-4:] == ["refund.created", "charge.refunded", "refund.created", "charge.refunded"]
    failed = emu.fail_refund(rest.id)
    assert failed["type"] == "refund.failed"
    assert emu.object(str(partial.charge))["amount_refunded"] == 500


async def test_search_finds_intents_by_metadata(emu: StripeEmulator) -> None:
    client = async_client(emu)
    for attempt in ("att_a", "att_b"):
        params = charge_params(emu.create_granted_token(), metadata={"acp_attempt_id": attempt})
        await client.v1.payment_intents.create_async(params, spt_options(f"acp-pay-{attempt}"))
    found = await client.v1.payment_intents.search_async(
        cast(Any, {"query": "metadata['acp_attempt_id']:'att_b'"})
    )
    assert [pi.metadata["acp_attempt_id"] for pi in found.data] == ["att_b"]
    none = await client.v1.payment_intents.search_async(
        cast(Any, {"query": "metadata['acp_attempt_id']:'x'"})
    )
    assert none.data == []


async def test_concurrent_charges_with_their_own_keys_all_succeed(emu: StripeEmulator) -> None:
    client = async_client(emu)
    tokens = [emu.create_granted_token() for _ in range(8)]
    intents = await asyncio.gather(
        *(
            client.v1.payment_intents.create_async(charge_params(token), spt_options(f"acp-pay-{n}"))
            for n, token in enumerate(tokens)
        )
    )
    assert len({intent.id for intent in intents}) == 8
    assert {intent.status for intent in intents} == {"requires_capture"}


# -- events and webhooks ----------------------------------------------------------------------------------


def test_events_are_signed_like_stripe_and_stale_ones_are_refused(emu: StripeEmulator) -> None:
    sync_client(emu).v1.payment_intents.create(charge_params(emu.create_granted_token()), spt_options())
    event = next(e for e in emu.events() if e["type"] == "payment_intent.amount_capturable_updated")
    payload, header = emu.signed_event(event)
    verified = stripe.Webhook.construct_event(payload, header, ENDPOINT_SECRET)
    assert (verified.id, verified.type, verified.data.object["status"]) == (
        event["id"],
        "payment_intent.amount_capturable_updated",
        "requires_capture",
    )
    assert event["request"]["idempotency_key"] == "acp-pay-1"
    stale_payload, stale = emu.signed_event(event, timestamp=int(time.time()) - 600)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(stale_payload, stale, ENDPOINT_SECRET)
    forged_payload, forged = emu.signed_event(event, secret="whsec_other")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(forged_payload, forged, ENDPOINT_SECRET)


def test_deliver_events_posts_each_undelivered_event_once_accepted(emu: StripeEmulator) -> None:
    received: list[str] = []
    answers = iter([500])  # the first delivery fails, as an app under maintenance would

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            event = stripe.Webhook.construct_event(body, self.headers["Stripe-Signature"], ENDPOINT_SECRET)
            status = next(answers, 200)
            if status == 200:
                received.append(event.type)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/stripe/webhooks"
        sync_client(emu).v1.payment_intents.create(
            charge_params(emu.create_granted_token(), capture="automatic"), spt_options()
        )
        first = emu.deliver_events(url)
        assert first[0] == 500
        assert set(first[1:]) == {200}
        assert emu.deliver_events(url) == [200]  # only the one that failed
        assert emu.deliver_events(url) == []
        assert sorted(received) == sorted(event_types(emu))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize(
    "payment_method", ["pm_card_createIssuerFraudRecord", "pm_card_createEarlyFraudWarning"]
)
async def test_fraud_warnings_and_disputes_arrive_as_events(emu: StripeEmulator, payment_method: str) -> None:
    client = async_client(emu)
    warned = await client.v1.payment_intents.create_async(
        charge_params(emu.create_granted_token(payment_method=payment_method)), spt_options("k-efw")
    )
    [warning] = [e for e in emu.events() if e["type"] == "radar.early_fraud_warning.created"]
    assert (warning["data"]["object"]["payment_intent"], warning["data"]["object"]["actionable"]) == (
        warned.id,
        True,
    )
    disputed = await client.v1.payment_intents.create_async(
        charge_params(emu.create_granted_token(payment_method="pm_card_createDispute")), spt_options("k-dp")
    )
    assert "charge.dispute.created" not in event_types(emu)  # disputes need captured money
    await client.v1.payment_intents.capture_async(disputed.id)
    [dispute] = [e for e in emu.events() if e["type"] == "charge.dispute.created"]
    assert dispute["data"]["object"]["charge"] == emu.payment_intent(disputed.id)["latest_charge"]
    assert emu.object(dispute["data"]["object"]["charge"])["disputed"] is True

    triggered = emu.trigger_dispute(warned.id)
    assert (triggered["type"], triggered["data"]["object"]["payment_intent"]) == (
        "charge.dispute.created",
        warned.id,
    )
    efw = emu.trigger_early_fraud_warning(disputed.id)
    assert efw["data"]["object"]["object"] == "radar.early_fraud_warning"
