"""Create, list, revoke API keys; authenticate a bearer token."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from merchant.errors import InvalidRequest
from merchant.identity import tokens
from merchant.identity.errors import ApiKeyNotFound, InvalidCredentials, RevokedCredentials
from merchant.identity.models import ApiKey
from merchant.identity.repository import ApiKeyRepository
from merchant.identity.roles import Role
from merchant.identity.signatures import SignaturePolicy, SigningKeys, public_key_from
from merchant.kit.clock import utc_now


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key that authenticated the request."""

    key_id: str
    name: str
    role: Role
    signing: SigningKeys = field(default_factory=SigningKeys)
    platform_id: str | None = None  # an agent key's platform


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    token: str  # shown once, never stored


async def create_key(
    session: AsyncSession, *, role: Role, name: str, platform_id: str | None = None
) -> CreatedKey:
    """A new key; an agent key may belong to an agent platform (its orders' events go there)."""
    if platform_id is not None and role is not Role.agent:
        raise InvalidRequest("Only agent keys belong to a platform.", param="$.platform")
    issued = tokens.issue()
    key = ApiKey(
        id=issued.key_id,
        name=name,
        role=role,
        secret_hash=issued.secret_hash,
        created_at=utc_now(),
        revoked_at=None,
        platform_id=platform_id,
    )
    ApiKeyRepository(session).add(key)
    await session.flush()
    return CreatedKey(key, issued.token)


async def list_keys(session: AsyncSession, *, include_revoked: bool = False) -> Sequence[ApiKey]:
    return await ApiKeyRepository(session).list(include_revoked=include_revoked)


async def revoke_key(session: AsyncSession, key_id: str, *, now: datetime | None = None) -> ApiKey:
    """Revoke at ``now`` (default: the clock); a revoked key keeps its ``revoked_at``."""
    key = await ApiKeyRepository(session).get(key_id)
    if key is None:
        raise ApiKeyNotFound(f"No API key {key_id!r}.", param="$.id")
    if key.revoked_at is None:
        key.revoked_at = now or utc_now()
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
    signing = SigningKeys(key.signature_policy, key.signing_secret, key.signing_public_key)
    return Principal(
        key_id=key.id, name=key.name, role=key.role, signing=signing, platform_id=key.platform_id
    )


async def configure_signing(
    session: AsyncSession,
    key_id: str,
    *,
    policy: SignaturePolicy | None,
    secret: str | None = None,
    public_key: str | None = None,
    clear: bool = False,
    default: SignaturePolicy = SignaturePolicy.verify_if_present,
) -> ApiKey:
    """Set how a key's requests are signed; key material given without a policy turns checks on
    with ``default`` (``signatures.default_policy``: ``require`` in production)."""
    key = await ApiKeyRepository(session).get(key_id)
    if key is None:
        raise ApiKeyNotFound(f"No API key {key_id!r}.", param="$.id")
    if public_key is not None:
        try:
            public_key_from(public_key)
        except ValueError as exc:
            raise InvalidRequest(f"Invalid Ed25519 public key: {exc}.", param="$.public_key") from None
    if clear:
        key.signing_secret = key.signing_public_key = None
    if secret is not None:
        key.signing_secret = secret
    if public_key is not None:
        key.signing_public_key = public_key
    has_material = key.signing_secret is not None or key.signing_public_key is not None
    if policy is not None:
        key.signature_policy = policy
    elif secret is not None or public_key is not None:
        key.signature_policy = default
    if key.signature_policy is not SignaturePolicy.off and not has_material:
        raise InvalidRequest("Set a signing secret or public key before turning signature checks on.")
    await session.flush()
    return key
