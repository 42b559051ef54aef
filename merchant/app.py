"""create_app(): lifespan-built clients, middleware, routers, error handlers."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
import httpx
from fastapi import Depends, FastAPI

from merchant import __version__
from merchant.audit import routes as audit_routes
from merchant.catalog import routes as catalog_routes
from merchant.checkout import discovery
from merchant.checkout import routes as checkout_routes
from merchant.config import Settings, get_settings
from merchant.db import create_engine, create_sessionmaker
from merchant.db.embedded import resolve_database_url
from merchant.db.migrations import head_revision
from merchant.http import bench, health
from merchant.http.auth import authenticate
from merchant.http.errors import install_error_handlers
from merchant.http.hygiene import UrlHygieneMiddleware
from merchant.http.middleware import RequestContextMiddleware
from merchant.http.openapi import install_openapi
from merchant.http.overload import OverloadMiddleware
from merchant.http.schemas import ERROR_RESPONSES
from merchant.identity import admin_routes as key_routes
from merchant.identity import routes as identity_routes
from merchant.jobs.app import open_jobs
from merchant.kit.outbound import outbound_client
from merchant.logging import configure_logging
from merchant.merchant_config import load_merchant_config
from merchant.orders import pages as order_pages
from merchant.orders import routes as order_routes
from merchant.payments import routes as payment_routes
from merchant.payments.setup import build_gateway
from merchant.platforms import routes as platform_routes
from merchant.webhooks import routes as webhook_routes

OUTBOUND_TIMEOUT = httpx.Timeout(10.0, connect=3.0)


def settle_heap() -> None:
    """Move everything alive at start-up out of the cyclic GC's reach.

    Imports, the app, the ORM mappers and the pools are permanent; left in the collected
    generations, every full collection walks them again and stalls a request for 90-165 ms
    (bench/orders_admin.py p99). Frozen, collections only see what requests allocate.
    """
    gc.collect()
    gc.freeze()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    settings.check_production_ready()  # also when run by a bare `uvicorn --factory`
    database_url, _ = await anyio.to_thread.run_sync(resolve_database_url, settings)
    engine = create_engine(database_url, settings)
    app.state.engine = engine
    app.state.sessions = create_sessionmaker(engine)
    app.state.schema_head = head_revision()
    emulator = None
    if getattr(app.state, "payment_gateway", None) is None:  # tests may bring their own
        app.state.payment_gateway, emulator = build_gateway(settings)
        app.state.stripe_emulator = emulator
    try:
        async with (
            open_jobs(database_url, pool_size=settings.jobs_pool_size) as jobs,
            outbound_client(allow_private=settings.outbound_allow_private, timeout=OUTBOUND_TIMEOUT) as http,
        ):
            app.state.jobs = jobs
            app.state.http = http
            settle_heap()
            yield
    finally:
        await engine.dispose()
        if emulator is not None:
            emulator.stop()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_format)
    app = FastAPI(
        title="merchant",
        version=__version__,
        summary="Merchant backend for the Agentic Commerce Protocol",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.merchant_config = load_merchant_config(settings.config)  # a bad file fails here
    install_error_handlers(app)
    install_openapi(app)
    app.add_middleware(UrlHygieneMiddleware)  # inside the request context: refusals get a request id
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(OverloadMiddleware, limit=settings.max_inflight_requests)  # outermost
    app.include_router(health.router)
    app.include_router(discovery.router)
    app.include_router(order_pages.router)
    app.include_router(payment_routes.router)
    for router in (
        identity_routes.router,
        catalog_routes.router,
        checkout_routes.router,
        order_routes.router,
        audit_routes.router,
        key_routes.router,
        platform_routes.router,
        webhook_routes.router,
    ):
        app.include_router(router, dependencies=[Depends(authenticate)], responses=ERROR_RESPONSES)
    if settings.bench_endpoints:
        app.include_router(bench.router)
    return app
