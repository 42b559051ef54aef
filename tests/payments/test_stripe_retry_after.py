"""Stripe's ``Retry-After`` on a 429 sets the wait before our retry (the emulator as Stripe).

Before: ``StripeGateway`` retried a rate-limited call after its own short backoff (0.25 s doubling,
with jitter) whatever Stripe asked for, so a throttled account was hit again too early.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stripe

from merchant.config import Settings
from merchant.payments.gateway import ChargeRequest, ChargeStatus
from merchant.payments.setup import retry_policy
from merchant.payments.stripe_emulator import StripeEmulator
from merchant.payments.stripe_gateway import RetryPolicy, StripeGateway, stripe_client

# stripe 16.1.0's HTTPXClient posts its form body with httpx's deprecated ``data=<bytes>``.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload raw bytes:DeprecationWarning")
INTENTS = "/v1/payment_intents"


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[StripeEmulator]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with StripeEmulator() as emulator:
        yield emulator


def gateway(emu: StripeEmulator, **policy: float) -> StripeGateway:
    client = stripe_client("sk_test_emulator", api_base=emu.url, timeout=5.0)
    return StripeGateway(client, retry=RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.02, **policy))


def charge(emu: StripeEmulator) -> ChargeRequest:
    token = emu.create_granted_token(max_amount=1500)
    return ChargeRequest("att_1", "cs_1", token, 1500, "usd", "manual", idempotency_key="acp-pay-att_1")


def gap(emu: StripeEmulator) -> float:
    """Seconds between the rate-limited call and its retry, as the emulator received them."""
    limited, retried = [entry for entry in emu.journal if entry.path.startswith(INTENTS)]
    assert (limited.status, retried.status) == (429, 200)
    return retried.received_at - limited.received_at


async def test_the_retry_waits_what_retry_after_asks(emu: StripeEmulator) -> None:
    emu.inject_fault(path_prefix=INTENTS, kind="429", retry_after=1.2)
    result = await gateway(emu).charge(charge(emu))
    assert result.status is ChargeStatus.authorized
    assert 1.2 <= gap(emu) < 3.0  # not the 0.01 s backoff


async def test_a_long_retry_after_is_capped(emu: StripeEmulator) -> None:
    emu.inject_fault(path_prefix=INTENTS, kind="429", retry_after=120)
    result = await gateway(emu, max_retry_after=0.6).charge(charge(emu))
    assert result.status is ChargeStatus.authorized
    assert 0.6 <= gap(emu) < 2.5


async def test_without_retry_after_the_backoff_applies(emu: StripeEmulator) -> None:
    emu.inject_fault(path_prefix=INTENTS, kind="429")
    result = await gateway(emu).charge(charge(emu))
    assert result.status is ChargeStatus.authorized
    assert gap(emu) < 0.5


def test_the_cap_is_one_stripe_call_timeout() -> None:
    assert retry_policy(Settings(stripe_timeout=7.5)).max_retry_after == 7.5
    limited = stripe.RateLimitError("slow down", http_status=429, headers={"Retry-After": "30"})
    assert RetryPolicy(max_retry_after=7.5).delay(1, limited) == 7.5
    assert (
        RetryPolicy(max_retry_after=7.5).delay(1, stripe.RateLimitError("x", headers={"retry-after": "2"}))
        == 2
    )
