"""Periodic purge of idempotency records past their retention."""

from __future__ import annotations

import structlog
from procrastinate.job_context import JobContext

from merchant.idempotency import service
from merchant.jobs.app import app
from merchant.jobs.context import job_session
from merchant.kit.clock import utc_now

log = structlog.get_logger(__name__)


@app.periodic(cron="*/10 * * * *", periodic_id="purge_idempotency_records")
@app.task(name="idempotency.purge_expired", queue="maintenance", pass_context=True)
async def purge_expired(context: JobContext, timestamp: int) -> int:
    """Delete the records whose retention has passed (a reused key is then a new request)."""
    async with job_session(context) as session:
        removed = await service.purge_expired(session, now=utc_now())
    if removed:
        log.info("idempotency.purged", count=removed)
    return removed
