"""The ``API-Version`` header: required on every ACP call, one of the versions we serve."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from merchant.errors import InvalidRequest

VERSION_HEADER = "API-Version"
SUPPORTED_VERSIONS: tuple[str, ...] = ("2026-04-17", "2026-01-30", "2026-01-16", "2025-12-12")  # newest first
IDEMPOTENCY_KEY_REQUIRED_FROM = "2026-04-17"  # older versions' OpenAPI marks the header optional


def idempotency_key_required(version: str) -> bool:
    """ACP requires ``Idempotency-Key`` on POSTs from 2026-04-17; before, it is honoured when sent."""
    return version >= IDEMPOTENCY_KEY_REQUIRED_FROM


class VersionError(InvalidRequest):
    supported_versions = SUPPORTED_VERSIONS


class MissingVersion(VersionError):
    code = "missing_api_version"


class UnsupportedVersion(VersionError):
    code = "unsupported_api_version"


async def api_version(version: Annotated[str | None, Header(alias=VERSION_HEADER)] = None) -> str:
    if not version or not version.strip():
        raise MissingVersion("Send an API-Version header, e.g. 'API-Version: 2026-04-17'.")
    version = version.strip()
    if version not in SUPPORTED_VERSIONS:
        raise UnsupportedVersion(
            f"API-Version {version!r} is not supported; use one of {', '.join(SUPPORTED_VERSIONS)}."
        )
    return version


ApiVersion = Annotated[str, Depends(api_version)]
