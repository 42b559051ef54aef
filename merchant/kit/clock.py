"""Timezone-aware UTC time."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def rfc3339(value: datetime) -> str:
    """A UTC time as the protocol writes it: ``2026-12-01T08:00:00Z`` (with microseconds when set)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
