"""Where a feed waits for its job: uploaded bytes in the database, or a URL to fetch.

Uploads are stored in 1 MiB chunks in ``catalog_feed_upload`` (so any API node
can accept a file and any worker can process it) and deleted once the run ends.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

import httpx
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.catalog.models import FeedUpload
from merchant.catalog.sources import FeedFileError

CHUNK_BYTES = 1024 * 1024
FETCH_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


async def store_upload(session: AsyncSession, run_id: str, stream: IO[bytes], *, max_bytes: int) -> int:
    """Copy ``stream`` into the run's chunks; returns the size. Over ``max_bytes`` is refused."""
    size = 0
    seq = 0
    while chunk := stream.read(CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise FeedFileError("file_too_large", f"the file is larger than {max_bytes:,} bytes")
        session.add(FeedUpload(run_id=run_id, seq=seq, data=chunk))
        seq += 1
        if seq % 16 == 0:
            await session.flush()
    await session.flush()
    return size


async def write_upload(session: AsyncSession, run_id: str, target: Path) -> int:
    """Write the stored chunks of ``run_id`` to ``target``; returns the size."""
    size = 0
    result = await session.stream_scalars(
        select(FeedUpload.data).where(FeedUpload.run_id == run_id).order_by(FeedUpload.seq)
    )
    with target.open("wb") as out:
        async for chunk in result:
            out.write(chunk)
            size += len(chunk)
    return size


async def delete_upload(session: AsyncSession, run_id: str) -> None:
    await session.execute(delete(FeedUpload).where(FeedUpload.run_id == run_id))


async def fetch_url(
    url: str, target: Path, *, max_bytes: int, client: httpx.AsyncClient | None = None
) -> int:
    """Download ``url`` to ``target`` (streamed); a non-2xx answer or an oversized body fails."""
    owned = client is None
    http = client or httpx.AsyncClient(timeout=FETCH_TIMEOUT, follow_redirects=True)
    size = 0
    try:
        async with http.stream("GET", url) as response:
            if response.status_code // 100 != 2:
                raise FeedFileError("fetch_failed", f"GET {url} answered HTTP {response.status_code}")
            with target.open("wb") as out:
                async for chunk in response.aiter_raw():
                    size += len(chunk)
                    if size > max_bytes:
                        raise FeedFileError("file_too_large", f"the file is larger than {max_bytes:,} bytes")
                    out.write(chunk)
    except httpx.HTTPError as exc:
        raise FeedFileError("fetch_failed", f"GET {url} failed: {exc.__class__.__name__}: {exc}") from None
    finally:
        if owned:
            await http.aclose()
    return size
