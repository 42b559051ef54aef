"""Agent platforms: add, list, remove (no HTTP; the caller owns the transaction)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.config import Settings
from merchant.errors import Conflict, InvalidRequest, NotFound
from merchant.kit.outbound import ForbiddenDestination, check_destination
from merchant.platforms.models import AgentPlatform

NAME_COLUMN = 200  # agent_platform.name
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


@dataclass(frozen=True, slots=True)
class WebhookPolicy:
    """Where event receivers may be: https only in production; private, loopback and link-local
    addresses only when the deployment allows them (``MERCHANT_OUTBOUND_ALLOW_PRIVATE``)."""

    require_https: bool
    allow_private: bool


def webhook_policy(settings: Settings) -> WebhookPolicy:
    return WebhookPolicy(require_https=settings.is_production, allow_private=settings.outbound_allow_private)


async def _check(webhook_url: str | None, acp_version: str, policy: WebhookPolicy) -> None:
    if webhook_url is not None:
        await _check_url(webhook_url, policy)
    if acp_version not in EVENT_VERSIONS:
        raise InvalidRequest(
            f"ACP version {acp_version!r} is not one we can send; use one of {', '.join(EVENT_VERSIONS)}.",
            param="$.acp_version",
        )


async def _check_url(url: str, policy: WebhookPolicy) -> None:
    if not url.startswith(("https://", "http://")):
        raise InvalidRequest("The webhook URL must be http(s).", param="$.webhook_url")
    if policy.require_https and not url.startswith("https://"):
        raise InvalidRequest("In production the webhook URL must be https.", param="$.webhook_url")
    try:
        await check_destination(url, allow_private=policy.allow_private)
    except ForbiddenDestination as exc:
        raise InvalidRequest(
            f"Events are not sent to this webhook URL: {exc}.", code="forbidden_url", param="$.webhook_url"
        ) from None


async def add(
    session: AsyncSession,
    *,
    name: str,
    webhook_url: str | None,
    signing_secret: str | None = None,
    acp_version: str = EVENT_VERSIONS[0],
    policy: WebhookPolicy,
    now: datetime,
) -> AddedPlatform:
    await _check(webhook_url, acp_version, policy)
    if await by_name(session, name) is not None:
        raise PlatformExists(f"A platform named {name!r} exists.", param="$.name")
    if await _name_taken(session, name):  # by a removed platform: names stay unique
        raise PlatformExists(f"A removed platform is named {name!r}; choose another name.", param="$.name")
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


async def _name_taken(session: AsyncSession, name: str) -> bool:
    """Whether any platform, active or removed, has this name (the column is unique)."""
    return await session.scalar(select(AgentPlatform.id).where(AgentPlatform.name == name)) is not None


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
    platform.name = await _removed_name(session, platform, now)
    platform.removed_at = now
    await session.flush()
    return platform


async def _removed_name(session: AsyncSession, platform: AgentPlatform, now: datetime) -> str:
    """``<name> (removed <time>)``; with the id too when that is taken (the same name removed twice
    within a second, or a platform given that very name), so it stays unique. Cut to fit."""
    when = f"{now:%Y-%m-%d %H:%M:%S}"
    name = _suffixed(platform.name, f" (removed {when})")
    if await _name_taken(session, name):
        name = _suffixed(platform.name, f" (removed {when} {platform.id})")
    return name


def _suffixed(name: str, suffix: str) -> str:
    return name[: NAME_COLUMN - len(suffix)] + suffix
