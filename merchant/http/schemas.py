"""Wire shapes owned by the edge."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

ErrorType = Literal["invalid_request", "processing_error", "service_unavailable"]


class Error(BaseModel):
    """The ACP flat error object."""

    type: ErrorType
    code: str
    message: str
    param: str | None = None
    supported_versions: list[str] | None = None


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"model": Error, "description": "Invalid request (JSONPath in `param`)"},
    401: {"model": Error, "description": "Missing, unknown or revoked API key"},
    403: {"model": Error, "description": "The key's role may not call this"},
    500: {"model": Error, "description": "Internal error (no details exposed)"},
    503: {"model": Error, "description": "Temporarily unavailable; see Retry-After"},
}
