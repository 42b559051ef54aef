"""Identity errors."""

from __future__ import annotations

from merchant.errors import NotFound, Unauthenticated


class MissingCredentials(Unauthenticated):
    code = "missing_api_key"


class InvalidCredentials(Unauthenticated):
    code = "invalid_api_key"


class RevokedCredentials(Unauthenticated):
    code = "revoked_api_key"


class ApiKeyNotFound(NotFound):
    code = "api_key_not_found"
