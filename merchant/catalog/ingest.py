"""Feed runs: read a file, map every row, stage it and merge it; record what happened.

Transactions: (1) the run is marked ``running`` and committed, so staff see it;
(2) staging, merge, row errors and the final counts commit together - the live
catalog changes only if the whole file was read; (3) on failure, the run alone
is marked ``failed`` with the reason, in its own transaction.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psycopg
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from merchant.catalog import staging
from merchant.catalog.mapping.acp import map_acp_metadata, map_acp_product
from merchant.catalog.mapping.google import map_google_row
from merchant.catalog.mapping.openai import map_openai_row
from merchant.catalog.models import FeedRun
from merchant.catalog.records import FeedFormat, FeedMode, MapResult, RowError, VariantRecord
from merchant.catalog.sources import (
    FeedFileError,
    RowProblem,
    detect_format,
    iter_source_rows,
    open_feed,
)
from merchant.db.transaction import transaction
from merchant.errors import NotFound
from merchant.jobs.defer import raw_connection
from merchant.kit.clock import utc_now

log = structlog.get_logger(__name__)

CHUNK_ROWS = 20_000
Mapper = Callable[[Mapping[str, Any]], list[tuple[str | None, MapResult]]]
Progress = Callable[[int, int], None]  # (rows read, raw bytes read)


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


async def get_run(session: AsyncSession, run_id: str) -> FeedRun:
    run = await session.get(FeedRun, run_id)
    if run is None:
        raise NotFound(f"no feed run {run_id}", code="feed_run_not_found", param="$.run_id")
    return run


def _single(item_keys: tuple[str, ...], mapper: Callable[[Mapping[str, Any]], MapResult]) -> Mapper:
    def mapped(values: Mapping[str, Any]) -> list[tuple[str | None, MapResult]]:
        item_id = next((str(values[k]).strip() for k in item_keys if values.get(k)), None)
        return [(item_id, mapper(values))]

    return mapped


def _acp(target_country: str | None) -> Mapper:
    def mapped(values: Mapping[str, Any]) -> list[tuple[str | None, MapResult]]:
        return map_acp_product(values, target_country=target_country)

    return mapped


def mapper_for(fmt: FeedFormat, *, target_country: str | None = None) -> Mapper:
    if fmt in (FeedFormat.OPENAI_CSV, FeedFormat.OPENAI_TSV, FeedFormat.OPENAI_JSONL):
        return _single(("item_id", "id", "sku"), map_openai_row)
    if fmt in (FeedFormat.GOOGLE_CSV, FeedFormat.GOOGLE_TSV, FeedFormat.GOOGLE_XML):
        return _single(("id",), map_google_row)
    if fmt is FeedFormat.ACP_JSONL:
        return _acp(target_country)
    raise FeedFileError("unsupported_format", f"{fmt.value} files are not supported")


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


class _Batch:
    def __init__(self) -> None:
        self.records: list[tuple[Any, ...]] = []
        self.errors: list[RowError] = []
        self.rejected: list[str] = []

    def __len__(self) -> int:
        return len(self.records) + len(self.errors)


def _map_rows(rows: Iterator[tuple[int, Mapping[str, Any] | RowProblem]], mapper: Mapper) -> Iterator[_Batch]:
    batch = _Batch()
    for line, source in rows:
        if isinstance(source, RowProblem):
            batch.errors.append(RowError(line, None, None, source.code, source.message))
        else:
            for item_id, result in mapper(source):
                if isinstance(result, VariantRecord):
                    batch.records.append(staging.stage_row(line, result))
                    continue
                if item_id:
                    batch.rejected.append(item_id)
                batch.errors.extend(RowError(line, item_id, e.field, e.code, e.message) for e in result)
        if len(batch) >= CHUNK_ROWS:
            yield batch
            batch = _Batch()
    if len(batch):
        yield batch


async def load_file(
    conn: psycopg.AsyncConnection[Any],
    run: FeedRun,
    feed: FeedInput,
    fmt: FeedFormat,
    progress: Progress | None = None,
) -> LoadStats:
    """Parse, map and COPY the whole file into staging, then merge (caller's transaction)."""
    stats = LoadStats()
    mapper = mapper_for(fmt, target_country=_target_country(feed.metadata))
    started = time.perf_counter()
    await staging.create_stage(conn)
    stream, raw = open_feed(feed.path)
    with raw, stream:
        batches = _map_rows(iter_source_rows(stream, fmt), mapper)
        copying: asyncio.Task[None] | None = None
        try:
            # Pipeline: the next chunk is read and mapped in a thread while this one is
            # COPYed, so the server's COPY work overlaps our parsing and mapping.
            while (batch := await asyncio.to_thread(next, batches, None)) is not None:
                if copying is not None:
                    await copying
                copying = asyncio.create_task(_copy_batch(conn, run.id, stats, batch))
                if progress:
                    progress(stats.rows_accepted + stats.rows_rejected + len(batch), raw.tell())
            if copying is not None:
                await copying
        finally:
            if copying is not None and not copying.done():
                copying.cancel()
    loaded = time.perf_counter()
    counts = await staging.merge(conn, run_id=run.id, next_seq=stats.errors, snapshot=run.mode == "snapshot")
    merged = time.perf_counter()
    stats.rows_accepted -= counts.duplicates
    stats.rows_rejected += counts.duplicates
    stats.errors += counts.duplicates
    run.variants_created, run.variants_updated = counts.created, counts.updated
    run.variants_delisted = counts.delisted
    run.variants_unchanged = stats.rows_accepted - counts.created - counts.updated
    stats.timings = {"load_s": round(loaded - started, 3), "merge_s": round(merged - loaded, 3)}
    return stats


async def _copy_batch(
    conn: psycopg.AsyncConnection[Any], run_id: str, stats: LoadStats, batch: _Batch
) -> None:
    await staging.copy_records(conn, batch.records)
    await staging.copy_rejected(conn, batch.rejected)
    await staging.copy_errors(conn, run_id, stats.errors, batch.errors)
    stats.rows_accepted += len(batch.records)
    stats.errors += len(batch.errors)
    stats.rows_rejected += _rejected_rows(batch.errors)


def _rejected_rows(errors: list[RowError]) -> int:
    """Rows (or ACP variants) rejected: several field errors of one item count once."""
    return len({(e.line, e.item_id) for e in errors})


async def run_ingest(
    sessions: async_sessionmaker[AsyncSession],
    run_id: str,
    feed: FeedInput,
    *,
    progress: Progress | None = None,
) -> FeedRun:
    """Process a queued run to ``succeeded`` or ``failed``; never raises for a bad file."""
    async with transaction(sessions) as session:
        run = await get_run(session, run_id)
        run.status, run.started_at = "running", utc_now()
    started = time.perf_counter()
    try:
        async with transaction(sessions) as session:
            run = await get_run(session, run_id)
            fmt = FeedFormat(run.format) if run.format else detect_format(feed.path)
            run.format = fmt.value
            if run.size_bytes is None:
                run.size_bytes = feed.path.stat().st_size
            stats = await load_file(await raw_connection(session), run, feed, fmt, progress)
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
