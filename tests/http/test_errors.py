"""The one error mapper: every failure is an ACP flat error, never FastAPI's default body."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import structlog
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from merchant import errors
from merchant.config import LogFormat
from merchant.http.errors import install_error_handlers
from merchant.http.middleware import RequestContextMiddleware
from merchant.logging import configure_logging


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    quantity: int = Field(ge=1)


class Body(BaseModel):
    line_items: list[Item]
    metadata: dict[str, str] = {}


def build_probe_app() -> FastAPI:
    """A small app wired exactly like the real one, with routes that fail on purpose."""
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware)

    @app.post("/items")
    async def items(body: Body) -> dict[str, int]:
        return {"count": len(body.line_items)}

    @app.get("/domain/{kind}")
    async def domain(kind: str) -> None:
        error_types: dict[str, type[errors.DomainError]] = {
            "not_found": errors.NotFound,
            "conflict": errors.Conflict,
            "forbidden": errors.Forbidden,
            "unprocessable": errors.Unprocessable,
        }
        raise error_types[kind]("Nope.", param="$.x")

    @app.get("/busy")
    async def busy() -> None:
        raise errors.ServiceUnavailable("Try later.", retry_after=7)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2 at /srv/app.py line 42")

    return app


@pytest.fixture
async def probe() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_probe_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        yield client


class TestValidationErrors:
    async def test_nested_field_gets_a_jsonpath_param(self, probe: httpx.AsyncClient) -> None:
        response = await probe.post(
            "/items", json={"line_items": [{"id": "a", "quantity": 1}, {"id": "b", "quantity": 0}]}
        )
        assert response.status_code == 400
        body = response.json()
        assert body["type"] == "invalid_request"
        assert body["param"] == "$.line_items[1].quantity"
        assert body["code"] == "invalid_value"
        assert set(body) == {"type", "code", "message", "param"}

    async def test_missing_field(self, probe: httpx.AsyncClient) -> None:
        response = await probe.post("/items", json={"line_items": [{"quantity": 2}]})
        assert response.status_code == 400
        assert (response.json()["code"], response.json()["param"]) == (
            "missing_required_field",
            "$.line_items[0].id",
        )

    async def test_unknown_field(self, probe: httpx.AsyncClient) -> None:
        response = await probe.post(
            "/items", json={"line_items": [{"id": "a", "quantity": 1, "colour": "red"}]}
        )
        assert (response.json()["code"], response.json()["param"]) == (
            "unknown_field",
            "$.line_items[0].colour",
        )

    async def test_map_key_that_needs_brackets(self, probe: httpx.AsyncClient) -> None:
        response = await probe.post("/items", json={"line_items": [], "metadata": {"gift-note": 5}})
        assert response.json()["param"] == "$.metadata['gift-note']"

    async def test_malformed_json(self, probe: httpx.AsyncClient) -> None:
        response = await probe.post(
            "/items", content=b'{"line_items": [', headers={"content-type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json() == {
            "type": "invalid_request",
            "code": "invalid_json",
            "message": "The request body is not valid JSON.",
            "param": "$",
        }

    async def test_missing_body(self, probe: httpx.AsyncClient) -> None:
        response = await probe.post("/items")
        assert response.status_code == 400
        assert response.json()["param"] == "$"


class TestDomainErrors:
    @pytest.mark.parametrize(
        ("kind", "status"),
        [("not_found", 404), ("conflict", 409), ("forbidden", 403), ("unprocessable", 422)],
    )
    async def test_status_and_flat_body(self, probe: httpx.AsyncClient, kind: str, status: int) -> None:
        response = await probe.get(f"/domain/{kind}")
        assert response.status_code == status
        assert response.json() == {
            "type": "invalid_request",
            "code": kind,
            "message": "Nope.",
            "param": "$.x",
        }

    async def test_service_unavailable_sets_retry_after(self, probe: httpx.AsyncClient) -> None:
        response = await probe.get("/busy")
        assert (response.status_code, response.headers["retry-after"]) == (503, "7")
        assert response.json()["type"] == "service_unavailable"


class TestRoutingErrors:
    async def test_unknown_path(self, probe: httpx.AsyncClient) -> None:
        response = await probe.get("/nowhere")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
        assert response.json()["type"] == "invalid_request"

    async def test_wrong_method(self, probe: httpx.AsyncClient) -> None:
        response = await probe.delete("/items")
        assert (response.status_code, response.json()["code"]) == (405, "method_not_allowed")


class TestUnexpectedErrors:
    async def test_500_without_internals_and_logged_with_request_id(self, probe: httpx.AsyncClient) -> None:
        stream = io.StringIO()
        configure_logging("INFO", LogFormat.json, stream=stream)
        try:
            response = await probe.get("/boom", headers={"Request-Id": "req_probe_1"})
        finally:
            structlog.reset_defaults()
        assert response.status_code == 500
        body = response.json()
        assert (body["type"], body["code"]) == ("processing_error", "internal_error")
        assert "secret internals" not in response.text
        assert "hunter2" not in response.text
        assert "req_probe_1" in body["message"]
        assert response.headers["request-id"] == "req_probe_1"

        records = [json.loads(line) for line in stream.getvalue().splitlines()]
        crash = next(r for r in records if r["event"] == "http.unhandled_exception")
        assert crash["request_id"] == "req_probe_1"
        assert "RuntimeError" in crash["exception"]
        assert "hunter2" not in stream.getvalue()

    async def test_request_id_generated_when_absent_or_unsafe(self, probe: httpx.AsyncClient) -> None:
        response = await probe.get("/nowhere", headers={"Request-Id": "bad id\twith spaces"})
        assert response.headers["request-id"].startswith("req_")
