"""Read a feed file and map it into COPY-ready chunks, in this process or in mapper processes.

Parsing is cheap; mapping (validation) is most of a row's Python CPU; COPY and merge are
PostgreSQL's. For a large file a thread parses chunks, ``MAPPERS`` processes map them
(no GIL between them) and the loader COPYs and merges them in file order while the next
ones are mapped, so every core works; at most ``WINDOW`` chunks are in flight, so memory
stays bounded whatever the file size. Small files are read and mapped in a thread, where
starting interpreters would cost more than it saves.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import multiprocessing
import os
import resource
import sys
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from merchant.catalog import staging
from merchant.catalog.mapping.acp import map_acp_product
from merchant.catalog.mapping.google import map_google_row
from merchant.catalog.mapping.openai import map_openai_row
from merchant.catalog.records import FeedFormat, MapResult, RowError, VariantRecord
from merchant.catalog.sources import FeedFileError, RowProblem, iter_source_rows, open_feed

CHUNK_ROWS = 10_000
MAPPERS = 2  # mapper processes for a large file (the machine this was tuned on has 2 cores)
WINDOW = 4  # chunks being mapped at once
PROCESS_MIN_BYTES = 4 * 1024 * 1024  # smaller files are read in a thread
Mapper = Callable[[Mapping[str, Any]], list[tuple[str | None, MapResult]]]


@dataclass(slots=True)
class Batch:
    """One chunk: staged rows as COPY text, row errors, rejected ids, how far the file was read."""

    lines: list[str] = field(default_factory=list)  # while the chunk is built
    data: bytes = b""  # the COPY payload, once complete (what crosses the process boundary)
    accepted: int = 0
    errors: list[RowError] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    position: int = 0  # raw (possibly compressed) bytes read so far

    def __len__(self) -> int:
        return self.accepted + len(self.lines) + len(self.errors)

    def seal(self) -> Batch:
        self.data = "".join(self.lines).encode()
        self.accepted, self.lines = len(self.lines), []
        return self


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


def map_rows(
    rows: Iterator[tuple[int, Mapping[str, Any] | RowProblem]], mapper: Mapper, chunk_rows: int
) -> Iterator[Batch]:
    batch = Batch()
    for line, source in rows:
        if isinstance(source, RowProblem):
            batch.errors.append(RowError(line, None, None, source.code, source.message))
        else:
            for item_id, result in mapper(source):
                if isinstance(result, VariantRecord):
                    try:
                        batch.lines.append(staging.stage_row(line, result))
                        continue
                    except staging.UnstageableRow as exc:
                        errors = [RowError(line, item_id, None, "invalid_value", str(exc))]
                else:
                    errors = [RowError(line, item_id, e.field, e.code, e.message) for e in result]
                if item_id:
                    batch.rejected.append(item_id)
                batch.errors.extend(errors)
        if len(batch) >= chunk_rows:
            yield batch.seal()
            batch = Batch()
    if len(batch):
        yield batch.seal()


def read_batches(path: Path, fmt: FeedFormat, target_country: str | None, chunk_rows: int) -> Iterator[Batch]:
    """The whole file as chunks (raises ``FeedFileError`` when it cannot be read)."""
    mapper = mapper_for(fmt, target_country=target_country)
    stream, raw = open_feed(path)
    with raw, stream:
        for batch in map_rows(iter_source_rows(stream, fmt), mapper, chunk_rows):
            batch.position = raw.tell()
            yield batch


def _raw_chunks(
    path: Path, fmt: FeedFormat, chunk_rows: int
) -> Iterator[tuple[list[tuple[int, Mapping[str, Any] | RowProblem]], int]]:
    """Parsed but unmapped rows, a chunk at a time, with the raw bytes read so far."""
    stream, raw = open_feed(path)
    with raw, stream:
        rows = iter_source_rows(stream, fmt)
        while chunk := list(islice(rows, chunk_rows)):
            yield chunk, raw.tell()


@functools.cache
def _cached_mapper(fmt: FeedFormat, target_country: str | None) -> Mapper:
    return mapper_for(fmt, target_country=target_country)


def _map_chunk(
    rows: list[tuple[int, Mapping[str, Any] | RowProblem]], fmt: FeedFormat, target_country: str | None
) -> Batch:  # runs in a mapper process
    # The cyclic GC would rescan the chunk's ~10^5 live containers again and again while
    # the rows are mapped (it doubled the mapping time); mapping makes no reference cycles.
    gc.disable()
    try:
        batches = list(map_rows(iter(rows), _cached_mapper(fmt, target_country), sys.maxsize))
    finally:
        gc.enable()
    return batches[0] if batches else Batch()


@dataclass(frozen=True, slots=True)
class ReaderOptions:
    """Deployment knobs (``MERCHANT_FEED_MAPPERS``, ``MERCHANT_FEED_MAPPER_MIN_BYTES``); None = default."""

    mappers: int | None = None  # 0: always map in a thread
    process_min_bytes: int | None = None

    def resolved(self) -> tuple[int, int]:
        mappers = MAPPERS if self.mappers is None else self.mappers
        return mappers, PROCESS_MIN_BYTES if self.process_min_bytes is None else self.process_min_bytes


@dataclass(slots=True)
class ReaderStats:
    mapper_peak_rss_kib: int | None = None  # largest mapper process, when they ran


async def batches(
    path: Path,
    fmt: FeedFormat,
    target_country: str | None,
    stats: ReaderStats,
    options: ReaderOptions | None = None,
) -> AsyncGenerator[Batch, None]:
    """Chunks of ``path`` in file order.

    Small files are read and mapped in a thread. Large ones are parsed in a thread and
    mapped by ``MAPPERS`` processes, at most ``WINDOW`` chunks in flight (bounded memory).
    """
    chunk_rows = CHUNK_ROWS
    mappers, process_min_bytes = (options or ReaderOptions()).resolved()
    if mappers == 0 or await asyncio.to_thread(os.path.getsize, path) < process_min_bytes:
        chunks = read_batches(path, fmt, target_country, chunk_rows)
        while (batch := await asyncio.to_thread(next, chunks, None)) is not None:
            yield batch
        return
    loop = asyncio.get_running_loop()
    gc.freeze()  # the long-lived objects of this process leave the GC's scans while we parse
    # spawn: never fork a process that holds threads, sockets and a database connection
    executor = ProcessPoolExecutor(mappers, mp_context=multiprocessing.get_context("spawn"))
    raw = _raw_chunks(path, fmt, chunk_rows)
    pending: deque[tuple[asyncio.Future[Batch], int]] = deque()
    try:
        while True:
            while len(pending) < WINDOW and (item := await asyncio.to_thread(next, raw, None)):
                rows, position = item
                mapped = loop.run_in_executor(executor, _map_chunk, rows, fmt, target_country)
                pending.append((mapped, position))
            if not pending:
                break
            future, position = pending.popleft()
            batch = await future
            batch.position = position
            yield batch
    finally:
        for future, _ in pending:
            future.cancel()
        await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
        gc.unfreeze()
        stats.mapper_peak_rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
