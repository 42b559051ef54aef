"""Bearer authentication on the real app, and role checks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from merchant.http.auth import AdminPrincipal, authenticate
from merchant.http.errors import install_error_handlers
from merchant.http.routing import TransactionalRoute
from merchant.identity import service
from merchant.identity.roles import Role


async def _token(session: AsyncSession, role: Role) -> str:
    created = await service.create_key(session, role=role, name=f"{role.value} key")
    await session.commit()
    return created.token


class TestWhoAmI:
    async def test_valid_key(self, client: httpx.AsyncClient, session: AsyncSession) -> None:
        token = await _token(session, Role.agent)
        response = await client.get("/whoami", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        assert response.json() == {"key_id": token.split(".")[0], "name": "agent key", "role": "agent"}

    @pytest.mark.parametrize(
        ("authorization", "code"),
        [
            (None, "missing_api_key"),
            ("Bearer", "invalid_api_key"),
            ("Basic dXNlcjpwYXNz", "invalid_api_key"),
            ("Bearer not-a-key", "invalid_api_key"),
            ("Bearer key_0123456789abcdef." + "C" * 43, "invalid_api_key"),
        ],
    )
    async def test_rejected_with_flat_error(
        self, client: httpx.AsyncClient, authorization: str | None, code: str
    ) -> None:
        headers = {"Authorization": authorization} if authorization else {}
        response = await client.get("/whoami", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        body = response.json()
        assert set(body) == {"type", "code", "message"}
        assert (body["type"], body["code"]) == ("invalid_request", code)

    async def test_revoked_key(self, client: httpx.AsyncClient, session: AsyncSession) -> None:
        token = await _token(session, Role.agent)
        await service.revoke_key(session, token.split(".")[0])
        await session.commit()
        response = await client.get("/whoami", headers={"Authorization": f"Bearer {token}"})
        assert (response.status_code, response.json()["code"]) == (401, "revoked_api_key")


@pytest.fixture
async def admin_only(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[httpx.AsyncClient]:
    """A router declared like the admin API will be: auth and role at router level."""
    app = FastAPI()
    install_error_handlers(app)
    app.state.sessions = sessions
    router = APIRouter(route_class=TransactionalRoute, dependencies=[Depends(authenticate)])

    @router.get("/admin-thing")
    async def admin_thing(principal: AdminPrincipal) -> dict[str, str]:
        return {"role": principal.role.value}

    app.include_router(router)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        yield client


class TestRequireRoles:
    @pytest.mark.parametrize(("role", "status"), [(Role.admin, 200), (Role.operator, 403), (Role.agent, 403)])
    async def test_role_matrix(
        self, admin_only: httpx.AsyncClient, session: AsyncSession, role: Role, status: int
    ) -> None:
        token = await _token(session, role)
        response = await admin_only.get("/admin-thing", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == status
        if status == 403:
            assert response.json()["code"] == "forbidden"
