"""Stripe webhooks in: verify the signature, store the event once, let a job handle it.

The endpoint answers fast and does no work beyond the inbox: events can repeat and arrive out
of order, so the event id is the key (a repeat is acknowledged and ignored) and the handler
reads the current state of our rows rather than trusting the order of arrival.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import stripe
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.errors import InvalidRequest
from merchant.payments.models import StripeEvent

TOLERANCE_SECONDS = 300  # Stripe's default: older signatures are refused (replays)


class InvalidSignature(InvalidRequest):
    code = "invalid_signature"


def verify(payload: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """The event in ``payload`` if ``signature`` (the Stripe-Signature header) is valid."""
    if not signature:
        raise InvalidSignature("The Stripe-Signature header is missing.")
    try:
        stripe.WebhookSignature.verify_header(payload.decode("utf-8"), signature, secret, TOLERANCE_SECONDS)
    except (stripe.SignatureVerificationError, UnicodeDecodeError) as exc:
        raise InvalidSignature(f"The Stripe signature does not verify: {exc}") from None
    try:
        event = json.loads(payload)
    except ValueError:
        raise InvalidRequest("The event is not JSON.") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not event.get("type"):
        raise InvalidRequest("The event has no id or type.")
    return event


async def store(session: AsyncSession, event: dict[str, Any], *, now: datetime) -> bool:
    """Insert the event; False when it was already there (a repeated delivery)."""
    created = datetime.fromtimestamp(int(event.get("created") or now.timestamp()), UTC)
    statement = (
        insert(StripeEvent)
        .values(id=event["id"], type=str(event["type"]), created=created, payload=event, received_at=now)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(StripeEvent.id)
    )
    return (await session.scalar(statement)) is not None
