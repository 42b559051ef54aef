"""What every command needs: settings, the database, a transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from merchant.config import ConfigurationError, Settings, get_settings
from merchant.db import create_engine, create_sessionmaker, transaction
from merchant.db.embedded import resolve_database_url
from merchant.db.migrations import schema_state, upgrade

T = TypeVar("T")


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def load_settings() -> Settings:
    settings = get_settings()
    try:
        settings.check_production_ready()
    except ConfigurationError as exc:
        raise fail(str(exc)) from exc
    return settings


def database(settings: Settings) -> tuple[str, bool]:
    """Resolve the database, announcing the embedded server when it is used."""
    url, embedded = resolve_database_url(settings)
    if embedded:
        where = (settings.data_dir / "pgdata").resolve()
        typer.secho(f"Using the embedded PostgreSQL in {where}", err=True)
    return url, embedded


def ensure_schema(url: str, *, migrate: bool) -> None:
    """Apply pending migrations when allowed; otherwise refuse an out-of-date schema."""
    state = schema_state(url)
    if state.is_current:
        return
    if not state.known:
        raise fail(state.describe())
    if not migrate:
        raise fail(f"{state.describe()}: run `merchant db upgrade` or set MERCHANT_AUTO_MIGRATE=1")
    typer.secho(f"Applying migrations ({state.describe()})", err=True)
    upgrade(url)


def run_with_sessions(
    settings: Settings, work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]
) -> T:
    """Run ``work`` with a session factory; it opens its own transactions."""
    url, embedded = database(settings)
    ensure_schema(url, migrate=embedded or settings.auto_migrate)

    async def run() -> T:
        engine = create_engine(url, settings)
        try:
            return await work(create_sessionmaker(engine))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def run_in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def in_transaction(sessions: async_sessionmaker[AsyncSession]) -> T:
        async with transaction(sessions) as session:
            return await work(session)

    return run_with_sessions(settings, in_transaction)
