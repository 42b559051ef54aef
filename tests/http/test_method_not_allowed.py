"""405 names every method its path takes, on every path of the API.

Before: the router put in ``Allow`` only the methods of the first route whose path matched, so
``OPTIONS /checkout_sessions/{id}`` answered ``Allow: GET`` although ``POST`` is taken there too.
"""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

_PROBES = ("PUT", "DELETE", "PATCH", "OPTIONS")


def _documented(app: FastAPI) -> list[tuple[str, set[str]]]:
    paths = app.openapi()["paths"]
    return [(path, {method.upper() for method in operations}) for path, operations in paths.items()]


async def test_options_on_a_session_names_get_and_post(client: httpx.AsyncClient) -> None:
    response = await client.options("/checkout_sessions/cs_anything")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.json()["code"] == "method_not_allowed"


async def test_every_path_names_all_its_methods(app: FastAPI, client: httpx.AsyncClient) -> None:
    documented = _documented(app)
    assert len(documented) > 30
    for template, methods in documented:
        path = re.sub(r"\{[^}]+\}", "x1", template)
        refused = next(method for method in _PROBES if method not in methods)
        response = await client.request(refused, path)
        assert response.status_code == 405, (refused, template)
        allowed = {method.strip() for method in response.headers["allow"].split(",")}
        assert allowed == methods, template


@pytest.mark.parametrize("path", ["/healthz", "/.well-known/acp.json"])
async def test_paths_outside_the_document_too(client: httpx.AsyncClient, path: str) -> None:
    response = await client.delete(path)
    assert (response.status_code, response.headers["allow"]) == (405, "GET")
