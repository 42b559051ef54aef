"""``merchant worker`` and ``merchant jobs``: background jobs (procrastinate)."""

from __future__ import annotations

import asyncio

import typer

from merchant.cli._common import database, ensure_schema, fail, load_settings
from merchant.jobs import worker as jobs_worker
from merchant.logging import configure_logging

app = typer.Typer(help="Background jobs.", no_args_is_help=True)


def worker(
    concurrency: int = typer.Option(4, min=1, help="Jobs run at once by this process"),
    queue: list[str] | None = typer.Option(None, "--queue", "-q", help="Only these queues (repeatable)"),
) -> None:
    """Run a job worker. Any number of workers, on any number of machines, share the queue."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    url, embedded = database(settings)
    ensure_schema(url, migrate=embedded or settings.auto_migrate)
    asyncio.run(jobs_worker.run_worker(url, settings, concurrency=concurrency, queues=queue))


@app.command("ping")
def ping(timeout: float = typer.Option(30.0, help="Seconds to wait for a worker")) -> None:
    """Queue a no-op job and wait until a worker has run it (a deployment smoke test)."""
    url, _ = database(load_settings())
    status = asyncio.run(jobs_worker.ping(url, wait_seconds=timeout))
    if status != "succeeded":
        raise fail(f"the ping job ended {status}: is a worker running?")
    typer.echo("a worker ran the ping job")
