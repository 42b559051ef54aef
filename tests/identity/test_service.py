"""API key service against the real database."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.identity import service
from merchant.identity.errors import ApiKeyNotFound, InvalidCredentials, RevokedCredentials
from merchant.identity.models import ApiKey
from merchant.identity.roles import Role


class TestCreateKey:
    async def test_stores_only_a_hash_of_the_secret(self, session: AsyncSession) -> None:
        created = await service.create_key(session, role=Role.operator, name="ops laptop")
        stored = (await session.scalars(select(ApiKey).where(ApiKey.id == created.key.id))).one()
        secret = created.token.split(".", 1)[1]
        assert secret.encode() not in stored.secret_hash
        assert len(stored.secret_hash) == 32
        assert (stored.role, stored.name, stored.revoked_at) == (Role.operator, "ops laptop", None)
        assert stored.created_at.utcoffset() is not None


class TestAuthenticate:
    async def test_valid_token(self, session: AsyncSession) -> None:
        created = await service.create_key(session, role=Role.agent, name="ChatGPT")
        principal = await service.authenticate(session, created.token)
        assert principal == service.Principal(key_id=created.key.id, name="ChatGPT", role=Role.agent)

    async def test_wrong_secret_for_a_real_id(self, session: AsyncSession) -> None:
        created = await service.create_key(session, role=Role.agent, name="a")
        forged = created.key.id + "." + "A" * 43
        with pytest.raises(InvalidCredentials):
            await service.authenticate(session, forged)

    async def test_unknown_id(self, session: AsyncSession) -> None:
        with pytest.raises(InvalidCredentials):
            await service.authenticate(session, "key_0123456789abcdef." + "B" * 43)

    async def test_revoked(self, session: AsyncSession) -> None:
        created = await service.create_key(session, role=Role.viewer, name="v")
        await service.revoke_key(session, created.key.id)
        with pytest.raises(RevokedCredentials):
            await service.authenticate(session, created.token)


class TestRevokeKey:
    async def test_unknown_key(self, session: AsyncSession) -> None:
        with pytest.raises(ApiKeyNotFound):
            await service.revoke_key(session, "key_ffffffffffffffff")

    async def test_revoking_twice_keeps_the_first_time(self, session: AsyncSession) -> None:
        created = await service.create_key(session, role=Role.admin, name="x")
        first = (await service.revoke_key(session, created.key.id)).revoked_at
        second = (await service.revoke_key(session, created.key.id)).revoked_at
        assert first is not None
        assert first == second


class TestListKeys:
    async def test_revoked_keys_hidden_unless_asked(self, session: AsyncSession) -> None:
        kept = await service.create_key(session, role=Role.agent, name="kept")
        gone = await service.create_key(session, role=Role.agent, name="gone")
        await service.revoke_key(session, gone.key.id)
        assert [k.id for k in await service.list_keys(session)] == [kept.key.id]
        assert {k.id for k in await service.list_keys(session, include_revoked=True)} == {
            kept.key.id,
            gone.key.id,
        }
