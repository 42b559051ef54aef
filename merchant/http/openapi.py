"""Our OpenAPI document: FastAPI's, with the ACP error model instead of FastAPI's 422.

What FastAPI cannot see is added from the routes themselves: the ``Idempotency-Key`` header and
the 409 / 422 answers of every route that claims a key, the 413 / 415 of the POSTs whose body
``IdempotentRoute`` reads, a 404 wherever a path names a resource, and ``API-Version`` as the
required header it is (declared optional to FastAPI so that our ``missing_api_version`` answers,
not FastAPI's validation error).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic.json_schema import models_json_schema

from merchant.checkout.wire import DOCUMENTED_BODIES
from merchant.http import idempotency
from merchant.http.idempotency import IdempotentRoute
from merchant.http.versioning import IDEMPOTENCY_KEY_REQUIRED_FROM, SUPPORTED_VERSIONS, VERSION_HEADER

_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_REQUIRED_KEY: frozenset[Callable[..., Any]] = frozenset(  # ACP's: required in the latest version
    {idempotency.claim_key, idempotency.hold_key, idempotency.claim_acp_key, idempotency.hold_acp_key}
)
_OPTIONAL_KEY: frozenset[Callable[..., Any]] = frozenset(
    {idempotency.claim_key_if_sent, idempotency.hold_key_if_sent}
)
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_VERSION_DESCRIPTION = (
    f"The ACP version, one of {', '.join(SUPPORTED_VERSIONS)}: requests are read and answers written "
    f"in its wire format (bodies here are the latest's). `Idempotency-Key` is required on POSTs from "
    f"{IDEMPOTENCY_KEY_REQUIRED_FROM}, optional before."
)


def _error(description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": _ERROR, **extra}


_RETRY_AFTER = {
    "description": "Seconds to wait before retrying (60 for a state that waiting will not change)",
    "required": True,
    "schema": {"type": "integer"},
}
_IN_FLIGHT = _error(
    "Conflict: the same `Idempotency-Key` is still being processed (`idempotency_in_flight`), the "
    "resource is busy (`checkout_session_in_progress`) or its state does not allow this "
    "(`checkout_session_not_open`, `order_state_invalid`, ...)"
)
_KEY_CONFLICT = _error("The `Idempotency-Key` was used with another request body (`idempotency_conflict`)")
_TOO_LARGE = _error("The request body is too large (`request_too_large`)")
_NOT_JSON = _error("The request body is not JSON (`unsupported_media_type`)")
_NOT_FOUND = _error("No such resource (or not one this key may see)")


def _key_parameter(required: bool) -> dict[str, Any]:
    replayed = "the stored answer is replayed with `Idempotent-Replayed: true`"
    return {
        "name": idempotency.HEADER,
        "in": "header",
        "required": required,
        "description": f"Same key and body: {replayed}. Opaque, at most 255 characters.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    }


def _add(responses: dict[str, Any], status: str, response: dict[str, Any]) -> None:
    """Document ``response`` unless the route documents that status itself."""
    if status not in responses:
        responses[status] = copy.deepcopy(response)


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _describe(operation: dict[str, Any], route: Any, path: str) -> None:
    """Add what the route's dependencies and route class answer that FastAPI does not list."""
    responses: dict[str, Any] = operation.setdefault("responses", {})
    calls = set(_calls(route.dependant))
    claims = calls & (_REQUIRED_KEY | _OPTIONAL_KEY)
    if claims:
        parameters = operation.setdefault("parameters", [])
        parameters.append(_key_parameter(required=bool(calls & _REQUIRED_KEY)))
        _add(responses, "409", _IN_FLIGHT)
        _add(responses, "422", _KEY_CONFLICT)
    if isinstance(route.original_route, IdempotentRoute) and route.methods & _BODY_METHODS:
        _add(responses, "413", _TOO_LARGE)
        _add(responses, "415", _NOT_JSON)
    if "409" in responses:  # every 409 names its Retry-After (merchant.http.errors)
        responses["409"].setdefault("headers", {})["Retry-After"] = copy.deepcopy(_RETRY_AFTER)
    if "{" in path and "401" in responses:  # an authenticated route naming a resource
        _add(responses, "404", _NOT_FOUND)
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "header" and parameter.get("name") == VERSION_HEADER:
            parameter["required"] = True
            parameter["description"] = _VERSION_DESCRIPTION


def build_openapi(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
    paths: dict[str, dict[str, Any]] = document.get("paths", {})
    for path_item in paths.values():
        for operation in path_item.values():
            operation.get("responses", {}).pop("422", None)
    for route in iter_route_contexts(app.routes):
        path = route.path_format
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema or path is None:
            continue
        for method in route.methods or ():
            operation = paths.get(path, {}).get(method.lower())
            if operation is not None:
                _describe(operation, route, path)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    _, bodies = models_json_schema(
        [(model, "validation") for model in DOCUMENTED_BODIES], ref_template="#/components/schemas/{model}"
    )
    schemas.update(bodies.get("$defs", {}))
    document["components"]["schemas"] = dict(sorted(schemas.items()))
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    return document


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
