"""Agent platforms under ``/admin/v1/platforms``: add, list, read, remove (admin keys only).

A signing secret is never returned, except the one generated at creation (shown that once; a
replay of the creation under its ``Idempotency-Key`` answers ``signing_secret: null``). Creations
and removals are on the audit trail.
``merchant.platforms.service`` does the work, as for ``merchant platforms``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Self

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from merchant.http.audit import CallerDep
from merchant.http.auth import AdminPrincipal
from merchant.http.deps import SessionDep
from merchant.http.idempotency import IdempotentRoute, OptionalIdempotent, save_instead
from merchant.http.schemas import Error
from merchant.kit.clock import utc_now
from merchant.platforms import service as platforms
from merchant.platforms.models import AgentPlatform
from merchant.platforms.service import EVENT_VERSIONS, webhook_policy

PREFIX = "/admin/v1"
router = APIRouter(prefix=PREFIX, route_class=IdempotentRoute, tags=["platforms"])

PlatformId = Annotated[str, Path(max_length=40, description="The platform id (`plat_...`).")]
# remove() renames the platform with a " (removed <time>)" suffix inside the column's 200 characters.
NAME_MAX = 160


def _error(description: str) -> dict[str, Any]:
    return {"model": Error, "description": description}


_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: _error("No such platform (`platform_not_found`)")}


class PlatformIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=NAME_MAX,
        description="Unique among active platforms; not starting with `plat_`.",
    )
    webhook_url: str | None = Field(
        default=None,
        max_length=2000,
        description="Where `order_create` / `order_update` events are POSTed (https in production; "
        "public addresses only unless the deployment allows private ones); null: none.",
    )
    signing_secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=500,
        description="The `Merchant-Signature` secret agreed with the platform; absent: generated, "
        "returned once in the answer.",
    )
    acp_version: str = Field(
        default=EVENT_VERSIONS[0],
        description="The payload shape its receiver reads.",
        json_schema_extra={"enum": list(EVENT_VERSIONS)},
    )

    @field_validator("name")
    @classmethod
    def _not_an_id(cls, name: str) -> str:
        # Platforms are looked up by name before id: a name shaped like an id would shadow one.
        if name.startswith("plat_"):
            raise ValueError("a platform name may not start with 'plat_' (the shape of an id)")
        return name


class PlatformView(BaseModel):
    id: str
    name: str
    webhook_url: str | None
    acp_version: str
    active: bool = Field(description="false once removed: it gets no new events.")
    created_at: datetime
    removed_at: datetime | None

    @classmethod
    def fields_of(cls, platform: AgentPlatform) -> dict[str, Any]:
        return {
            "id": platform.id,
            "name": platform.name,
            "webhook_url": platform.webhook_url,
            "acp_version": platform.acp_version,
            "active": platform.removed_at is None,
            "created_at": platform.created_at,
            "removed_at": platform.removed_at,
        }

    @classmethod
    def of(cls, platform: AgentPlatform) -> Self:
        return cls(**cls.fields_of(platform))


class PlatformCreated(PlatformView):
    signing_secret: str | None = Field(
        description="The generated signing secret, shown this once; null when the request gave one, "
        "and in a replay (`Idempotent-Replayed: true`): the secret is not kept for replays."
    )


class PlatformPage(BaseModel):
    data: list[PlatformView]
    has_more: bool = Field(description="Always false: every platform is on the page.")


@router.get("/platforms", response_model=PlatformPage)
async def list_platforms(
    session: SessionDep,
    _: AdminPrincipal,
    include_removed: Annotated[bool, Query(description="Also the removed platforms.")] = False,
) -> PlatformPage:
    """Agent platforms, oldest first (never their secrets)."""
    found = await platforms.list_platforms(session, include_removed=include_removed)
    return PlatformPage(data=[PlatformView.of(p) for p in found], has_more=False)


@router.post(
    "/platforms",
    status_code=201,
    response_model=PlatformCreated,
    responses={
        400: _error(
            "Invalid request (JSONPath in `param`); a webhook URL that is not https in production, or "
            "that reaches a private or unresolvable address (`forbidden_url`)"
        ),
        409: _error("A platform, active or removed, has that name (`platform_exists`)"),
    },
)
async def create_platform(
    session: SessionDep, request: Request, response: Response, _: AdminPrincipal, by: CallerDep,
    _claim: OptionalIdempotent, body: PlatformIn,
) -> PlatformCreated:  # fmt: skip
    """Add a platform; its agent keys are then created with `platform` set to its id."""
    added = await platforms.add(
        session,
        name=body.name,
        webhook_url=body.webhook_url,
        signing_secret=body.signing_secret,
        acp_version=body.acp_version,
        policy=webhook_policy(request.app.state.settings),
        now=utc_now(),
    )
    platform = added.platform
    response.headers["Location"] = f"{PREFIX}/platforms/{platform.id}"
    secret = platform.signing_secret if added.secret_generated else None
    after = {"name": platform.name, "webhook_url": platform.webhook_url, "acp_version": platform.acp_version}
    await by.record(
        session,
        action="platform.create",
        target_type="platform",
        target_id=platform.id,
        after=after,
        status_code=201,
        now=utc_now(),
    )
    save_instead(
        request,
        PlatformCreated(**PlatformView.fields_of(platform), signing_secret=None).model_dump_json().encode(),
    )
    return PlatformCreated(**PlatformView.fields_of(platform), signing_secret=secret)


@router.get("/platforms/{platform_id}", response_model=PlatformView, responses=_NOT_FOUND)
async def get_platform(session: SessionDep, _: AdminPrincipal, platform_id: PlatformId) -> PlatformView:
    """One platform, removed or not."""
    return PlatformView.of(await platforms.get(session, platform_id))


@router.post("/platforms/{platform_id}/remove", response_model=PlatformView, responses=_NOT_FOUND)
async def remove_platform(
    session: SessionDep, _: AdminPrincipal, by: CallerDep, _claim: OptionalIdempotent,
    platform_id: PlatformId,
) -> PlatformView:  # fmt: skip
    """Stop sending a platform events (its orders and past events stay; its name is free again).
    Removing a removed platform answers it unchanged."""
    platform = await platforms.get(session, platform_id)
    if platform.removed_at is None:
        before = {"name": platform.name, "active": True}
        platform = await platforms.remove(session, platform.id, now=utc_now())
        after = {"name": platform.name, "active": False}
        await by.record(
            session,
            action="platform.remove",
            target_type="platform",
            target_id=platform.id,
            before=before,
            after=after,
            status_code=200,
            now=utc_now(),
        )
    return PlatformView.of(platform)
