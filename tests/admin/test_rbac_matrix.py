"""Who may call what: every authenticated endpoint x every caller -> the expected status.

The table below is the access policy, written out. ``test_the_matrix_covers_every_endpoint``
holds it to the app's OpenAPI document, so a new endpoint cannot ship without a row here.

Callers: no key, a revoked key, and one key of each role (agent, viewer, operator, admin). A
caller the endpoint admits gets the endpoint's own answer (on an empty database: a list, a 404
for an unknown id, a 400 for an incomplete body), which shows the request went past the role
check; the others get 401 (no key, revoked key) or 403 (a key of another role).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.identity import service as identity_service
from merchant.identity.roles import Role

Headers = dict[str, str]

AGENT = frozenset({Role.agent})
STAFF = frozenset({Role.viewer, Role.operator, Role.admin})
OPERATORS = frozenset({Role.operator, Role.admin})
ADMINS = frozenset({Role.admin})
KEYS = frozenset(Role)
CALLERS = ("no key", "revoked key", *(role.value for role in Role))

# What stands in for a path parameter: ids that exist nowhere (an empty database).
IDS = {
    "order_id": "ord_missing",
    "fulfillment_id": "ful_missing",
    "key_id": "key_0000000000000000",
    "platform_id": "plat_missing",
    "event_id": "evt_missing",
    "run_id": "run_missing",
    "variant_id": "var_missing",
    "checkout_session_id": "cs_missing",
}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # as in the OpenAPI document
    admits: frozenset[Role]
    status: int  # what an admitted caller gets here
    body: dict[str, Any] | None = field(default=None)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


REASON = {"reason": "rbac matrix"}
MATRIX = (
    Endpoint("GET", "/whoami", KEYS, 200),
    # ACP checkout: agent keys only
    Endpoint("POST", "/checkout_sessions", AGENT, 400, {}),
    Endpoint("GET", "/checkout_sessions/{checkout_session_id}", AGENT, 404),
    Endpoint("POST", "/checkout_sessions/{checkout_session_id}", AGENT, 404, {}),
    Endpoint("POST", "/checkout_sessions/{checkout_session_id}/complete", AGENT, 400, {}),
    Endpoint("POST", "/checkout_sessions/{checkout_session_id}/cancel", AGENT, 404, {}),
    # Catalog: staff read, operators change
    Endpoint("POST", "/admin/v1/feeds", OPERATORS, 400, {}),
    Endpoint("GET", "/admin/v1/feeds", STAFF, 200),
    Endpoint("GET", "/admin/v1/feeds/{run_id}", STAFF, 404),
    Endpoint("GET", "/admin/v1/products", STAFF, 200),
    Endpoint("GET", "/admin/v1/products/{variant_id}", STAFF, 404),
    Endpoint("PATCH", "/admin/v1/products/{variant_id}/inventory", OPERATORS, 404, {"inventory_quantity": 3}),
    # Orders: staff read, operators act
    Endpoint("GET", "/admin/v1/orders", STAFF, 200),
    Endpoint("GET", "/admin/v1/orders.csv", STAFF, 200),
    Endpoint("GET", "/admin/v1/orders/{order_id}", STAFF, 404),
    Endpoint("GET", "/admin/v1/reviews", STAFF, 200),
    Endpoint("POST", "/admin/v1/orders/{order_id}/approve", OPERATORS, 404, REASON),
    Endpoint("POST", "/admin/v1/orders/{order_id}/reject", OPERATORS, 404, REASON),
    Endpoint("POST", "/admin/v1/orders/{order_id}/cancel", OPERATORS, 404, REASON),
    Endpoint("POST", "/admin/v1/orders/{order_id}/refunds", OPERATORS, 404, {"amount": 100, **REASON}),
    Endpoint("POST", "/admin/v1/orders/{order_id}/fulfillments", OPERATORS, 404, {"carrier": "UPS"}),
    Endpoint(
        "POST",
        "/admin/v1/orders/{order_id}/fulfillments/{fulfillment_id}/events",
        OPERATORS,
        404,
        {"type": "delivered"},
    ),
    Endpoint("POST", "/admin/v1/orders/{order_id}/notes", OPERATORS, 404, {"text": "hello"}),
    # The audit trail: operators and admins (it names every key and what each did)
    Endpoint("GET", "/admin/v1/audit", OPERATORS, 200),
    # Keys and platforms: admins only
    Endpoint("GET", "/admin/v1/keys", ADMINS, 200),
    Endpoint("POST", "/admin/v1/keys", ADMINS, 201, {"role": "viewer", "name": "matrix"}),
    Endpoint("POST", "/admin/v1/keys/{key_id}/revoke", ADMINS, 404),
    Endpoint("GET", "/admin/v1/platforms", ADMINS, 200),
    Endpoint("POST", "/admin/v1/platforms", ADMINS, 201, {"name": "Matrix Agent"}),
    Endpoint("GET", "/admin/v1/platforms/{platform_id}", ADMINS, 404),
    Endpoint("POST", "/admin/v1/platforms/{platform_id}/remove", ADMINS, 404),
    # Webhook deliveries: staff read, operators send again
    Endpoint("GET", "/admin/v1/webhooks/events", STAFF, 200),
    Endpoint("GET", "/admin/v1/webhooks/events/{event_id}", STAFF, 404),
    Endpoint("POST", "/admin/v1/webhooks/events/{event_id}/retry", OPERATORS, 404),
    Endpoint("POST", "/admin/v1/webhooks/events/{event_id}/replay", OPERATORS, 404),
)

# Endpoints without a key, each for its reason.
PUBLIC = {
    ("GET", "/healthz"): "liveness probe",
    ("GET", "/readyz"): "readiness probe",
    ("GET", "/.well-known/acp.json"): "ACP discovery document",
    ("GET", "/order-status/{token}"): "the buyer's order page: the unguessable token is the credential",
    ("POST", "/stripe/webhooks"): "Stripe's calls: authenticated by the Stripe-Signature header",
}


def expected(endpoint: Endpoint, caller: str) -> int:
    if caller in ("no key", "revoked key"):
        return 401
    return endpoint.status if Role(caller) in endpoint.admits else 403


def test_the_matrix_covers_every_endpoint(app: FastAPI) -> None:
    documented = {
        (method.upper(), path) for path, operations in app.openapi()["paths"].items() for method in operations
    }
    in_matrix = [(endpoint.method, endpoint.path) for endpoint in MATRIX]
    assert len(in_matrix) == len(set(in_matrix)), "an endpoint is in the matrix twice"
    assert set(in_matrix) | set(PUBLIC) == documented
    assert not set(in_matrix) & set(PUBLIC)


@pytest.fixture
async def callers(session: AsyncSession) -> dict[str, Headers]:
    """Authorization headers per caller; every key is real, the revoked one an admin's."""
    headers: dict[str, Headers] = {"no key": {}}
    for role in Role:
        created = await identity_service.create_key(session, role=role, name=f"matrix {role.value}")
        headers[role.value] = {"Authorization": f"Bearer {created.token}"}
    revoked = await identity_service.create_key(session, role=Role.admin, name="matrix revoked")
    await identity_service.revoke_key(session, revoked.key.id)
    headers["revoked key"] = {"Authorization": f"Bearer {revoked.token}"}
    await session.commit()
    return headers


@pytest.mark.parametrize("endpoint", MATRIX, ids=str)
async def test_each_caller_gets_the_expected_status(
    client: httpx.AsyncClient, callers: dict[str, Headers], endpoint: Endpoint
) -> None:
    path = endpoint.path.format(**IDS)
    got: dict[str, int] = {}
    for caller in CALLERS:
        headers = {**callers[caller], "API-Version": "2026-04-17"}
        if endpoint.method != "GET":
            headers["Idempotency-Key"] = f"matrix-{caller}"
        response = await client.request(endpoint.method, path, headers=headers, json=endpoint.body)
        got[caller] = response.status_code
        if response.status_code >= 400:  # every refusal is the flat error, never a bare status
            assert response.json()["type"] in ("invalid_request", "processing_error"), response.text
    assert got == {caller: expected(endpoint, caller) for caller in CALLERS}
