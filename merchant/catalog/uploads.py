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
from merchant.kit.outbound import (
    MAX_REDIRECTS,
    REDIRECT_STATUSES,
    ForbiddenDestination,
    check_url,
    outbound_client,
)

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
    url: str,
    target: Path,
    *,
    max_bytes: int,
    allow_private: bool = False,
    http: httpx.AsyncClient | None = None,
) -> int:
    """Download ``url`` to ``target`` (streamed); returns the size.

    Every hop (redirects are followed one at a time, at most ``MAX_REDIRECTS``) must pass
    the outbound guard, which checks the address each connection goes to; a non-2xx answer, a
    refused address or an oversized body fails. ``http`` (tests) replaces the guarded client.
    """
    owned = http is None
    http = http or outbound_client(allow_private=allow_private, timeout=FETCH_TIMEOUT)
    hop: httpx.URL | str = url
    try:
        for _ in range(MAX_REDIRECTS + 1):
            current = check_url(hop)
            async with http.stream("GET", current, follow_redirects=False) as response:
                location = response.headers.get("location")
                if response.status_code in REDIRECT_STATUSES and location:
                    hop = current.join(location)
                    continue
                if response.status_code // 100 != 2:
                    raise FeedFileError("fetch_failed", f"GET {current} answered HTTP {response.status_code}")
                return await _save(response, target, max_bytes)
        raise FeedFileError("fetch_failed", f"GET {url}: more than {MAX_REDIRECTS} redirects")
    except ForbiddenDestination as exc:
        raise FeedFileError("forbidden_url", f"{hop} is not fetched: {exc}") from None
    except httpx.HTTPError as exc:
        raise FeedFileError("fetch_failed", f"GET {hop} failed: {exc.__class__.__name__}: {exc}") from None
    finally:
        if owned:
            await http.aclose()


async def _save(response: httpx.Response, target: Path, max_bytes: int) -> int:
    size = 0
    with target.open("wb") as out:  # a job's temporary file: blocking writes are fine here
        async for chunk in response.aiter_raw():
            size += len(chunk)
            if size > max_bytes:
                raise FeedFileError("file_too_large", f"the file is larger than {max_bytes:,} bytes")
            out.write(chunk)
    return size
