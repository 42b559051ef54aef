"""What a task gets from its worker: a unit of work per job."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

import httpx
from procrastinate.job_context import JobContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from merchant.config import Settings
from merchant.db.transaction import transaction

SESSIONS_KEY = "sessions"
HTTP_KEY = "http"  # an httpx.AsyncClient for outbound calls (webhook deliveries)
SETTINGS_KEY = "settings"


def job_sessions(context: JobContext) -> async_sessionmaker[AsyncSession]:
    """The worker's session factory, for tasks that need several transactions."""
    sessions: async_sessionmaker[AsyncSession] = context.additional_context[SESSIONS_KEY]
    return sessions


def job_http(context: JobContext) -> httpx.AsyncClient:
    client: httpx.AsyncClient = context.additional_context[HTTP_KEY]
    return client


def job_settings(context: JobContext) -> Settings:
    settings: Settings = context.additional_context[SETTINGS_KEY]
    return settings


def job_session(context: JobContext) -> AbstractAsyncContextManager[AsyncSession]:
    """One transaction for the job: committed if the task body succeeds."""
    return transaction(job_sessions(context))
