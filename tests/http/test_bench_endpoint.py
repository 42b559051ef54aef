"""The benchmark floor endpoint exists only when asked for."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from merchant.app import create_app
from merchant.config import Settings
from merchant.identity import service as identity_service
from merchant.identity.roles import Role
from tests.fixtures.app import rolled_back_client


async def test_absent_by_default(client: httpx.AsyncClient) -> None:
    assert (await client.post("/_bench/insert")).status_code == 404


async def test_one_insert_when_enabled(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    app: FastAPI = create_app(settings.model_copy(update={"bench_endpoints": True}))
    created = await identity_service.create_key(session, role=Role.agent, name="bench")
    await session.commit()
    async with app.router.lifespan_context(app), rolled_back_client(app, sessions) as client:
        response = await client.post("/_bench/insert", headers={"Authorization": f"Bearer {created.token}"})
        assert response.status_code == 201
        assert (await client.post("/_bench/insert")).status_code == 401
