"""Async engine and session factory (SQLAlchemy 2 on psycopg 3)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from merchant.config import Settings, sqlalchemy_url


def create_engine(url: str, settings: Settings) -> AsyncEngine:
    return _create_async_engine(
        sqlalchemy_url(url),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        # A short wait: an exhausted pool must become a fast 503, not a 30 s hang.
        pool_timeout=settings.db_pool_timeout,
        pool_pre_ping=True,
        connect_args={"options": "-c timezone=UTC"},
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
