"""The one place that commits: a unit of work per request and per job."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Yield a session; commit if the block succeeds, roll back if it raises."""
    async with sessions() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


async def checkpoint(session: AsyncSession) -> None:
    """Commit what the unit of work did so far and give its connection back to the pool.

    For a unit of work that waits on something slow between two recovery points (a PSP call):
    no connection is held while it waits, and the session opens a new transaction when it is
    next used. What the wait must not lose is committed first.
    """
    await session.commit()
