"""Periodic purge of idempotency records past their retention."""

from __future__ import annotations

import structlog
from procrastinate.job_context import JobContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from merchant.db.transaction import transaction
from merchant.idempotency import service
from merchant.jobs.app import app
from merchant.jobs.context import SESSIONS_KEY
from merchant.kit.clock import utc_now

log = structlog.get_logger(__name__)


@app.periodic(cron="*/10 * * * *", periodic_id="purge_idempotency_records")
@app.task(name="idempotency.purge_expired", queue="maintenance", pass_context=True)
async def purge_expired(context: JobContext, timestamp: int) -> int:
    """Delete the records whose retention has passed (a reused key is then a new request)."""
    sessions: async_sessionmaker[AsyncSession] = context.additional_context[SESSIONS_KEY]
    async with transaction(sessions) as session:
        removed = await service.purge_expired(session, now=utc_now())
    if removed:
        log.info("idempotency.purged", count=removed)
    return removed
