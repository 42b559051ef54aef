"""No secret reaches the logs at any level: a whole purchase at DEBUG, every logger captured.

At DEBUG the stripe, httpx and httpcore loggers print token URLs (``.../granted_tokens/spt_...``),
form bodies and Stripe's answers (client secrets). Before: this purchase already came out redacted
(the test keeps it so); the formats the patterns missed (a ``-`` in a URL-safe secret, Stripe keys
without ``live``/``test``, a token after a percent-escape) fail in tests/kit/test_redact.py
(``TestSecretFormats``) and tests/test_logging.py (``TestThirdPartySecrets``).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from merchant.config import LogFormat
from merchant.db import create_sessionmaker
from merchant.db.transaction import transaction
from merchant.identity import service as identity_service
from merchant.identity.roles import Role
from merchant.kit.clock import utc_now
from merchant.logging import configure_logging
from merchant.payments.stripe_emulator import StripeEmulator
from merchant.platforms import service as platforms
from tests.checkout.purchase import Agent, total_of
from tests.test_logging import restore_logging  # noqa: F401 (autouse: the logging setup is undone)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging(level="DEBUG", log_format=LogFormat.json, stream=stream)
    yield stream
    logging.getLogger().setLevel(logging.WARNING)


def pieces(secret: str) -> list[str]:
    """The secret and its last 12 characters (a half-redacted secret is still a leak)."""
    return [secret, secret[-12:]]


async def test_a_purchase_at_debug_logs_no_secret(
    agent: Agent, stripe: StripeEmulator, committed: AsyncEngine, debug_log: io.StringIO
) -> None:
    sessions = create_sessionmaker(committed)
    async with transaction(sessions) as session:
        policy = platforms.WebhookPolicy(require_https=False, allow_private=False)
        added = await platforms.add(session, name="Agent Co", webhook_url=None, policy=policy, now=utc_now())
        key = await identity_service.create_key(
            session, role=Role.agent, name="agent co", platform_id=added.platform.id
        )
    buyer = Agent(agent.client, key.token)
    ready = await buyer.ready_session()
    token = stripe.create_granted_token(payment_method="pm_card_visa", max_amount=total_of(ready))
    done = await buyer.complete(ready["id"], token)
    assert done.json()["status"] == "completed", done.text
    intents = stripe.payment_intents()
    output = debug_log.getvalue()

    assert "granted_tokens" in output  # the stripe/httpx DEBUG lines were there, and redacted
    assert intents
    assert added.platform.signing_secret.startswith("whsec_")
    secrets = [
        key.token,
        added.platform.signing_secret,
        "sk_test_emulator",
        token,
        *(intent["client_secret"] for intent in intents),
    ]
    for secret in secrets:
        for piece in pieces(secret):
            assert piece not in output, f"{piece!r} of a secret is in the log"
