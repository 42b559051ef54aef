"""Jobs: transactional defer, a worker running them, periodic tasks, stalled-job recovery."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from merchant.config import Settings
from merchant.db import create_sessionmaker, transaction
from merchant.jobs import tasks
from merchant.jobs.defer import defer
from merchant.jobs.worker import run_worker


async def _jobs(engine: AsyncEngine, task_name: str) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT id, status::text AS status, lock FROM procrastinate_jobs WHERE task_name = :t"),
            {"t": task_name},
        )
        return [dict(row._mapping) for row in rows]


class TestDefer:
    async def test_job_exists_when_the_transaction_commits(self, committed: AsyncEngine) -> None:
        async with transaction(create_sessionmaker(committed)) as session:
            job_id = await defer(session, tasks.ping, lock="order:1", token="committed")

        [job] = await _jobs(committed, "jobs.ping")
        assert (job["id"], job["status"], job["lock"]) == (job_id, "todo", "order:1")

    async def test_no_job_when_the_transaction_rolls_back(self, committed: AsyncEngine) -> None:
        async def failing_request() -> None:
            async with transaction(create_sessionmaker(committed)) as session:
                await defer(session, tasks.ping, token="rolled-back")
                raise RuntimeError("business change failed")

        with pytest.raises(RuntimeError, match="business change failed"):
            await failing_request()

        assert await _jobs(committed, "jobs.ping") == []

    async def test_job_shares_the_callers_transaction(self, committed: AsyncEngine) -> None:
        async with transaction(create_sessionmaker(committed)) as session:
            await defer(session, tasks.ping, token="invisible")
            # Not committed yet: another connection must not see it.
            assert await _jobs(committed, "jobs.ping") == []
        assert len(await _jobs(committed, "jobs.ping")) == 1


class TestWorker:
    async def test_worker_runs_a_committed_job(self, committed: AsyncEngine, settings: Settings) -> None:
        async with transaction(create_sessionmaker(committed)) as session:
            await defer(session, tasks.ping, token="run-me")

        await run_worker(settings.database_url or "", settings, concurrency=2, queues=None, wait=False)

        assert [job["status"] for job in await _jobs(committed, "jobs.ping")] == ["succeeded"]

    async def test_periodic_tasks_are_deferred_and_run(
        self, committed: AsyncEngine, settings: Settings
    ) -> None:
        worker = asyncio.create_task(
            run_worker(settings.database_url or "", settings, concurrency=1, queues=None)
        )
        try:
            for _ in range(100):
                runs = await _jobs(committed, "jobs.retry_stalled")
                if runs and runs[0]["status"] == "succeeded":
                    break
                await asyncio.sleep(0.1)
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        assert [job["status"] for job in runs] == ["succeeded"]


class TestRetryStalled:
    async def test_requeues_jobs_of_a_dead_worker(self, committed: AsyncEngine, settings: Settings) -> None:
        async with committed.begin() as connection:
            worker_id = await connection.scalar(
                text(
                    "INSERT INTO procrastinate_workers (last_heartbeat) "
                    "VALUES (now() - interval '1 hour') RETURNING id"
                )
            )
            job_id = await connection.scalar(
                text(
                    "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status, worker_id) "
                    "VALUES ('default', 'jobs.ping', '{\"token\": \"x\"}', 'doing', :w) RETURNING id"
                ),
                {"w": worker_id},
            )
            await connection.execute(
                text("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = :id"), {"id": job_id}
            )

        async with transaction(create_sessionmaker(committed)) as session:
            await defer(session, tasks.retry_stalled, timestamp=0)
        await run_worker(settings.database_url or "", settings, concurrency=1, queues=None, wait=False)

        statuses = {job["id"]: job["status"] for job in await _jobs(committed, "jobs.ping")}
        # Requeued (and maybe already run again by the same worker pass).
        assert statuses[job_id] in {"todo", "succeeded"}
        async with committed.connect() as connection:
            events = await connection.scalars(
                text("SELECT type::text FROM procrastinate_events WHERE job_id = :id"), {"id": job_id}
            )
            assert "deferred_for_retry" in set(events)


class TestRemoveOldJobs:
    async def test_deletes_old_finished_jobs_and_keeps_dead_letters(
        self, committed: AsyncEngine, settings: Settings
    ) -> None:
        async with committed.begin() as connection:
            ids = {}
            for status in ("succeeded", "failed"):
                job_id = await connection.scalar(
                    text(
                        "INSERT INTO procrastinate_jobs (queue_name, task_name, args) "
                        "VALUES ('default', 'jobs.ping', '{}') RETURNING id"
                    )
                )
                # Through the status column, so procrastinate's triggers record the events.
                await connection.execute(
                    text(
                        "UPDATE procrastinate_jobs SET status = CAST(:s AS procrastinate_job_status) "
                        "WHERE id = :id"
                    ),
                    {"s": status, "id": job_id},
                )
                ids[status] = job_id
            await connection.execute(
                text("UPDATE procrastinate_events SET at = now() - interval '100 hours'")
            )

        async with transaction(create_sessionmaker(committed)) as session:
            cleanup_id = await defer(session, tasks.remove_old_jobs, timestamp=0)
        await run_worker(settings.database_url or "", settings, concurrency=1, queues=None, wait=False)

        remaining = {job["id"] for job in await _jobs(committed, "jobs.ping")}
        assert remaining == {ids["failed"]}
        # Only our job: at minute 17 the worker's periodic scheduler may add its own run.
        cleanup = [j for j in await _jobs(committed, "jobs.remove_old_jobs") if j["id"] == cleanup_id]
        assert [j["status"] for j in cleanup] == ["succeeded"]
