"""ACP 2026-01-30 served next to 2026-04-17, chosen per request by ``API-Version``.

Before: only 2026-04-17 was served; ``API-Version: 2026-01-30`` got 400 ``unsupported_api_version``,
and a session could only be seen in 2026-04-17's shape (``order_notes``, ``Address.company``,
``PaymentHandler.display_name`` and the newer ``Order``, all unknown to 2026-01-30's closed schemas).
Every answer here is validated against the schema of the version it was asked in.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest

from merchant.payments.stripe_emulator import StripeEmulator
from tests.catalog.acp_schema import ACP, checkout_schema_path, schema_problems
from tests.checkout.purchase import Agent, complete_body, total_of
from tests.checkout.test_service import ADDRESS

OLD, NEW = "2026-01-30", "2026-04-17"
Json = dict[str, Any]


def valid(response: httpx.Response, status: int, version: str = OLD) -> Json:
    """The body of a ``status`` answer, valid against ``version``'s own schema."""
    assert response.status_code == status, response.text
    body: Json = response.json()
    if status >= 400:
        definition = "Error"
    else:
        definition = "CheckoutSessionWithOrder" if "order" in body else "CheckoutSession"
    assert schema_problems(body, definition, checkout_schema_path(version)) == []
    return body


async def create(agent: Agent, body: Json | None = None, *, key: bool = True) -> httpx.Response:
    body = body or {"currency": "usd", "line_items": [{"id": "tee-red-s", "quantity": 2}], "capabilities": {}}
    headers = agent.key() if key else agent.headers
    return await agent.client.post("/checkout_sessions", headers=headers, json=body)


async def update(agent: Agent, session_id: str, body: Json) -> httpx.Response:
    return await agent.client.post(f"/checkout_sessions/{session_id}", headers=agent.key(), json=body)


CHOOSE = {"selected_fulfillment_options": [{"type": "shipping", "option_id": "standard"}]}


async def test_a_whole_purchase_under_2026_01_30(agent: Agent, stripe: StripeEmulator) -> None:
    old = agent.under(OLD)
    created = valid(await create(old), 201)
    assert created["protocol"] == {"version": OLD}
    handler = created["capabilities"]["payment"]["handlers"][0]
    assert "display_name" not in handler
    assert handler["id"] == "card_tokenized"
    session_id = created["id"]
    addressed = valid(
        await update(old, session_id, {"fulfillment_details": {"name": "Ada", "address": ADDRESS}}), 200
    )
    assert addressed["fulfillment_options"]
    ready = valid(await update(old, session_id, CHOOSE), 200)
    assert ready["status"] == "ready_for_payment"
    token = stripe.create_granted_token(max_amount=total_of(ready))
    done = valid(await old.complete(session_id, token), 200)
    assert done["status"] == "completed"
    order = done["order"]
    assert order["checkout_session_id"] == session_id
    assert order["status"] == "confirmed"
    assert not {"type", "line_items", "totals", "fulfillments", "adjustments"} & set(order)
    read = valid(await old.client.get(f"/checkout_sessions/{session_id}", headers=old.headers), 200)
    assert read["order"] == order


async def test_replay_with_a_key_under_2026_01_30(agent: Agent) -> None:
    old = agent.under(OLD)
    headers = {**old.headers, "Idempotency-Key": "old-create"}
    body = {"currency": "usd", "line_items": [{"id": "mug"}], "capabilities": {}}
    first = valid(await old.client.post("/checkout_sessions", headers=headers, json=body), 201)
    again = await old.client.post("/checkout_sessions", headers=headers, json=body)
    assert (valid(again, 201)["id"], again.headers["Idempotent-Replayed"]) == (first["id"], "true")
    other = await old.client.post("/checkout_sessions", headers=headers, json={**body, "currency": "eur"})
    assert valid(other, 422)["code"] == "idempotency_conflict"


async def test_a_key_sent_again_under_another_version_is_another_request(agent: Agent) -> None:
    """Not replayed in the shape of the version it was first sent in: 422, as another body is."""
    body = {"currency": "usd", "line_items": [{"id": "mug"}], "capabilities": {}}
    for first, then in ((NEW, OLD), (OLD, NEW)):
        headers = {**agent.under(first).headers, "Idempotency-Key": f"shared-{first}"}
        valid(await agent.client.post("/checkout_sessions", headers=headers, json=body), 201, first)
        again = await agent.client.post(
            "/checkout_sessions", headers={**headers, "API-Version": then}, json=body
        )
        assert valid(again, 422, then)["code"] == "idempotency_conflict"


async def test_idempotency_key_optional_only_before_2026_04_17(agent: Agent) -> None:
    old, new = agent.under(OLD), agent.under(NEW)
    first = valid(await create(old, key=False), 201)
    second = valid(await create(old, key=False), 201)
    assert first["id"] != second["id"]  # no key: two requests, two sessions
    refused = valid(await create(new, key=False), 400, NEW)
    assert (refused["type"], refused["code"]) == ("invalid_request", "idempotency_key_required")


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"order_notes": "Leave at the door"}, "$.order_notes"),
        (
            {"fulfillment_details": {"address": {**ADDRESS, "company": "ACME"}}},
            "$.fulfillment_details.address.company",
        ),
    ],
    ids=["order_notes", "address_company"],
)
async def test_newer_fields_refused_with_that_versions_error(agent: Agent, extra: Json, param: str) -> None:
    body = {"currency": "usd", "line_items": [{"id": "mug"}], "capabilities": {}, **extra}
    error = valid(await create(agent.under(OLD), body), 400)
    assert (error["code"], error["param"]) == ("unknown_field", param)
    assert "supported_versions" not in error
    valid(await create(agent.under(NEW), body), 201, NEW)  # the same body is 2026-04-17's


async def test_complete_refuses_newer_fields_under_2026_01_30(agent: Agent, stripe: StripeEmulator) -> None:
    ready = await agent.ready_session()
    old = agent.under(OLD)
    body = {**complete_body(stripe.create_granted_token(max_amount=total_of(ready))), "order_notes": "x"}
    path = f"/checkout_sessions/{ready['id']}/complete"
    error = valid(await old.client.post(path, headers=old.key(), json=body), 400)
    assert (error["code"], error["param"]) == ("unknown_field", "$.order_notes")


async def test_a_2026_04_17_session_read_updated_and_completed_under_2026_01_30(
    agent: Agent, stripe: StripeEmulator
) -> None:
    new, old = agent.under(NEW), agent.under(OLD)
    body = {
        "currency": "usd",
        "line_items": [{"id": "tee-red-s"}],
        "capabilities": {},
        "fulfillment_details": {"name": "Ada", "address": {**ADDRESS, "company": "ACME"}},
        "order_notes": "Leave at the door",
    }
    created = valid(await create(new, body), 201, NEW)
    session_id = created["id"]
    read = valid(await old.client.get(f"/checkout_sessions/{session_id}", headers=old.headers), 200)
    assert "company" not in read["fulfillment_details"]["address"]
    ready = valid(await update(old, session_id, CHOOSE), 200)
    token = stripe.create_granted_token(max_amount=total_of(ready))
    done = valid(await old.complete(session_id, token), 200)
    assert "order_notes" not in done["order"]["confirmation"]
    again = valid(await new.client.get(f"/checkout_sessions/{session_id}", headers=new.headers), 200, NEW)
    assert again["fulfillment_details"]["address"]["company"] == "ACME"
    assert again["order"]["confirmation"]["order_notes"] == "Leave at the door"
    assert "protocol" not in again  # 2026-04-17 answers as before


# Every official 2026-01-30 request example, sent under 2026-01-30: a schema-valid session or the
# flat error (valid against 2026-01-30's Error) with a JSONPath ``param``; never a 5xx.
EXAMPLES = ACP / "examples" / OLD
ROUTES = {"create": "", "update": "/{id}", "complete": "/{id}/complete"}


def _examples() -> list[Any]:
    found: list[Any] = []
    path = EXAMPLES / "examples.agentic_checkout.json"
    if path.exists():
        for name, body in json.loads(path.read_text()).items():
            kind = next((k for k in ROUTES if name.startswith(f"{k}_")), None)
            if kind is not None and "request" in name and isinstance(body, dict):
                found.append(pytest.param(kind, body, id=name))
    for discount in sorted((EXAMPLES / "discount-extension").glob("*.json")):
        request = json.loads(discount.read_text()).get("request")
        if isinstance(request, dict):
            found.append(pytest.param("create", request, id=f"discount/{discount.stem}"))
    return found or [pytest.param("create", {}, marks=pytest.mark.skip(reason="no ACP examples"))]


@pytest.mark.parametrize(("kind", "example"), _examples())
async def test_official_2026_01_30_requests_get_a_2026_01_30_answer(
    agent: Agent, kind: str, example: Json
) -> None:
    old = agent.under(OLD)
    session_id = ""
    if kind != "create":
        session_id = valid(await create(old), 201)["id"]
    path = "/checkout_sessions" + ROUTES[kind].format(id=session_id)
    response = await old.client.post(path, headers=old.key(), json=copy.deepcopy(example))
    assert response.status_code < 500, response.text
    body = valid(response, response.status_code)
    if response.status_code >= 400:
        assert str(body.get("param", "$")).startswith("$"), body
