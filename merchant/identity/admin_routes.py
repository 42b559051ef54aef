"""API keys under ``/admin/v1/keys``: create, list, revoke (admin keys only).

A key's secret is returned once, by the creation; lists show ids, names and roles only (a
replay of the creation under its ``Idempotency-Key`` answers ``token: null``: the idempotency
store never holds it). Creations and revocations are on the audit trail.
``merchant.identity.service`` does the work, as for ``merchant keys``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Self

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from merchant.http.audit import CallerDep
from merchant.http.auth import AdminPrincipal
from merchant.http.deps import SessionDep
from merchant.http.idempotency import IdempotentRoute, OptionalIdempotent, save_instead
from merchant.http.schemas import Error
from merchant.identity import service as identity_service
from merchant.identity.models import ApiKey
from merchant.identity.roles import Role
from merchant.identity.signatures import SignaturePolicy
from merchant.kit.clock import utc_now
from merchant.platforms import service as platforms

PREFIX = "/admin/v1"
router = APIRouter(prefix=PREFIX, route_class=IdempotentRoute, tags=["keys"])

KeyId = Annotated[str, Path(max_length=32, description="The key id (`key_...`).")]


def _error(description: str) -> dict[str, Any]:
    return {"model": Error, "description": description}


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role = Field(description="`agent` (ACP caller), `admin`, `operator` or `viewer`.")
    name: str = Field(min_length=1, max_length=200, description="Who or what holds the key.")
    platform: str | None = Field(
        default=None,
        max_length=200,
        description="Agent keys only: the agent platform (id or name) whose orders' events it gets.",
    )


class KeyView(BaseModel):
    id: str = Field(description="The public part of the key (`key_<16 hex>`).")
    name: str
    role: Role
    platform_id: str | None
    active: bool = Field(description="false once revoked: it no longer authenticates.")
    created_at: datetime
    revoked_at: datetime | None
    signature_policy: SignaturePolicy = Field(description="How the caller's request signatures are checked.")
    has_signing_secret: bool = Field(description="An HMAC shared secret is set (never returned).")
    signing_public_key: str | None = Field(description="The caller's Ed25519 public key (base64url).")

    @classmethod
    def fields_of(cls, key: ApiKey) -> dict[str, Any]:
        return {
            "id": key.id,
            "name": key.name,
            "role": key.role,
            "platform_id": key.platform_id,
            "active": key.is_active,
            "created_at": key.created_at,
            "revoked_at": key.revoked_at,
            "signature_policy": key.signature_policy,
            "has_signing_secret": key.signing_secret is not None,
            "signing_public_key": key.signing_public_key,
        }

    @classmethod
    def of(cls, key: ApiKey) -> Self:
        return cls(**cls.fields_of(key))


class KeyCreated(KeyView):
    token: str | None = Field(
        description="The bearer token `key_<id>.<secret>`, shown this once: only its hash is stored. "
        "null in a replay (`Idempotent-Replayed: true`): the secret is not kept for replays."
    )


class KeyPage(BaseModel):
    data: list[KeyView]
    has_more: bool = Field(description="Always false: every key is on the page.")


@router.get("/keys", response_model=KeyPage)
async def list_keys(
    session: SessionDep,
    _: AdminPrincipal,
    include_revoked: Annotated[bool, Query(description="Also the revoked keys.")] = False,
) -> KeyPage:
    """API keys, oldest first (never their secrets)."""
    keys = await identity_service.list_keys(session, include_revoked=include_revoked)
    return KeyPage(data=[KeyView.of(k) for k in keys], has_more=False)


@router.post(
    "/keys",
    status_code=201,
    response_model=KeyCreated,
    responses={404: _error("No such active platform (`platform_not_found`)")},
)
async def create_key(
    session: SessionDep, request: Request, _: AdminPrincipal, by: CallerDep,
    _claim: OptionalIdempotent, body: KeyIn,
) -> KeyCreated:  # fmt: skip
    """Create a key; the answer carries its token, which is never shown again."""
    platform_id = (await platforms.find(session, body.platform)).id if body.platform is not None else None
    created = await identity_service.create_key(
        session, role=body.role, name=body.name, platform_id=platform_id
    )
    key = created.key
    after = {"name": key.name, "role": key.role, "platform_id": key.platform_id}
    await by.record(
        session,
        action="key.create",
        target_type="api_key",
        target_id=key.id,
        after=after,
        status_code=201,
        now=utc_now(),
    )
    save_instead(request, KeyCreated(**KeyView.fields_of(key), token=None).model_dump_json().encode())
    return KeyCreated(**KeyView.fields_of(key), token=created.token)


@router.post(
    "/keys/{key_id}/revoke",
    response_model=KeyView,
    responses={404: _error("No such key (`api_key_not_found`)")},
)
async def revoke_key(
    session: SessionDep,
    _: AdminPrincipal,
    by: CallerDep,
    _claim: OptionalIdempotent,
    key_id: KeyId,
) -> KeyView:
    """Revoke a key: it stops authenticating at once. Revoking a revoked key answers it unchanged."""
    now = utc_now()
    key = await identity_service.revoke_key(session, key_id, now=now)
    if key.revoked_at == now:  # revoked by this request, not before
        await by.record(
            session, action="key.revoke", target_type="api_key", target_id=key.id,
            before={"active": True}, after={"active": False}, status_code=200, now=now,
        )  # fmt: skip
    return KeyView.of(key)
