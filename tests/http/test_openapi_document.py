"""Our OpenAPI document says what the API answers and needs.

Before: no ``Idempotency-Key`` parameter anywhere, ``API-Version`` optional, no 404 on the session
routes, no 405 on cancel, no 409 / 413 / 415 / 422 on any POST, ``orders.csv`` documented as JSON,
and ``openai-parquet`` offered as a feed format although it is refused.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest

from merchant.cli.openapi import render

SESSION = "/checkout_sessions/{checkout_session_id}"
ACP_POSTS = ["/checkout_sessions", SESSION, f"{SESSION}/complete", f"{SESSION}/cancel"]


@functools.cache
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(render())
    return loaded


def operation(path: str, method: str) -> dict[str, Any]:
    found: dict[str, Any] = document()["paths"][path][method]
    return found


def header(path: str, method: str, name: str) -> dict[str, Any] | None:
    parameters = operation(path, method).get("parameters", [])
    return next((p for p in parameters if p["in"] == "header" and p["name"] == name), None)


@pytest.mark.parametrize("path", ACP_POSTS)
def test_acp_posts_require_their_headers_and_list_their_errors(path: str) -> None:
    version = header(path, "post", "API-Version") or {}
    assert version.get("required") is True
    assert "2026-04-17, 2026-01-30" in version["description"]  # the versions served
    key = header(path, "post", "Idempotency-Key")
    assert key is not None
    assert (key["required"], key["schema"]["maxLength"]) == (True, 255)
    responses = operation(path, "post")["responses"]
    assert {"400", "409", "413", "415", "422"} <= set(responses)
    assert responses["409"]["headers"]["Retry-After"]["required"] is True


def test_session_reads_need_a_version_no_key_and_may_be_404() -> None:
    assert (header(SESSION, "get", "API-Version") or {}).get("required") is True
    assert header(SESSION, "get", "Idempotency-Key") is None
    assert "404" in operation(SESSION, "get")["responses"]
    for path in ACP_POSTS[1:]:
        assert "404" in operation(path, "post")["responses"], path


def test_cancel_documents_its_405() -> None:
    refused = operation(f"{SESSION}/cancel", "post")["responses"]["405"]
    assert refused["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/Error"
    assert "Allow" in refused["headers"]


def test_staff_posts_take_an_optional_key() -> None:
    for path in ("/admin/v1/keys", "/admin/v1/orders/{order_id}/refunds"):
        key = header(path, "post", "Idempotency-Key")
        assert key is not None
        assert key["required"] is False, path
        assert {"404", "409", "422"} & set(operation(path, "post")["responses"]), path


def test_the_csv_export_is_csv() -> None:
    ok = operation("/admin/v1/orders.csv", "get")["responses"]["200"]
    assert list(ok["content"]) == ["text/csv"]


def test_only_readable_feed_formats_are_offered() -> None:
    body = operation("/admin/v1/feeds", "post")["requestBody"]["content"]
    upload = body["multipart/form-data"]["schema"]["properties"]["format"]["enum"]
    url = body["application/json"]["schema"]["properties"]["format"]["anyOf"][0]["enum"]
    for offered in (upload, url):
        assert "openai-parquet" not in offered
        assert "openai-csv" in offered
