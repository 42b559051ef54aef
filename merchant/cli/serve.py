"""``merchant serve``: the API under uvicorn (uvloop + httptools)."""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

import typer
import uvicorn

from merchant.cli._common import database, ensure_schema, load_settings
from merchant.config import get_settings
from merchant.logging import configure_logging
from merchant.payments.setup import EMULATOR_API_KEY, EMULATOR_URL_FILE, start_emulator


def serve(
    host: str | None = typer.Option(None, help="Bind address [default: MERCHANT_HOST or 127.0.0.1]"),
    port: int | None = typer.Option(None, help="Port [default: MERCHANT_PORT or 8000]"),
    workers: int = typer.Option(1, min=1, help="Worker processes"),
) -> None:
    """Run the HTTP API. On the embedded database, pending migrations are applied first."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    url, embedded = database(settings)
    ensure_schema(url, migrate=embedded or settings.auto_migrate)
    # Worker processes inherit the resolved URL and share this process's embedded server.
    os.environ["MERCHANT_DATABASE_URL"] = url
    if not settings.stripe_api_key and not settings.is_production:
        # One emulator for all workers, so a payment made by one can be captured by another.
        emulator = start_emulator()
        os.environ["MERCHANT_STRIPE_API_KEY"] = EMULATOR_API_KEY
        os.environ["MERCHANT_STRIPE_API_BASE"] = emulator.url
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        (settings.data_dir / EMULATOR_URL_FILE).write_text(emulator.url)
    # The app factory reads the settings again: without a configured public URL, outside
    # production, its links point at the address really bound (never at a request's Host).
    if host:
        os.environ["MERCHANT_HOST"] = host
    if port:
        os.environ["MERCHANT_PORT"] = str(port)
    get_settings.cache_clear()
    _exit_normally_on_sigterm()
    uvicorn.run(
        "merchant.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        proxy_headers=True,
    )


def _exit_normally_on_sigterm() -> None:
    """uvicorn shuts down gracefully on SIGTERM, then raises the signal again for the handler it found.

    Left at the default action, that second SIGTERM kills the process without its exit handlers, and
    the embedded PostgreSQL server (stopped by one of them) would outlive every ``docker stop`` or
    ``systemctl stop``. A stop that was graceful is a normal exit.
    """

    def exit_now(signum: int, frame: FrameType | None) -> None:
        sys.exit(0)

    signal.signal(signal.SIGTERM, exit_now)
