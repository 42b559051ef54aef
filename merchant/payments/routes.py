"""``POST /stripe/webhooks``: Stripe's events into the inbox (signature-checked, no API key)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from merchant.db.transaction import transaction
from merchant.errors import ServiceUnavailable
from merchant.http.schemas import Error
from merchant.jobs.defer import defer
from merchant.kit.clock import utc_now
from merchant.orders.tasks import handle_stripe_event
from merchant.payments import webhooks

router = APIRouter(tags=["payments"])


def _secret(request: Request) -> str:
    secret: str | None = request.app.state.settings.stripe_webhook_secret
    emulator = getattr(request.app.state, "stripe_emulator", None)
    if not secret and emulator is not None:
        secret = emulator.webhook_secret
    if not secret:
        raise ServiceUnavailable(
            "Stripe webhooks are not configured (MERCHANT_STRIPE_WEBHOOK_SECRET).",
            code="webhooks_not_configured",
        )
    return secret


_REFUSED: dict[int | str, dict[str, Any]] = {
    400: {"model": Error, "description": "Missing or wrong `Stripe-Signature`, or not a Stripe event"},
    503: {"model": Error, "description": "Webhooks not configured, or the database unavailable"},
}


@router.post(
    "/stripe/webhooks", summary="Stripe webhook events (verified by Stripe-Signature)", responses=_REFUSED
)
async def stripe_webhook(request: Request) -> JSONResponse:
    """Verify, store once (by event id) and acknowledge; a job does the work."""
    payload = await request.body()
    event = webhooks.verify(payload, request.headers.get("stripe-signature"), _secret(request))
    async with transaction(request.app.state.sessions) as session:
        if await webhooks.store(session, event, now=utc_now()):
            await defer(session, handle_stripe_event, event_id=event["id"])
    return JSONResponse({"received": True})
