"""GET /.well-known/acp.json: public, cacheable, valid against the official DiscoveryResponse."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from merchant.checkout.discovery import discovery_document
from merchant.merchant_config import parse_merchant_config
from tests.catalog.acp_schema import CHECKOUT_SCHEMA_PATH, schema_problems


async def test_served_without_a_key_and_cacheable(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/acp.json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "public, max-age=3600"
    body = response.json()
    assert schema_problems(body, "DiscoveryResponse", CHECKOUT_SCHEMA_PATH) == []
    assert body["protocol"]["name"] == "acp"
    assert body["protocol"]["version"] == body["protocol"]["supported_versions"][-1] == "2026-04-17"
    assert body["protocol"]["supported_versions"] == ["2025-12-12", "2026-01-16", "2026-01-30", "2026-04-17"]
    assert body["api_base_url"] == str(client.base_url).rstrip("/")
    assert body["transports"] == ["rest"]
    assert body["capabilities"]["services"] == ["checkout"]
    assert body["capabilities"]["supported_currencies"] == ["usd"]


async def test_no_payment_configuration_leaks(client: httpx.AsyncClient, app: FastAPI) -> None:
    body = (await client.get("/.well-known/acp.json")).text
    assert app.state.merchant_config.payments.card.merchant_id not in body
    assert "merchant_id" not in body


def test_configured_public_url_and_interventions() -> None:
    config = parse_merchant_config(
        {
            "shop": {"currency": "eur", "public_url": "https://shop.example/acp/"},
            "interventions": {"supported": ["3ds"]},
        }
    )
    document = discovery_document(config, "https://shop.example/acp")
    assert schema_problems(document, "DiscoveryResponse", CHECKOUT_SCHEMA_PATH) == []
    assert document["capabilities"]["intervention_types"] == ["3ds"]
    assert document["capabilities"]["supported_currencies"] == ["eur"]
