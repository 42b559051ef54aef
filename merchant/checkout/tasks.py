"""Periodic expiry of checkout sessions past ``expires_at`` (reads also expire them)."""

from __future__ import annotations

import structlog
from procrastinate.job_context import JobContext

from merchant.checkout import service
from merchant.jobs.app import app
from merchant.jobs.context import job_session
from merchant.kit.clock import utc_now

log = structlog.get_logger(__name__)


@app.periodic(cron="* * * * *", periodic_id="expire_checkout_sessions")
@app.task(name="checkout.expire_sessions", queue="maintenance", pass_context=True)
async def expire_sessions(context: JobContext, timestamp: int) -> int:
    async with job_session(context) as session:
        expired = await service.expire_due(session, now=utc_now())
    if expired:
        log.info("checkout.sessions_expired", count=expired)
    return expired
