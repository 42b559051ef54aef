"""``GET /.well-known/acp.json``: ACP discovery (acp-spec.md §2.3), public and cacheable.

It says which protocol versions, transports and services we offer; it never carries merchant
ids, payment handler configuration or keys (those stay in each session's ``capabilities``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from merchant.http.versioning import SUPPORTED_VERSIONS
from merchant.kit.locale import SUPPORTED_LOCALES
from merchant.merchant_config import MerchantConfig, public_base

router = APIRouter(tags=["discovery"])

# ACP: "SHOULD send Cache-Control: public, max-age=3600 (minimum)".
CACHE_CONTROL = "public, max-age=3600"


def discovery_document(config: MerchantConfig, api_base_url: str) -> dict[str, Any]:
    capabilities: dict[str, Any] = {
        "services": ["checkout"],
        "supported_currencies": [config.shop.currency.lower()],
        "supported_locales": list(SUPPORTED_LOCALES),
    }
    if config.interventions.supported:
        capabilities["intervention_types"] = list(config.interventions.supported)
    return {
        "protocol": {
            "name": "acp",
            "version": SUPPORTED_VERSIONS[0],
            "supported_versions": sorted(SUPPORTED_VERSIONS),  # oldest first, the last is the latest
        },
        "api_base_url": api_base_url,
        "transports": ["rest"],
        "capabilities": capabilities,
    }


@router.get("/.well-known/acp.json", responses={200: {"description": "The ACP discovery document"}})
async def discovery(request: Request) -> JSONResponse:
    """ACP discovery: protocol versions, transports and services; no authentication."""
    config: MerchantConfig = request.app.state.merchant_config
    document = discovery_document(config, public_base(request.app.state.settings, config))
    return JSONResponse(document, headers={"Cache-Control": CACHE_CONTROL})
