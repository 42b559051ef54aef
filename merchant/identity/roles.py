"""Roles an API key can carry."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    agent = "agent"  # an agent platform calling the ACP API
    admin = "admin"
    operator = "operator"
    viewer = "viewer"


STAFF_ROLES = frozenset({Role.admin, Role.operator, Role.viewer})
