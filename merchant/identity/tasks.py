"""Periodic purge of seen request signatures whose Timestamp has left the skew window."""

from __future__ import annotations

import structlog
from procrastinate.job_context import JobContext

from merchant.identity import replays
from merchant.jobs.app import app
from merchant.jobs.context import job_session
from merchant.kit.clock import utc_now

log = structlog.get_logger(__name__)


@app.periodic(cron="*/10 * * * *", periodic_id="purge_seen_signatures")
@app.task(name="identity.purge_seen_signatures", queue="maintenance", pass_context=True)
async def purge_seen_signatures(context: JobContext, timestamp: int) -> int:
    """Delete signatures that could no longer be accepted anyway (their Timestamp is stale)."""
    async with job_session(context) as session:
        removed = await replays.purge_expired(session, now=utc_now())
    if removed:
        log.info("identity.seen_signatures_purged", count=removed)
    return removed
