"""Health and readiness probes."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine

from merchant.app import create_app
from merchant.config import ConfigurationError, Environment, Settings
from merchant.db.migrations import head_revision


class TestHealthz:
    async def test_alive_without_credentials(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/healthz")
        assert (response.status_code, response.json()) == (200, {"status": "ok"})


class TestReadyz:
    async def test_ready_when_schema_is_current(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {"status": "ready", "schema_revision": head_revision()}

    async def test_not_ready_when_code_expects_another_schema(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        expected = app.state.schema_head
        app.state.schema_head = "f00dfeedbeef"
        try:
            response = await client.get("/readyz")
        finally:
            app.state.schema_head = expected
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.json()["code"] == "schema_out_of_date"
        assert response.json()["type"] == "service_unavailable"

    async def test_not_ready_when_database_is_unreachable(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        real_engine = app.state.engine
        app.state.engine = create_async_engine(
            "postgresql+psycopg://nobody@127.0.0.1:1/nothing", connect_args={"connect_timeout": 1}
        )
        try:
            response = await client.get("/readyz")
        finally:
            await app.state.engine.dispose()
            app.state.engine = real_engine
        assert response.status_code == 503
        assert response.json()["code"] == "database_unavailable"


class TestLifespan:
    async def test_production_without_a_database_refuses_to_start(self) -> None:
        app = create_app(Settings(env=Environment.production, database_url=None))
        with pytest.raises(ConfigurationError, match="MERCHANT_DATABASE_URL is required"):
            async with app.router.lifespan_context(app):
                pass
