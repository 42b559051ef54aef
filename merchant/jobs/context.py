"""What a task gets from its worker: a unit of work per job."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from procrastinate.job_context import JobContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from merchant.db.transaction import transaction

SESSIONS_KEY = "sessions"


def job_sessions(context: JobContext) -> async_sessionmaker[AsyncSession]:
    """The worker's session factory, for tasks that need several transactions."""
    sessions: async_sessionmaker[AsyncSession] = context.additional_context[SESSIONS_KEY]
    return sessions


def job_session(context: JobContext) -> AbstractAsyncContextManager[AsyncSession]:
    """One transaction for the job: committed if the task body succeeds."""
    return transaction(job_sessions(context))
