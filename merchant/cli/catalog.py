"""``merchant catalog``: import, export and publish product feeds."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from merchant.catalog import ingest
from merchant.catalog.export import ExportFormat, export_catalog
from merchant.catalog.models import FeedRowError, FeedRun
from merchant.catalog.publish import (
    FeedClient,
    FeedConfigError,
    FeedMetadata,
    FeedPublishError,
    PublishResult,
    publish_catalog,
)
from merchant.catalog.records import FeedFormat, FeedMode
from merchant.catalog.sources import FeedFileError
from merchant.cli._common import fail, load_settings, run_in_transaction, run_with_sessions
from merchant.db.transaction import transaction

app = typer.Typer(help="Product catalog: feed import, export and publication.", no_args_is_help=True)
console = Console(stderr=True)
ERRORS_SHOWN = 20


@app.command("import")
def import_(
    file: Path = typer.Argument(
        ..., exists=True, help="Feed file (optionally gzipped), or a directory with products.jsonl"
    ),
    fmt: FeedFormat | None = typer.Option(None, "--format", help="Override the detected format"),
    mode: FeedMode = typer.Option(
        FeedMode.UPSERT, "--mode", help="snapshot: variants missing from the file are delisted"
    ),
    show_errors: int = typer.Option(ERRORS_SHOWN, "--errors", help="How many row errors to print"),
) -> None:
    """Import a feed file; exits non-zero when the run fails."""
    try:
        feed = ingest.FeedInput.from_path(file)
    except FeedFileError as exc:
        raise fail(exc.message) from exc

    async def work(sessions: async_sessionmaker[AsyncSession]) -> tuple[FeedRun, list[FeedRowError]]:
        async with transaction(sessions) as session:
            run = await ingest.create_run(
                session,
                source_kind="file",
                source=str(file),
                mode=mode,
                fmt=fmt,
                requested_by="cli",
                size_bytes=feed.path.stat().st_size,
            )
        total = feed.path.stat().st_size
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[rows]:,} rows"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task(f"Importing {feed.path.name}", total=total, rows=0)

            def progress(rows: int, done: int) -> None:
                bar.update(task, completed=done, rows=rows)

            run = await ingest.run_ingest(sessions, run.id, feed, progress=progress, options=options)
        async with transaction(sessions) as session:
            errors = await session.scalars(
                select(FeedRowError)
                .where(FeedRowError.run_id == run.id)
                .order_by(FeedRowError.line, FeedRowError.seq)
                .limit(show_errors)
            )
            return run, list(errors)

    settings = load_settings()
    options = ingest.reader_options(settings)
    run, errors = run_with_sessions(settings, work)
    _print_summary(run, errors)
    if run.status != "succeeded":
        raise typer.Exit(1)


def _print_summary(run: FeedRun, errors: list[FeedRowError]) -> None:
    table = Table(title=f"Feed run {run.id}", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    rows = [
        ("status", run.status),
        ("format", run.format or "-"),
        ("mode", run.mode),
        ("rows", f"{run.rows_total:,} ({run.rows_accepted:,} accepted, {run.rows_rejected:,} rejected)"),
        (
            "variants",
            f"{run.variants_created:,} created, {run.variants_updated:,} updated, "
            f"{run.variants_unchanged:,} unchanged, {run.variants_delisted:,} delisted",
        ),
        ("timings", ", ".join(f"{k} {v}" for k, v in (run.timings or {}).items()) or "-"),
    ]
    if run.error_message:
        rows.append(("error", f"{run.error_code}: {run.error_message}"))
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
    if errors:
        listing = Table(title=f"Row errors (first {len(errors)} of {run.rows_rejected:,} rows)")
        for column in ("line", "item id", "field", "code", "message"):
            listing.add_column(column)
        for error in errors:
            listing.add_row(
                str(error.line), error.item_id or "", error.field or "", error.code, error.message
            )
        console.print(listing)


@app.command("export")
def export(
    out: Path = typer.Argument(..., help="Output file (a directory for --format acp)"),
    fmt: ExportFormat = typer.Option(..., "--format", help="acp, openai-jsonl or openai-csv"),
    gzipped: bool = typer.Option(False, "--gzip", help="Gzip the output"),
    feed_id: str = typer.Option("catalog", "--feed-id", help="ACP metadata.json feed id"),
    target_country: str | None = typer.Option(None, "--target-country", help="ACP metadata target"),
) -> None:
    """Write the live catalog as a feed, streaming."""

    async def work(session: AsyncSession) -> int:
        return await export_catalog(
            session, fmt, out, gzipped=gzipped, feed_id=feed_id, target_country=target_country
        )

    count = run_in_transaction(load_settings(), work)
    typer.echo(f"Exported {count:,} variants to {out} ({fmt.value}{', gzip' if gzipped else ''}).")


@app.command("publish")
def publish(
    feed_id: str | None = typer.Option(
        None, "--feed-id", help="Existing feed id (default: $MERCHANT_FEED_PUBLISH_ID; none: create a feed)"
    ),
    url: str | None = typer.Option(
        None, "--url", help="Feed API base URL (default: $MERCHANT_FEED_PUBLISH_URL)"
    ),
    token: str | None = typer.Option(
        None, "--token", help="Feed API bearer token (default: $MERCHANT_FEED_PUBLISH_TOKEN)"
    ),
    batch_size: int | None = typer.Option(
        None, "--batch-size", min=1, help="Products per PATCH (default: $MERCHANT_FEED_PUBLISH_BATCH_SIZE)"
    ),
) -> None:
    """Upsert the live catalog into an agent-hosted ACP Feed API; fully delisted products are
    sent as discontinued. Exits non-zero when the publication fails."""
    settings = load_settings()
    try:
        client = FeedClient.from_settings(settings, url=url, token=token)
    except FeedConfigError as exc:
        raise fail(str(exc)) from exc
    feed_id = feed_id or settings.feed_publish_id
    size = batch_size or settings.feed_publish_batch_size

    def created(metadata: FeedMetadata) -> None:
        console.print(
            f"Created feed [bold]{metadata.id}[/bold]; set MERCHANT_FEED_PUBLISH_ID={metadata.id} "
            "(or pass --feed-id) to publish into it next time.",
            soft_wrap=True,
        )

    async def work(session: AsyncSession) -> PublishResult:
        async with client:
            with Progress(
                TextColumn("[bold]Publishing to {task.fields[feed]}"),
                TextColumn("{task.fields[batches]:,} batches, {task.fields[products]:,} products"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            ) as bar:
                task = bar.add_task("publish", total=None, feed=client.base_url, batches=0, products=0)

                def progress(batches: int, products: int, variants: int) -> None:
                    bar.update(task, batches=batches, products=products)

                return await publish_catalog(
                    session,
                    client,
                    feed_id=feed_id,
                    target_country=settings.feed_publish_target_country,
                    batch_size=size,
                    on_feed_created=created,
                    on_batch=progress,
                )

    try:
        result = run_in_transaction(settings, work)
    except FeedPublishError as exc:
        raise fail(f"publication failed: {exc}") from exc
    typer.echo(
        f"Published {result.products:,} products ({result.variants:,} variants, "
        f"{result.discontinued_products:,} discontinued) to feed {result.feed_id} "
        f"in {result.batches:,} batches ({result.elapsed_seconds:.1f} s)."
    )
