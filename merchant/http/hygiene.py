"""Input hygiene at the edge, for every door: what no field can hold is a 4xx, never a 500.

- JSON bodies (``refuse_unsafe_json``, run by the route classes before the handler): NUL, lone
  surrogates, numbers beyond 64 bits, NaN/Infinity, nesting deeper than ``MAX_DEPTH`` and strings
  longer than ``MAX_STRING`` -> 400 ``invalid_value`` with the JSONPath of the value; the parsed
  body is left where FastAPI reads it, so it is parsed once.
- URLs (``UrlHygieneMiddleware``, every route): NUL in the path names no resource (404); NUL in a
  query parameter -> 400 ``invalid_value``, ``param`` ``$.query.<name>``.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from merchant.errors import InvalidRequest, NotFound
from merchant.http.errors import domain_error_response
from merchant.kit import json_guard
from merchant.kit.jsonpath import jsonpath

JSON_TYPES = ("application/json", "application/merchant+json")
_NUL = "\x00"


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def is_json(media: str) -> bool:
    return media in JSON_TYPES or media.endswith("+json")


async def refuse_unsafe_json(request: Request) -> Response | None:
    """The 400 for an unsafe JSON body, or None (also for a body that is not JSON: FastAPI's own
    ``invalid_json`` answers that)."""
    if not is_json(media_type(request)):
        return None
    body = await request.body()
    if not body.strip():
        return None
    try:
        parsed = json_guard.parse(body)
    except json_guard.Refused as refused:
        param = jsonpath(refused.location)
        message = f"{refused.reason.rstrip('.')} (at {param})."
        return domain_error_response(InvalidRequest(message, code="invalid_value", param=param))
    except ValueError:  # not JSON (or not UTF-8): left to the body validation
        return None
    request._json = parsed  # Starlette's cache of the parsed body: FastAPI validates this one
    return None


def _url_refusal(scope: Scope) -> InvalidRequest | NotFound | None:
    if _NUL in scope.get("path", ""):
        return NotFound("No such resource.", code="not_found")
    query = scope.get("query_string", b"").decode("latin-1")
    if "%00" not in query and _NUL not in query:
        return None
    for name, value in parse_qsl(query, keep_blank_values=True):
        if _NUL in name or _NUL in value:
            return InvalidRequest(
                "Query parameters must not contain NUL characters.",
                code="invalid_value",
                param=jsonpath(["query", name]),
            )
    return None


class UrlHygieneMiddleware:
    """Pure ASGI: refuses a URL holding NUL before any route reads it."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = _url_refusal(scope) if scope["type"] == "http" else None
        if refusal is None:
            await self.app(scope, receive, send)
            return
        await domain_error_response(refusal)(scope, receive, send)
