"""Defer a job inside the caller's transaction.

The job row is inserted on the very psycopg connection the SQLAlchemy session
is using, so it exists if and only if that transaction commits.
"""

from __future__ import annotations

from typing import Any

import psycopg
from procrastinate.tasks import Task
from sqlalchemy.ext.asyncio import AsyncSession


async def raw_connection(session: AsyncSession) -> psycopg.AsyncConnection[Any]:
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    if not isinstance(driver, psycopg.AsyncConnection):
        raise TypeError("jobs can only be deferred on a psycopg 3 async connection")
    return driver


async def defer(
    session: AsyncSession,
    task: Task[Any, Any, Any],
    *,
    lock: str | None = None,
    **kwargs: Any,
) -> int:
    """Defer ``task`` in the session's transaction; returns the job id."""
    connection = await raw_connection(session)
    return await task.configure(connection=connection, lock=lock).defer_async(**kwargs)
