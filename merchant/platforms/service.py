"""Agent platforms: add, list, remove (no HTTP; the caller owns the transaction)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.errors import Conflict, InvalidRequest, NotFound
from merchant.platforms.models import AgentPlatform

# Payload shapes we can send: the current Order, and the legacy one of the older versions.
EVENT_VERSIONS = ("2026-04-17", "2026-01-30", "2026-01-16", "2025-12-12", "2025-09-29")


class PlatformNotFound(NotFound):
    code = "platform_not_found"


class PlatformExists(Conflict):
    code = "platform_exists"


@dataclass(frozen=True, slots=True)
class AddedPlatform:
    platform: AgentPlatform
    secret_generated: bool


def _check(webhook_url: str | None, acp_version: str) -> None:
    if webhook_url is not None and not webhook_url.startswith(("https://", "http://")):
        raise InvalidRequest("The webhook URL must be http(s).", param="$.webhook_url")
    if acp_version not in EVENT_VERSIONS:
        raise InvalidRequest(
            f"ACP version {acp_version!r} is not one we can send; use one of {', '.join(EVENT_VERSIONS)}.",
            param="$.acp_version",
        )


async def add(
    session: AsyncSession,
    *,
    name: str,
    webhook_url: str | None,
    signing_secret: str | None = None,
    acp_version: str = EVENT_VERSIONS[0],
    now: datetime,
) -> AddedPlatform:
    _check(webhook_url, acp_version)
    if await by_name(session, name) is not None:
        raise PlatformExists(f"A platform named {name!r} exists.", param="$.name")
    platform = AgentPlatform(
        id=f"plat_{secrets.token_hex(8)}",
        name=name,
        webhook_url=webhook_url,
        signing_secret=signing_secret or f"whsec_{secrets.token_urlsafe(32)}",
        acp_version=acp_version,
        created_at=now,
    )
    session.add(platform)
    await session.flush()
    return AddedPlatform(platform, signing_secret is None)


async def by_name(session: AsyncSession, name: str) -> AgentPlatform | None:
    query = select(AgentPlatform).where(AgentPlatform.name == name, AgentPlatform.removed_at.is_(None))
    return await session.scalar(query)


async def get(session: AsyncSession, platform_id: str) -> AgentPlatform:
    platform = await session.get(AgentPlatform, platform_id)
    if platform is None:
        raise PlatformNotFound(f"No platform {platform_id!r}.")
    return platform


async def find(session: AsyncSession, name_or_id: str) -> AgentPlatform:
    platform = await by_name(session, name_or_id) or await session.get(AgentPlatform, name_or_id)
    if platform is None or platform.removed_at is not None:
        raise PlatformNotFound(f"No platform {name_or_id!r}.")
    return platform


async def list_platforms(session: AsyncSession, *, include_removed: bool = False) -> list[AgentPlatform]:
    query = select(AgentPlatform).order_by(AgentPlatform.created_at, AgentPlatform.name)
    if not include_removed:
        query = query.where(AgentPlatform.removed_at.is_(None))
    return list(await session.scalars(query))


async def remove(session: AsyncSession, name_or_id: str, *, now: datetime) -> AgentPlatform:
    """Stop sending it events (past events and orders stay); its name can be used again."""
    platform = await find(session, name_or_id)
    platform.removed_at = now
    platform.name = f"{platform.name} (removed {now:%Y-%m-%d %H:%M:%S})"
    await session.flush()
    return platform
