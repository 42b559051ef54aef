"""Shared by the catalog tests: run a feed file through the real ingest, read the result."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from merchant.catalog import ingest
from merchant.catalog.models import FeedRowError, FeedRun, Variant
from merchant.catalog.records import FeedFormat, FeedMode
from merchant.db.transaction import transaction

FEEDS = Path(__file__).parent / "feeds"


async def run_feed(
    sessions: async_sessionmaker[AsyncSession],
    path: Path,
    *,
    mode: FeedMode = FeedMode.UPSERT,
    fmt: FeedFormat | None = None,
) -> FeedRun:
    async with transaction(sessions) as session:
        run = await ingest.create_run(
            session,
            source_kind="file",
            source=str(path),
            mode=mode,
            fmt=fmt,
            requested_by="test",
            size_bytes=None,
        )
    return await ingest.run_ingest(sessions, run.id, ingest.FeedInput.from_path(path))


async def variants(session: AsyncSession) -> dict[str, Variant]:
    rows = await session.scalars(select(Variant).execution_options(populate_existing=True))
    return {v.id: v for v in rows}


async def errors_of(session: AsyncSession, run_id: str) -> list[FeedRowError]:
    rows = await session.scalars(
        select(FeedRowError)
        .where(FeedRowError.run_id == run_id)
        .order_by(FeedRowError.line, FeedRowError.seq)
    )
    return list(rows)
