"""Infrastructure tasks: worker liveness, stalled-job recovery, job-table upkeep."""

from __future__ import annotations

import structlog
from procrastinate import builtin_tasks
from procrastinate.job_context import JobContext

from merchant.jobs.app import app

log = structlog.get_logger(__name__)

STALLED_AFTER_SECONDS = 60
FINISHED_JOBS_KEPT_HOURS = 72


@app.task(name="jobs.ping", queue="default")
async def ping(token: str) -> str:
    """Does nothing but succeed: proves a worker is consuming the queue."""
    return token


@app.periodic(cron="* * * * *", periodic_id="retry_stalled")
@app.task(name="jobs.retry_stalled", queue="maintenance", pass_context=True)
async def retry_stalled(context: JobContext, timestamp: int) -> int:
    """Requeue jobs whose worker stopped heartbeating (killed mid-job)."""
    manager = context.app.job_manager
    stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER_SECONDS))
    for job in stalled:
        await manager.retry_job(job)
    if stalled:
        log.warning("jobs.retried_stalled", count=len(stalled), job_ids=[job.id for job in stalled])
    return len(stalled)


@app.periodic(cron="17 * * * *", periodic_id="remove_old_jobs")
@app.task(name="jobs.remove_old_jobs", queue="maintenance", pass_context=True)
async def remove_old_jobs(context: JobContext, timestamp: int) -> None:
    """Delete finished jobs after a while; failed ones stay as dead letters."""
    await builtin_tasks.remove_old_jobs(
        context,
        max_hours=FINISHED_JOBS_KEPT_HOURS,
        remove_failed=False,
        remove_cancelled=True,
        remove_aborted=True,
    )
