"""Domain errors: what went wrong, in protocol terms, without any HTTP knowledge.

``merchant.http.errors`` is the one place that turns them into status codes and
the ACP flat error body ``{type, code, message, param}``.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base: ``code`` is machine-readable, ``param`` an RFC 9535 JSONPath."""

    code: str = "invalid"
    retry_after: int | None = None  # seconds, sent as Retry-After when set
    supported_versions: tuple[str, ...] | None = None  # only on API-Version errors

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.param = param


class InvalidRequest(DomainError):
    code = "invalid_request"


class Unauthenticated(DomainError):
    code = "unauthorized"


class Forbidden(DomainError):
    code = "forbidden"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class InvalidState(DomainError):
    """The resource exists but its state does not allow the operation."""

    code = "invalid_state"


class NotAllowed(DomainError):
    """The operation is not allowed on this resource at all any more (HTTP 405)."""

    code = "method_not_allowed"


class Unprocessable(DomainError):
    code = "unprocessable"


class PayloadTooLarge(DomainError):
    """The request carries more data than the service accepts."""

    code = "payload_too_large"


class UnsupportedMediaType(DomainError):
    """The request body's Content-Type is not one the operation reads."""

    code = "unsupported_media_type"


class ServiceUnavailable(DomainError):
    """A dependency is down or saturated; the caller should retry later."""

    code = "service_unavailable"

    retry_after: int | None = 1

    def __init__(self, message: str, *, code: str | None = None, retry_after: int = 1):
        super().__init__(message, code=code)
        self.retry_after = retry_after
