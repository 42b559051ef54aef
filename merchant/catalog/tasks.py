"""Catalog jobs: ingest an uploaded or fetched feed; publish the catalog to the Feed API."""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from procrastinate.job_context import JobContext

from merchant.catalog import ingest, uploads
from merchant.catalog.publish import FeedClient, FeedConfigError, publish_catalog
from merchant.catalog.sources import FeedFileError
from merchant.config import get_settings
from merchant.db.transaction import transaction
from merchant.jobs.app import app
from merchant.jobs.context import job_sessions

FINISHED = frozenset({"succeeded", "failed"})


def _file_name(source: str) -> str:
    """A local name keeping the source's own name (it breaks format-detection ties)."""
    path = urlsplit(source).path if "://" in source else source
    name = PurePosixPath(path).name
    return name if name and name not in (".", "..") else "feed"


@app.task(name="catalog.ingest_feed", queue="catalog", pass_context=True)
async def ingest_feed(context: JobContext, run_id: str) -> str:
    """Materialise the run's file (stored upload or URL), ingest it, drop the stored copy."""
    sessions = job_sessions(context)
    settings = get_settings()
    max_bytes = settings.feed_max_bytes
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="merchant-feed-") as tmp:
        async with transaction(sessions) as session:
            run = await ingest.get_run(session, run_id)
            if run.status in FINISHED:  # a retried job after the run already ended
                return run.status
            path = Path(tmp) / _file_name(run.source)
            if run.source_kind == "upload":
                await uploads.write_upload(session, run_id, path)
        try:
            if run.source_kind == "url":
                await uploads.fetch_url(
                    run.source, path, max_bytes=max_bytes, allow_private=settings.outbound_allow_private
                )
        except FeedFileError as exc:
            finished = await ingest.fail_run(sessions, run_id, exc.code, exc.message, started)
        else:
            options = ingest.reader_options(settings)
            finished = await ingest.run_ingest(sessions, run_id, ingest.FeedInput(path), options=options)
    async with transaction(sessions) as session:
        await uploads.delete_upload(session, run_id)
    return finished.status


@app.task(name="catalog.publish_feed", queue="catalog", pass_context=True, lock="catalog.publish_feed")
async def publish_feed(context: JobContext, feed_id: str | None = None) -> dict[str, Any]:
    """Upsert the live catalog into the configured Feed API feed (``MERCHANT_FEED_PUBLISH_*``).

    The feed must exist (``feed_id`` or ``MERCHANT_FEED_PUBLISH_ID``; ``merchant catalog publish``
    creates one): a job never creates feeds, which would leave a new one behind on every run.
    Idempotency keys are scoped by the job id, so a retried job replays what the agent has.
    """
    settings = get_settings()
    feed = feed_id or settings.feed_publish_id
    if not feed:
        raise FeedConfigError(
            "no feed id: set MERCHANT_FEED_PUBLISH_ID (`merchant catalog publish` creates a feed)"
        )
    sessions = job_sessions(context)
    async with FeedClient.from_settings(settings) as client, transaction(sessions) as session:
        result = await publish_catalog(
            session,
            client,
            feed_id=feed,
            batch_size=settings.feed_publish_batch_size,
            run_id=f"job_{context.job.id}",
        )
    return asdict(result)
