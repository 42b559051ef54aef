"""Create, list, revoke API keys; authenticate a bearer token."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from merchant.identity import tokens
from merchant.identity.errors import ApiKeyNotFound, InvalidCredentials, RevokedCredentials
from merchant.identity.models import ApiKey
from merchant.identity.repository import ApiKeyRepository
from merchant.identity.roles import Role
from merchant.kit.clock import utc_now


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key that authenticated the request."""

    key_id: str
    name: str
    role: Role


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    token: str  # shown once, never stored


async def create_key(session: AsyncSession, *, role: Role, name: str) -> CreatedKey:
    issued = tokens.issue()
    key = ApiKey(
        id=issued.key_id,
        name=name,
        role=role,
        secret_hash=issued.secret_hash,
        created_at=utc_now(),
        revoked_at=None,
    )
    ApiKeyRepository(session).add(key)
    await session.flush()
    return CreatedKey(key, issued.token)


async def list_keys(session: AsyncSession, *, include_revoked: bool = False) -> Sequence[ApiKey]:
    return await ApiKeyRepository(session).list(include_revoked=include_revoked)


async def revoke_key(session: AsyncSession, key_id: str) -> ApiKey:
    key = await ApiKeyRepository(session).get(key_id)
    if key is None:
        raise ApiKeyNotFound(f"No API key {key_id!r}.", param="$.id")
    if key.revoked_at is None:
        key.revoked_at = utc_now()
        await session.flush()
    return key


async def authenticate(session: AsyncSession, token: str) -> Principal:
    parsed = tokens.parse(token)
    if parsed is None:
        raise InvalidCredentials("The API key is not valid.")
    key_id, secret = parsed
    key = await ApiKeyRepository(session).get(key_id)
    # Compare even when the id is unknown so timing does not tell ids apart.
    known = tokens.matches(secret, key.secret_hash if key else bytes(32))
    if key is None or not known:
        raise InvalidCredentials("The API key is not valid.")
    if not key.is_active:
        raise RevokedCredentials("The API key has been revoked.")
    return Principal(key_id=key.id, name=key.name, role=key.role)
