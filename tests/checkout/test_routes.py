"""The ACP checkout endpoints through the real app: every response schema-valid, the protocol edge."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from merchant.identity import service as identity_service
from merchant.identity.roles import Role
from tests.catalog.acp_schema import ACP, CHECKOUT_SCHEMA_PATH, schema_problems
from tests.catalog.helpers import FEEDS, run_feed
from tests.checkout.test_service import ADDRESS

Headers = dict[str, str]
EXAMPLES = ACP / "examples" / "2026-04-17" / "examples.agentic_checkout.json"


def assert_session(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert schema_problems(body, "CheckoutSession", CHECKOUT_SCHEMA_PATH) == []
    return body


async def agent_key(session: AsyncSession, name: str = "platform") -> Headers:
    created = await identity_service.create_key(session, role=Role.agent, name=name)
    await session.commit()
    return {"Authorization": f"Bearer {created.token}", "API-Version": "2026-04-17"}


@pytest.fixture
async def agent(session: AsyncSession, sessions: async_sessionmaker[AsyncSession]) -> Headers:
    await run_feed(sessions, FEEDS / "openai.csv")
    return await agent_key(session)


class Keys:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self, headers: Headers) -> Headers:
        self.n += 1
        return {**headers, "Idempotency-Key": f"key-{self.n}"}


@pytest.fixture
def key() -> Keys:
    return Keys()


async def test_create_update_get_cancel(client: httpx.AsyncClient, agent: Headers, key: Keys) -> None:
    created = assert_session(
        await client.post(
            "/checkout_sessions",
            headers=key(agent),
            json={"currency": "usd", "line_items": [{"id": "mug", "quantity": 2}], "capabilities": {}},
        ),
        201,
    )
    assert (created["status"], created["currency"]) == ("not_ready_for_payment", "usd")
    [handler] = created["capabilities"]["payment"]["handlers"]
    assert (handler["name"], handler["psp"], handler["requires_delegate_payment"]) == (
        "dev.acp.tokenized.card",
        "stripe",
        True,
    )
    session_id = created["id"]
    path = f"/checkout_sessions/{session_id}"

    updated = assert_session(
        await client.post(
            path,
            headers=key(agent),
            json={
                "fulfillment_details": {"name": "Ada", "address": ADDRESS},
                "selected_fulfillment_options": [
                    {"type": "shipping", "option_id": "express", "item_ids": []}
                ],
            },
        ),
        200,
    )
    assert updated["status"] == "ready_for_payment"
    assert {t["type"]: t["amount"] for t in updated["totals"]}["total"] == 2400 + 1500

    got = assert_session(await client.get(path, headers=agent), 200)
    assert got["status"] == "ready_for_payment"
    cleared = assert_session(
        await client.post(path, headers=key(agent), json={"fulfillment_details": None}), 200
    )
    assert cleared["status"] == "not_ready_for_payment"

    canceled = assert_session(await client.post(f"{path}/cancel", headers=key(agent)), 200)
    assert canceled["status"] == "canceled"
    again = await client.post(f"{path}/cancel", headers=key(agent))
    assert (again.status_code, again.json()["code"]) == (405, "checkout_session_closed")


async def test_another_platform_gets_404(
    client: httpx.AsyncClient, agent: Headers, key: Keys, session: AsyncSession
) -> None:
    created = await client.post(
        "/checkout_sessions", headers=key(agent), json={"currency": "usd", "line_items": [{"id": "mug"}]}
    )
    other = await agent_key(session, "other platform")
    response = await client.get(f"/checkout_sessions/{created.json()['id']}", headers=other)
    assert (response.status_code, response.json()["code"]) == (404, "checkout_session_not_found")


async def test_protocol_edge_errors(client: httpx.AsyncClient, agent: Headers, key: Keys) -> None:
    body = {"currency": "usd", "line_items": [{"id": "mug"}]}
    no_version = {k: v for k, v in key(agent).items() if k != "API-Version"}
    response = await client.post("/checkout_sessions", headers=no_version, json=body)
    assert response.status_code == 400
    assert response.json()["supported_versions"] == ["2026-04-17", "2026-01-30", "2026-01-16", "2025-12-12"]
    response = await client.post("/checkout_sessions", headers=agent, json=body)
    assert (response.status_code, response.json()["code"]) == (400, "idempotency_key_required")
    as_json = {"Content-Type": "application/json"}
    response = await client.post("/checkout_sessions", headers={**key(agent), **as_json}, content=b"{not")
    assert (response.status_code, response.json()["param"]) == (400, "$")
    as_text = {"Content-Type": "text/plain"}
    response = await client.post("/checkout_sessions", headers={**key(agent), **as_text}, content=b"{}")
    assert (response.status_code, response.json()["code"]) == (415, "unsupported_media_type")
    huge = {**body, "metadata": {"blob": "x" * (1024 * 1024)}}
    response = await client.post("/checkout_sessions", headers=key(agent), json=huge)
    assert (response.status_code, response.json()["code"]) == (413, "request_too_large")

    async def unsized() -> AsyncIterator[bytes]:  # chunked: no Content-Length to refuse early
        for _ in range(3):
            yield b" " * 600_000

    response = await client.post("/checkout_sessions", headers={**key(agent), **as_json}, content=unsized())
    assert "content-length" not in response.request.headers
    assert (response.status_code, response.json()["code"]) == (413, "request_too_large")
    wrong = {"currency": "usd", "line_items": [{"id": "mug", "quantity": "two"}]}
    response = await client.post("/checkout_sessions", headers=key(agent), json=wrong)
    assert (response.status_code, response.json()["param"]) == (400, "$.line_items[0].quantity")
    unknown = {**body, "surprise": True}
    response = await client.post("/checkout_sessions", headers=key(agent), json=unknown)
    assert (response.status_code, response.json()["code"], response.json()["param"]) == (
        400,
        "unknown_field",
        "$.surprise",
    )
    response = await client.get("/checkout_sessions/cs_missing", headers=agent)
    assert response.status_code == 404


async def test_replay_and_conflict(client: httpx.AsyncClient, agent: Headers) -> None:
    headers = {**agent, "Idempotency-Key": "create-1"}
    body = {"currency": "usd", "line_items": [{"id": "mug"}]}
    first = await client.post("/checkout_sessions", headers=headers, json=body)
    again = await client.post(
        "/checkout_sessions",
        headers={**headers, "Content-Type": "application/json"},
        content=json.dumps(body, indent=2).encode(),
    )
    assert (again.status_code, again.json()["id"], again.headers["Idempotent-Replayed"]) == (
        201,
        first.json()["id"],
        "true",
    )
    other = await client.post("/checkout_sessions", headers=headers, json={**body, "currency": "eur"})
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_conflict")


async def test_closed_session_answers_carry_retry_after_and_allow(
    client: httpx.AsyncClient, agent: Headers, key: Keys
) -> None:
    """Before: 409 ``checkout_session_not_open`` had no ``Retry-After`` (ACP's 409 requires one) and
    the 405 of a second cancel no ``Allow`` (RFC 9110 requires one)."""
    body = {"currency": "usd", "line_items": [{"id": "mug"}]}
    created = await client.post("/checkout_sessions", headers=key(agent), json=body)
    path = f"/checkout_sessions/{created.json()['id']}"
    assert (await client.post(f"{path}/cancel", headers=key(agent))).status_code == 200
    update = key(agent)
    for attempt in ("first", "replayed"):
        refused = await client.post(path, headers=update, json={"line_items": [{"id": "mug"}]})
        assert (refused.status_code, refused.json()["code"]) == (409, "checkout_session_not_open"), attempt
        assert refused.headers["retry-after"] == "60", attempt
    assert refused.headers["idempotent-replayed"] == "true"
    again = await client.post(f"{path}/cancel", headers=key(agent))
    assert (again.status_code, again.headers["allow"]) == (405, "")


async def test_legacy_items_and_catalog_messages(
    client: httpx.AsyncClient, agent: Headers, key: Keys
) -> None:
    body = {"currency": "usd", "items": [{"id": "nope"}, {"id": "tee-red-m", "quantity": 1}]}
    created = assert_session(await client.post("/checkout_sessions", headers=key(agent), json=body), 201)
    assert [(m["code"], m["param"]) for m in created["messages"]] == [
        ("invalid", "$.line_items[0].id"),
        ("out_of_stock", "$.line_items[1]"),
        ("missing", "$.fulfillment_details.address"),
    ]


async def test_no_unit_left_is_out_of_stock_even_while_in_stock(
    client: httpx.AsyncClient, agent: Headers, key: Keys, session: AsyncSession
) -> None:
    """Before: 0 units of an ``in_stock`` variant answered ``quantity_exceeded`` ("At most 0")."""
    await session.execute(text("UPDATE catalog_variant SET inventory_quantity = 0 WHERE id = 'tee-red-s'"))
    body = {"currency": "usd", "line_items": [{"id": "tee-red-s", "quantity": 1}]}
    created = assert_session(await client.post("/checkout_sessions", headers=key(agent), json=body), 201)
    update = {"line_items": [{"id": "tee-red-s", "quantity": 2}]}
    path = f"/checkout_sessions/{created['id']}"
    updated = assert_session(await client.post(path, headers=key(agent), json=update), 200)
    for answer in (created, updated):
        errors = [(m["code"], m["param"]) for m in answer["messages"] if m["type"] == "error"]
        assert ("out_of_stock", "$.line_items[0]") in errors
        assert all(code != "quantity_exceeded" for code, _ in errors)


def _valid_examples(prefix: str, definition: str) -> list[tuple[str, dict[str, Any]]]:
    if not EXAMPLES.exists():
        return []
    examples = json.loads(EXAMPLES.read_text())
    return [
        (name, value)
        for name, value in examples.items()
        if name.startswith(prefix) and not schema_problems(value, definition, CHECKOUT_SCHEMA_PATH)
    ]


def _params(found: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    params: list[Any] = list(found)
    return params or [pytest.param("none", {}, marks=pytest.mark.skip(reason="no ACP examples"))]


@pytest.mark.parametrize(
    ("name", "example"),
    _params(_valid_examples("create_checkout_session_request", "CheckoutSessionCreateRequest")),
)
async def test_official_create_examples_are_accepted(
    client: httpx.AsyncClient, agent: Headers, key: Keys, name: str, example: dict[str, Any]
) -> None:
    body = copy.deepcopy(example)
    created = assert_session(await client.post("/checkout_sessions", headers=key(agent), json=body), 201)
    assert created["messages"][0]["code"] == "invalid"  # its item ids are not in our catalog


async def _open_session(client: httpx.AsyncClient, agent: Headers, key: Keys) -> str:
    body = {"currency": "usd", "line_items": [{"id": "mug"}], "capabilities": {}}
    created = assert_session(await client.post("/checkout_sessions", headers=key(agent), json=body), 201)
    session_id: str = created["id"]
    return session_id


@pytest.mark.parametrize(
    ("name", "example"),
    _params(_valid_examples("update_checkout_session_request", "CheckoutSessionUpdateRequest")),
)
async def test_official_update_examples_are_accepted(
    client: httpx.AsyncClient, agent: Headers, key: Keys, name: str, example: dict[str, Any]
) -> None:
    session_id = await _open_session(client, agent, key)
    path = f"/checkout_sessions/{session_id}"
    assert_session(await client.post(path, headers=key(agent), json=copy.deepcopy(example)), 200)


@pytest.mark.parametrize(
    ("name", "example"), _params(_valid_examples("cancel_checkout_session_request", "CancelSessionRequest"))
)
async def test_official_cancel_examples_are_accepted(
    client: httpx.AsyncClient, agent: Headers, key: Keys, name: str, example: dict[str, Any]
) -> None:
    session_id = await _open_session(client, agent, key)
    path = f"/checkout_sessions/{session_id}/cancel"
    canceled = assert_session(await client.post(path, headers=key(agent), json=copy.deepcopy(example)), 200)
    assert canceled["status"] == "canceled"


@pytest.mark.parametrize(
    ("name", "example"),
    _params(_valid_examples("complete_", "CheckoutSessionCompleteRequest")),
)
async def test_official_complete_examples_pass_validation(
    client: httpx.AsyncClient, agent: Headers, key: Keys, name: str, example: dict[str, Any]
) -> None:
    """The request shape is accepted: what stops these is the session (no address yet), not the body."""
    session_id = await _open_session(client, agent, key)
    path = f"/checkout_sessions/{session_id}/complete"
    response = await client.post(path, headers=key(agent), json=copy.deepcopy(example))
    assert (response.status_code, response.json()["code"]) == (400, "checkout_session_not_ready"), (
        response.text
    )


# Every request example the ACP repository ships, of every pinned version, sent as it is to our
# current API under today's API-Version (agents upgrade their header before their payloads): the
# answer is a schema-valid session or the flat error with a JSONPath ``param``, never a 5xx.
ALL_EXAMPLES = ACP / "examples"
ROUTES = {"create": "", "update": "/{id}", "complete": "/{id}/complete", "cancel": "/{id}/cancel"}


def _route(name: str) -> str | None:
    """``create_checkout_session_request``, ``complete_session_with_...``, ``cancel_...`` -> the route."""
    return next((kind for kind in ROUTES if name.startswith(f"{kind}_")), None)


def _request_examples() -> list[Any]:
    found: list[Any] = []
    if not ALL_EXAMPLES.exists():
        return [pytest.param("none", "create", {}, marks=pytest.mark.skip(reason="no ACP examples"))]
    for path in sorted(ALL_EXAMPLES.glob("*/examples.*checkout.json")):
        for name, body in json.loads(path.read_text()).items():
            kind = _route(name)
            if "request" in name and kind is not None and isinstance(body, dict):
                label = f"{path.parent.name}/{name}"
                found.append(pytest.param(label, kind, body, id=label))
    for path in sorted(ALL_EXAMPLES.glob("*/discount-extension/*.json")):
        request = json.loads(path.read_text()).get("request")
        if isinstance(request, dict):
            label = f"{path.parent.parent.name}/discount/{path.stem}"
            found.append(pytest.param(label, "create", request, id=label))
    return found


def assert_protocol_answer(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    body = response.json()
    if response.status_code < 300:
        assert schema_problems(body, "CheckoutSession", CHECKOUT_SCHEMA_PATH) == []
        return
    assert {"type", "code", "message"} <= set(body), body
    assert "traceback" not in response.text.lower()
    if body.get("param") is not None:
        assert str(body["param"]).startswith("$"), body


@pytest.mark.parametrize(("label", "kind", "example"), _request_examples())
async def test_every_request_example_gets_a_protocol_answer(
    client: httpx.AsyncClient, agent: Headers, key: Keys, label: str, kind: str, example: dict[str, Any]
) -> None:
    session_id = ""
    if kind != "create":
        body = {"currency": "usd", "line_items": [{"id": "mug"}], "capabilities": {}}
        created = await client.post("/checkout_sessions", headers=key(agent), json=body)
        assert created.status_code == 201, created.text
        session_id = created.json()["id"]
    path = "/checkout_sessions" + ROUTES[kind].format(id=session_id)
    assert_protocol_answer(await client.post(path, headers=key(agent), json=copy.deepcopy(example)))
