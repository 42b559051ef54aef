"""Running a worker and checking one is alive."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Iterable

import httpx
from procrastinate.app import WorkerOptions

from merchant.config import Settings
from merchant.db import create_engine, create_sessionmaker
from merchant.jobs import tasks
from merchant.jobs.app import open_jobs
from merchant.jobs.context import HTTP_KEY, SESSIONS_KEY, SETTINGS_KEY
from merchant.kit.outbound import outbound_client

# Outbound calls of jobs (webhook receivers): connect fast, do not wait long for an answer.
OUTBOUND_TIMEOUT = httpx.Timeout(10.0, connect=3.0)


async def run_worker(
    database_url: str,
    settings: Settings,
    *,
    concurrency: int,
    queues: Iterable[str] | None,
    wait: bool = True,
) -> None:
    """Consume the queue until stopped (SIGINT/SIGTERM), or until empty when ``wait`` is False."""
    engine = create_engine(database_url, settings)
    try:
        async with (
            open_jobs(database_url, pool_size=concurrency + 2) as app,
            outbound_client(allow_private=settings.outbound_allow_private, timeout=OUTBOUND_TIMEOUT) as http,
        ):
            context = {SESSIONS_KEY: create_sessionmaker(engine), HTTP_KEY: http, SETTINGS_KEY: settings}
            options: WorkerOptions = {
                "concurrency": concurrency,
                "name": f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}",
                "wait": wait,
                "fetch_job_polling_interval": settings.worker_poll_interval,
                "install_signal_handlers": wait,
                "additional_context": context,
            }
            if queues:
                options["queues"] = list(queues)
            await app.run_worker_async(**options)
    finally:
        await engine.dispose()


async def ping(database_url: str, *, wait_seconds: float) -> str:
    """Defer ``jobs.ping`` and wait for a worker to run it; returns the final status."""
    async with open_jobs(database_url, pool_size=1) as app:
        job_id = await tasks.ping.defer_async(token=uuid.uuid4().hex)
        deadline = asyncio.get_running_loop().time() + wait_seconds
        while True:
            [job] = await app.job_manager.list_jobs_async(id=job_id)
            status = job.status or "unknown"
            if status in {"succeeded", "failed", "aborted", "cancelled"}:
                return status
            if asyncio.get_running_loop().time() >= deadline:
                await app.job_manager.cancel_job_by_id_async(job_id, delete_job=True)
                return "timeout"
            await asyncio.sleep(0.2)
