"""Feed runs: read a file, map every row, stage it and merge it; record what happened.

Transactions: (1) the run is marked ``running`` and committed, so staff see it;
(2) staging, merge, row errors and the final counts commit together - the live
catalog changes only if the whole file was read; (3) on failure, the run alone
is marked ``failed`` with the reason, in its own transaction.

A process killed mid-run (SIGKILL, OOM, power cut) cannot do (3): transaction (2)
holds the run's advisory lock, which PostgreSQL releases when the transaction ends
or its connection dies (noticed at the latest when the statement running then
ends: merges go chunk by chunk), so a ``running`` run whose lock is free has no process left;
the next import marks it failed (``fail_dead_runs``).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
import structlog
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from merchant.catalog import reader, staging
from merchant.catalog.mapping.acp import map_acp_metadata
from merchant.catalog.models import FeedRun
from merchant.catalog.records import FeedFormat, FeedMode, RowError
from merchant.catalog.sources import (
    FeedFileError,
    detect_format,
)
from merchant.config import Settings
from merchant.db.transaction import transaction
from merchant.errors import NotFound
from merchant.jobs.defer import raw_connection
from merchant.kit.clock import utc_now

log = structlog.get_logger(__name__)

Progress = Callable[[int, int], None]  # (rows read, raw bytes read)
# From marking a run running (1) to its load (2) taking the run's lock: a moment, unless the
# pool makes (2) wait; a run younger than this is never judged dead.
STARTING_GRACE = timedelta(seconds=5)
INTERRUPTED = "the import stopped before it finished (its process ended); nothing was changed, run it again"


def reader_options(settings: Settings) -> reader.ReaderOptions:
    return reader.ReaderOptions(
        mappers=settings.feed_mappers, process_min_bytes=settings.feed_mapper_min_bytes
    )


def new_run_id() -> str:
    return f"run_{secrets.token_hex(10)}"


async def create_run(
    session: AsyncSession,
    *,
    source_kind: str,
    source: str,
    mode: FeedMode,
    fmt: FeedFormat | None,
    requested_by: str | None,
    size_bytes: int | None,
) -> FeedRun:
    await fail_dead_runs(session, now=utc_now())
    run = FeedRun(
        id=new_run_id(),
        source_kind=source_kind,
        source=source,
        format=fmt.value if fmt else None,
        format_requested=fmt.value if fmt else None,
        mode=mode.value,
        status="queued",
        requested_by=requested_by,
        size_bytes=size_bytes,
        timings={},
    )
    session.add(run)
    await session.flush()
    return run


def run_lock_id(run_id: str) -> int:
    """The signed 64-bit advisory lock id a run's load holds while it lives."""
    digest = hashlib.sha256(f"catalog.feed_run\n{run_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def _hold_run(session: AsyncSession, run_id: str) -> None:
    """Hold the run's lock for this transaction (2): the run is alive while it does."""
    await session.execute(select(func.pg_advisory_xact_lock(run_lock_id(run_id))))


async def fail_dead_runs(session: AsyncSession, *, now: datetime) -> list[str]:
    """Mark failed the runs left ``running`` by a process that died (their load rolled back)."""
    running = await session.scalars(
        select(FeedRun.id).where(FeedRun.status == "running", FeedRun.started_at < now - STARTING_GRACE)
    )
    dead = [
        run_id
        for run_id in running.all()
        if await session.scalar(select(func.pg_try_advisory_xact_lock(run_lock_id(run_id))))
    ]
    if dead:
        await session.execute(
            update(FeedRun)
            .where(FeedRun.id.in_(dead))
            .values(status="failed", error_code="interrupted", error_message=INTERRUPTED, finished_at=now)
        )
        log.warning("catalog.feed_runs_interrupted", run_ids=dead)
    return dead


async def get_run(session: AsyncSession, run_id: str) -> FeedRun:
    run = await session.get(FeedRun, run_id)
    if run is None:
        raise NotFound(f"no feed run {run_id}", code="feed_run_not_found", param="$.run_id")
    return run


@dataclass
class LoadStats:
    rows_accepted: int = 0
    rows_rejected: int = 0
    errors: int = 0
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FeedInput:
    """What to ingest: the content file, plus an ACP ``metadata.json`` when there is one."""

    path: Path
    metadata: Path | None = None

    @classmethod
    def from_path(cls, path: Path) -> FeedInput:
        """A file, or a directory holding ``products.jsonl`` (+ ``metadata.json``)."""
        if path.is_dir():
            products = next((p for p in sorted(path.glob("products.jsonl*"))), None)
            if products is None:
                raise FeedFileError("missing_products", f"{path} holds no products.jsonl")
            metadata = path / "metadata.json"
            return cls(products, metadata if metadata.exists() else None)
        return cls(path)


def _target_country(metadata: Path | None) -> str | None:
    if metadata is None:
        return None
    try:
        obj = orjson.loads(metadata.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise FeedFileError("invalid_metadata", f"metadata.json is not valid JSON: {exc}") from None
    parsed, errors = map_acp_metadata(obj)
    if errors:
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
        raise FeedFileError("invalid_metadata", f"metadata.json is invalid: {detail}")
    return parsed.target_country if parsed else None


async def load_file(
    conn: psycopg.AsyncConnection[Any],
    run: FeedRun,
    feed: FeedInput,
    fmt: FeedFormat,
    progress: Progress | None = None,
    options: reader.ReaderOptions | None = None,
) -> LoadStats:
    """Read, map, stage and merge the whole file, chunk by chunk (caller's transaction).

    Pipeline: the reader (``merchant.catalog.reader``) reads and maps chunk N+1 while
    this coroutine COPYs and merges chunk N, so Python's work and PostgreSQL's overlap.
    """
    stats = LoadStats()
    counts = staging.MergeCounts()
    reader_stats = reader.ReaderStats()
    started = time.perf_counter()
    await staging.create_stage(conn)
    chunks = reader.batches(feed.path, fmt, _target_country(feed.metadata), reader_stats, options)
    merging: asyncio.Task[None] | None = None
    try:
        async for batch in chunks:
            if merging is not None:
                await merging
            merging = asyncio.create_task(_load_batch(conn, run.id, stats, counts, batch))
            if progress:
                progress(stats.rows_accepted + stats.rows_rejected + len(batch), batch.position)
        if merging is not None:
            await merging
    finally:
        if merging is not None and not merging.done():
            merging.cancel()
        await chunks.aclose()
    await staging.finish(conn, counts, run_id=run.id, snapshot=run.mode == "snapshot")
    run.variants_created, run.variants_updated = counts.created, counts.updated
    run.variants_delisted = counts.delisted
    run.variants_unchanged = stats.rows_accepted - counts.created - counts.updated
    stats.timings = {"load_s": round(time.perf_counter() - started, 3), **counts.timings}
    if reader_stats.mapper_peak_rss_kib is not None:
        stats.timings["mapper_peak_rss_mb"] = round(reader_stats.mapper_peak_rss_kib / 1024, 1)
    return stats


async def _load_batch(
    conn: psycopg.AsyncConnection[Any],
    run_id: str,
    stats: LoadStats,
    counts: staging.MergeCounts,
    batch: reader.Batch,
) -> None:
    clock = time.perf_counter()
    await staging.copy_records(conn, batch.data)
    await staging.copy_rejected(conn, batch.rejected)
    await staging.copy_errors(conn, run_id, stats.errors, batch.errors)
    counts.lap("copy_s", clock)
    stats.errors += len(batch.errors)
    duplicates = await staging.merge_chunk(
        conn, counts, run_id=run_id, next_seq=stats.errors, staged=batch.accepted
    )
    stats.rows_accepted += batch.accepted - duplicates
    stats.rows_rejected += _rejected_rows(batch.errors) + duplicates
    stats.errors += duplicates


def _rejected_rows(errors: list[RowError]) -> int:
    """Rows (or ACP variants) rejected: several field errors of one item count once."""
    return len({(e.line, e.item_id) for e in errors})


async def run_ingest(
    sessions: async_sessionmaker[AsyncSession],
    run_id: str,
    feed: FeedInput,
    *,
    progress: Progress | None = None,
    options: reader.ReaderOptions | None = None,
) -> FeedRun:
    """Process a queued run to ``succeeded`` or ``failed``; never raises for a bad file."""
    async with transaction(sessions) as session:
        run = await get_run(session, run_id)
        run.status, run.started_at = "running", utc_now()
    started = time.perf_counter()
    try:
        async with transaction(sessions) as session:
            await _hold_run(session, run_id)
            run = await get_run(session, run_id)
            if run.status != "running":  # judged dead while (2) waited for a connection
                return run
            fmt = FeedFormat(run.format) if run.format else detect_format(feed.path)
            run.format = fmt.value
            if run.size_bytes is None:
                run.size_bytes = feed.path.stat().st_size
            connection = await raw_connection(session)
            stats = await load_file(connection, run, feed, fmt, progress, options)
            run.rows_accepted, run.rows_rejected = stats.rows_accepted, stats.rows_rejected
            run.rows_total = stats.rows_accepted + stats.rows_rejected
            run.timings = {**stats.timings, "total_s": round(time.perf_counter() - started, 3)}
            run.status, run.finished_at = "succeeded", utc_now()
        log.info("catalog.feed_run_succeeded", run_id=run_id, format=run.format, rows=run.rows_total)
        return run
    except FeedFileError as exc:
        return await fail_run(sessions, run_id, exc.code, exc.message, started)
    except Exception:
        log.exception("catalog.feed_run_crashed", run_id=run_id)
        return await fail_run(
            sessions, run_id, "processing_error", "the feed could not be processed (see the logs)", started
        )


async def fail_run(
    sessions: async_sessionmaker[AsyncSession], run_id: str, code: str, message: str, started: float
) -> FeedRun:
    async with transaction(sessions) as session:
        run = await get_run(session, run_id)
        run.status, run.error_code, run.error_message = "failed", code, message
        run.timings = {"total_s": round(time.perf_counter() - started, 3)}
        run.finished_at = utc_now()
    log.warning("catalog.feed_run_failed", run_id=run_id, code=code, message=message)
    return run
