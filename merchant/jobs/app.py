"""The procrastinate App: task registry here, connection opened per process.

Tasks are registered on this module-level App at import time; no connection
exists until ``open_jobs`` (the API lifespan, the worker command). Deferring
inside a request uses the caller's own connection (``merchant.jobs.defer``) and
needs no open pool at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import procrastinate

from merchant.config import libpq_url

# Every module that declares tasks; the worker imports them before fetching jobs.
TASK_MODULES = [
    "merchant.jobs.tasks",
    "merchant.catalog.tasks",
    "merchant.checkout.tasks",
    "merchant.idempotency.tasks",
    "merchant.identity.tasks",
    "merchant.orders.tasks",
    "merchant.webhooks.tasks",
]

app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(),
    import_paths=TASK_MODULES,
)


@asynccontextmanager
async def open_jobs(database_url: str, *, pool_size: int) -> AsyncIterator[procrastinate.App]:
    """Point the App at ``database_url`` with a pool of ``pool_size`` connections."""
    connector = procrastinate.PsycopgConnector(
        conninfo=libpq_url(database_url), min_size=1, max_size=pool_size
    )
    with app.replace_connector(connector):
        async with app.open_async():
            yield app
