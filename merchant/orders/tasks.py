"""Jobs of the orders domain: Stripe events are handled here, one transaction per event."""

from __future__ import annotations

from procrastinate.job_context import JobContext

from merchant.jobs.app import app
from merchant.jobs.context import job_session
from merchant.kit.clock import utc_now
from merchant.merchant_config import current_merchant_config
from merchant.orders import payment_events


@app.task(name="payments.handle_stripe_event", queue="payments", pass_context=True, retry=5)
async def handle_stripe_event(context: JobContext, event_id: str) -> str:
    async with job_session(context) as session:
        return await payment_events.handle(session, event_id, current_merchant_config().fraud, now=utc_now())
