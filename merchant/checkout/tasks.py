"""Periodic checkout jobs: expire sessions past ``expires_at`` (reads also expire them), and settle
payments whose complete request never came back."""

from __future__ import annotations

from datetime import timedelta

import structlog
from procrastinate.job_context import JobContext

from merchant.checkout import complete, service
from merchant.config import get_settings
from merchant.jobs.app import app
from merchant.jobs.context import job_session, job_sessions
from merchant.kit.clock import utc_now
from merchant.merchant_config import current_merchant_config, public_base
from merchant.payments.setup import shared_worker_gateway

log = structlog.get_logger(__name__)


@app.periodic(cron="* * * * *", periodic_id="expire_checkout_sessions")
@app.task(name="checkout.expire_sessions", queue="maintenance", pass_context=True)
async def expire_sessions(context: JobContext, timestamp: int) -> int:
    async with job_session(context) as session:
        expired = await service.expire_due(session, now=utc_now())
    if expired:
        log.info("checkout.sessions_expired", count=expired)
    return expired


@app.periodic(cron="*/5 * * * *", periodic_id="reconcile_stalled_payments")
@app.task(name="payments.reconcile_stalled", queue="payments", pass_context=True)
async def reconcile_stalled(context: JobContext, timestamp: int) -> int:
    """Payments still ``charging`` after ``complete.STALLED_AFTER``: finish or release them."""
    gateway = shared_worker_gateway()
    if gateway is None:
        log.warning("payments.reconcile_skipped", reason="no Stripe key and no announced emulator")
        return 0
    config = current_merchant_config()
    settings = get_settings()
    base = public_base(settings, config)
    lease = timedelta(seconds=settings.complete_lease_seconds)
    completer = complete.Completer(job_sessions(context), gateway, config, base, lease)
    async with job_session(context) as session:
        stalled = await complete.stalled_payments(session, now=utc_now())
    for payment_id in stalled:
        outcome = await complete.reconcile(completer, payment_id, now=utc_now())
        log.info("payments.reconciled", payment_id=payment_id, outcome=outcome)
    return len(stalled)
