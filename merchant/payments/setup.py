"""The payment gateway of a process: Stripe with the merchant's key, or the emulator in development."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from merchant.config import ConfigurationError, Settings
from merchant.payments.stripe_gateway import RetryPolicy, StripeGateway, stripe_client

if TYPE_CHECKING:  # imported when started: production never loads the emulator
    from merchant.payments.stripe_emulator import StripeEmulator

log = structlog.get_logger(__name__)

EMULATOR_API_KEY = "sk_test_emulator"
# Where `merchant serve` announces its emulator in the data directory (read by `merchant demo`).
EMULATOR_URL_FILE = "stripe-emulator.url"


def start_emulator() -> StripeEmulator:
    """An in-process Stripe emulator on 127.0.0.1 (development and the demo only)."""
    from merchant.payments.stripe_emulator import StripeEmulator

    emulator = StripeEmulator()
    url = emulator.start()
    log.warning("stripe_emulator_started", url=url, note="development only: no real payment is made")
    return emulator


def build_gateway(settings: Settings) -> tuple[StripeGateway, StripeEmulator | None]:
    """The gateway, and the emulator this process started for it (to stop at exit), if any."""
    emulator = None
    api_key, api_base = settings.stripe_api_key, settings.stripe_api_base
    if not api_key:
        if settings.is_production:
            raise ConfigurationError("MERCHANT_STRIPE_API_KEY is required in production")
        emulator = start_emulator()
        api_key, api_base = EMULATOR_API_KEY, emulator.url
    client = stripe_client(api_key, api_base=api_base, timeout=settings.stripe_timeout)
    return StripeGateway(client, retry=retry_policy(settings)), emulator


def retry_policy(settings: Settings) -> RetryPolicy:
    """Stripe's Retry-After is honoured up to one call's timeout: never longer than a call may take."""
    return RetryPolicy(attempts=settings.stripe_max_attempts, max_retry_after=settings.stripe_timeout)


_shared: list[StripeGateway] = []


def shared_worker_gateway() -> StripeGateway | None:
    """``worker_gateway`` of this process's settings, made once it exists (jobs call Stripe through
    it; None is not kept, so an emulator announced later is found)."""
    from merchant.config import get_settings

    if not _shared and (gateway := worker_gateway(get_settings())) is not None:
        _shared.append(gateway)
    return _shared[0] if _shared else None


def worker_gateway(settings: Settings) -> StripeGateway | None:
    """The gateway of a job worker: Stripe with the key, else (development) the emulator that
    `merchant serve` announced in the data directory; None when there is neither."""
    api_key, api_base = settings.stripe_api_key, settings.stripe_api_base
    if not api_key:
        announced = settings.data_dir / EMULATOR_URL_FILE
        if settings.is_production or not announced.exists():
            return None
        api_key, api_base = EMULATOR_API_KEY, announced.read_text().strip()
    client = stripe_client(api_key, api_base=api_base, timeout=settings.stripe_timeout)
    return StripeGateway(client, retry=retry_policy(settings))
