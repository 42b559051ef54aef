"""THE error mapper: every failure leaves as an ACP flat error ``{type, code, message, param}``."""

from __future__ import annotations

from typing import Any

import sqlalchemy.exc
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
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


def http_error_response(exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code >= 500:
        body = Error(type="processing_error", code="internal_error", message="Internal error.")
    else:
        code = _HTTP_CODES.get(exc.status_code, "invalid_request")
        body = Error(type="invalid_request", code=code, message=str(exc.detail))
    return error_response(exc.status_code, body, dict(exc.headers or {}))


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


async def _on_http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return http_error_response(exc)


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
