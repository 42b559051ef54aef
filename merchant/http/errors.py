"""THE error mapper: every failure leaves as an ACP flat error ``{type, code, message, param}``."""

from __future__ import annotations

from typing import Any

import sqlalchemy.exc
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from merchant import errors
from merchant.http.schemas import Error, ErrorType
from merchant.kit.jsonpath import jsonpath

log = structlog.get_logger(__name__)

# Looked up along the exception's MRO, most specific class first.
_DOMAIN_STATUS: dict[type[errors.DomainError], tuple[int, ErrorType]] = {
    errors.InvalidRequest: (400, "invalid_request"),
    errors.Unauthenticated: (401, "invalid_request"),
    errors.Forbidden: (403, "invalid_request"),
    errors.NotFound: (404, "invalid_request"),
    errors.Conflict: (409, "invalid_request"),
    errors.InvalidState: (409, "invalid_request"),
    errors.NotAllowed: (405, "invalid_request"),
    errors.PayloadTooLarge: (413, "invalid_request"),
    errors.UnsupportedMediaType: (415, "invalid_request"),
    errors.Unprocessable: (422, "invalid_request"),
    errors.ServiceUnavailable: (503, "service_unavailable"),
    errors.DomainError: (400, "invalid_request"),
}

_VALIDATION_CODES = {
    "missing": "missing_required_field",
    "extra_forbidden": "unknown_field",
    "json_invalid": "invalid_json",
}

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}

_BODY_LOCATION = "body"

# ACP's 409 answer requires ``Retry-After``. A state conflict (a session completed, canceled or
# expired) does not resolve by waiting: a retry gets the same answer, so the wait named is long.
# Conflicts about contention (a key or a payment in flight) name their own, short, wait.
STATE_CONFLICT_RETRY_AFTER = 60


def error_response(status: int, body: Error, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


def status_for(exc: errors.DomainError) -> tuple[int, ErrorType]:
    for cls in type(exc).__mro__:
        if cls in _DOMAIN_STATUS:
            return _DOMAIN_STATUS[cls]
    raise AssertionError("DomainError is always mapped")  # pragma: no cover


def domain_error_response(exc: errors.DomainError) -> JSONResponse:
    status, type_ = status_for(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, errors.Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    retry_after = exc.retry_after
    if retry_after is None and status == 409:
        retry_after = STATE_CONFLICT_RETRY_AFTER
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if status == 405:  # RFC 9110: what the resource still allows; nothing, in its current state
        headers["Allow"] = ""
    versions = list(exc.supported_versions) if exc.supported_versions else None
    body = Error(type=type_, code=exc.code, message=exc.message, param=exc.param, supported_versions=versions)
    return error_response(status, body, headers)


def validation_param(location: tuple[Any, ...]) -> str:
    """Pydantic ``loc`` -> JSONPath; body fields from the root, others under their location."""
    if location and location[0] == _BODY_LOCATION:
        parts = [part for part in location[1:] if isinstance(part, str | int)]
        return jsonpath(parts)
    return jsonpath([str(part) for part in location])


def validation_error_response(exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0]
    location = tuple(first.get("loc", ()))
    if first.get("type") == "json_invalid":
        param, message = "$", "The request body is not valid JSON."
    else:
        param = validation_param(location)
        message = f"{first.get('msg', 'Invalid value')} at {param}."
    code = _VALIDATION_CODES.get(str(first.get("type")), "invalid_value")
    return error_response(400, Error(type="invalid_request", code=code, message=message, param=param))


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> str:
    """Every method some route takes at the request's path.

    The router names only the methods of the first route whose path matched; the path of
    ``GET`` and ``POST /checkout_sessions/{id}`` is two routes. Each method is asked of the routes
    as a request of its own would be (only ``matches``: no handler runs).
    """
    allowed = []
    for method in _METHODS:
        probe = {
            "type": "http",
            "method": method,
            "path": request.scope["path"],
            "root_path": request.scope.get("root_path", ""),
            "headers": [],
            "query_string": b"",
        }
        if any(route.matches(probe)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return ", ".join(allowed)


def http_error_response(exc: StarletteHTTPException, request: Request) -> JSONResponse:
    if exc.status_code >= 500:
        body = Error(type="processing_error", code="internal_error", message="Internal error.")
    else:
        code = _HTTP_CODES.get(exc.status_code, "invalid_request")
        body = Error(type="invalid_request", code=code, message=str(exc.detail))
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request)
    return error_response(exc.status_code, body, headers)


def unavailable_response(message: str, code: str) -> JSONResponse:
    body = Error(type="service_unavailable", code=code, message=message)
    return error_response(503, body, {"Retry-After": "1"})


def internal_error_response(request_id: str | None) -> JSONResponse:
    reference = f" Reference: {request_id}." if request_id else ""
    body = Error(type="processing_error", code="internal_error", message="Internal error." + reference)
    return error_response(500, body)


async def _on_domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.DomainError)
    return domain_error_response(exc)


async def _on_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return validation_error_response(exc)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return http_error_response(exc, request)


async def _on_pool_timeout(_: Request, exc: Exception) -> JSONResponse:
    # Every connection busy: shed load fast instead of queueing (performance.md §1.3).
    log.warning("db.pool_exhausted")
    return unavailable_response("The service is busy; retry shortly.", "overloaded")


async def _on_database_down(_: Request, exc: Exception) -> JSONResponse:
    # Connection lost, server down, deadlock or statement timeout: all worth a retry.
    log.error("db.unavailable", error=type(exc).__name__)
    return unavailable_response(
        "The database could not serve the request; retry shortly.", "database_unavailable"
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(errors.DomainError, _on_domain_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(sqlalchemy.exc.TimeoutError, _on_pool_timeout)
    app.add_exception_handler(sqlalchemy.exc.OperationalError, _on_database_down)
    app.add_exception_handler(sqlalchemy.exc.InterfaceError, _on_database_down)
