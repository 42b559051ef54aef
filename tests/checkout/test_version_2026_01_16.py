"""ACP 2026-01-16 and 2025-12-12 served next to 2026-04-17, chosen per request by ``API-Version``.

Before: both versions got 400 ``unsupported_api_version``; their request shapes (``items`` without
``currency``, nested ``selected_fulfillment_options``, ``payment_data{token, provider}``) were not
2026-04-17's and were refused before any version could read them. Every answer here is validated
against the schema of the version it was asked in.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest

from merchant.payments.stripe_emulator import StripeEmulator
from tests.catalog.acp_schema import ACP, checkout_schema_path, schema_problems
from tests.checkout.purchase import Agent, total_of
from tests.checkout.test_service import ADDRESS

OLD_VERSIONS = ("2026-01-16", "2025-12-12")
NEW = "2026-04-17"
Json = dict[str, Any]
old_version = pytest.mark.parametrize("version", OLD_VERSIONS)


def valid(response: httpx.Response, status: int, version: str) -> Json:
    assert response.status_code == status, response.text
    body: Json = response.json()
    definition = (
        "Error" if status >= 400 else ("CheckoutSessionWithOrder" if "order" in body else "CheckoutSession")
    )
    assert schema_problems(body, definition, checkout_schema_path(version)) == []
    return body


CREATE = {"items": [{"id": "tee-red-s", "quantity": 2}]}
CHOOSE = {
    "selected_fulfillment_options": [
        {"type": "shipping", "shipping": {"option_id": "standard", "item_ids": []}}
    ]
}


@old_version
async def test_a_whole_purchase(agent: Agent, stripe: StripeEmulator, version: str) -> None:
    old = agent.under(version)
    created = valid(await old.client.post("/checkout_sessions", headers=old.key(), json=CREATE), 201, version)
    assert created["payment_provider"]["provider"] == "stripe"
    assert not {"capabilities", "protocol"} & set(created)
    path = f"/checkout_sessions/{created['id']}"
    details = {"fulfillment_details": {"name": "Ada", "address": ADDRESS}}
    addressed = valid(await old.client.post(path, headers=old.key(), json=details), 200, version)
    assert addressed["fulfillment_options"]
    ready = valid(await old.client.post(path, headers=old.key(), json=CHOOSE), 200, version)
    assert ready["status"] == "ready_for_payment"
    assert ready["selected_fulfillment_options"][0]["shipping"]["option_id"] == "standard"
    token = stripe.create_granted_token(max_amount=total_of(ready))
    pay = {"payment_data": {"token": token, "provider": "stripe"}}
    done = valid(await old.client.post(f"{path}/complete", headers=old.key(), json=pay), 200, version)
    assert done["status"] == "completed"
    assert set(done["order"]) == {"id", "checkout_session_id", "permalink_url"}


@old_version
async def test_replay_with_a_key_and_no_key(agent: Agent, version: str) -> None:
    old = agent.under(version)
    headers = {**old.headers, "Idempotency-Key": f"old-{version}"}
    first = valid(await old.client.post("/checkout_sessions", headers=headers, json=CREATE), 201, version)
    again = await old.client.post("/checkout_sessions", headers=headers, json=CREATE)
    assert (valid(again, 201, version)["id"], again.headers["Idempotent-Replayed"]) == (first["id"], "true")
    a = valid(await old.client.post("/checkout_sessions", headers=old.headers, json=CREATE), 201, version)
    b = valid(await old.client.post("/checkout_sessions", headers=old.headers, json=CREATE), 201, version)
    assert a["id"] != b["id"]


@old_version
async def test_a_2026_04_17_session_read_under_an_old_version(agent: Agent, version: str) -> None:
    new, old = agent.under(NEW), agent.under(version)
    body = {"currency": "usd", "line_items": [{"id": "tee-red-s"}], "capabilities": {},
            "fulfillment_details": {"name": "Ada", "address": {**ADDRESS, "company": "ACME"}}}  # fmt: skip
    created = valid(await new.client.post("/checkout_sessions", headers=new.key(), json=body), 201, NEW)
    read = valid(
        await old.client.get(f"/checkout_sessions/{created['id']}", headers=old.headers), 200, version
    )
    assert "company" not in read["fulfillment_details"]["address"]


def _examples(version: str) -> list[Any]:
    path = ACP / "examples" / version / "examples.agentic_checkout.json"
    found: list[Any] = []
    for name, body in json.loads(path.read_text()).items():
        kind = next((k for k in ("create", "update", "complete") if name.startswith(f"{k}_")), None)
        if kind is not None and "request" in name and isinstance(body, dict):
            found.append(pytest.param(version, kind, body, id=f"{version}/{name}"))
    return found


@pytest.mark.parametrize(("version", "kind", "example"), [p for v in OLD_VERSIONS for p in _examples(v)])
async def test_official_requests_get_an_answer_of_their_version(
    agent: Agent, version: str, kind: str, example: Json
) -> None:
    old = agent.under(version)
    path = "/checkout_sessions"
    if kind != "create":
        session_id = valid(await old.client.post(path, headers=old.key(), json=CREATE), 201, version)["id"]
        path += f"/{session_id}" + ("/complete" if kind == "complete" else "")
    response = await old.client.post(path, headers=old.key(), json=copy.deepcopy(example))
    assert response.status_code < 500, response.text
    body = valid(response, response.status_code, version)
    if response.status_code >= 400:
        assert str(body.get("param", "$")).startswith("$"), body
