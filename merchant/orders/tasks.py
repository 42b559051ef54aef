"""Jobs of the orders domain: Stripe events are handled here, one transaction per event."""

from __future__ import annotations

import structlog
from procrastinate.job_context import JobContext

from merchant.jobs.app import app
from merchant.jobs.context import job_session, job_sessions
from merchant.kit.clock import utc_now
from merchant.merchant_config import current_merchant_config
from merchant.orders import deadlines, payment_events
from merchant.payments.operations import Payments
from merchant.payments.setup import shared_worker_gateway

log = structlog.get_logger(__name__)


@app.task(name="payments.handle_stripe_event", queue="payments", pass_context=True, retry=5)
async def handle_stripe_event(context: JobContext, event_id: str) -> str:
    async with job_session(context) as session:
        return await payment_events.handle(session, event_id, current_merchant_config().fraud, now=utc_now())


@app.periodic(cron="7 * * * *", periodic_id="authorization_deadlines")
@app.task(name="payments.authorization_deadlines", queue="payments", pass_context=True)
async def authorization_deadlines(context: JobContext, timestamp: int) -> int:
    """Hourly: authorizations that lapse within ``[payments] authorization_deadline_hours``."""
    gateway = shared_worker_gateway()
    if gateway is None:
        log.warning("payments.deadlines_skipped", reason="no Stripe key and no announced emulator")
        return 0
    done = await deadlines.act(
        Payments(job_sessions(context), gateway), current_merchant_config(), now=utc_now()
    )
    return len(done)
