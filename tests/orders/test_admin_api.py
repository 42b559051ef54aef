"""The staff order API through the real app: lists, search, cursor pages, review, operations, CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from merchant.db import create_sessionmaker
from merchant.db.transaction import transaction
from merchant.identity import service as identity_service
from merchant.identity.roles import Role
from merchant.payments.stripe_emulator import StripeEmulator
from tests.checkout.purchase import Agent

pytestmark = pytest.mark.usefixtures("committed")
Headers = dict[str, str]


async def staff(engine: AsyncEngine, role: Role) -> Headers:
    async with transaction(create_sessionmaker(engine)) as session:
        created = await identity_service.create_key(session, role=role, name=role.value)
    return {"Authorization": f"Bearer {created.token}"}


@pytest.fixture
async def operator(committed: AsyncEngine) -> Headers:
    return await staff(committed, Role.operator)


@pytest.fixture
async def viewer(committed: AsyncEngine) -> Headers:
    return await staff(committed, Role.viewer)


async def get(client: httpx.AsyncClient, path: str, headers: Headers, **params: Any) -> Any:
    response = await client.get(path, headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_lists_filter_search_and_page(
    agent: Agent, stripe: StripeEmulator, committing_client: httpx.AsyncClient, viewer: Headers
) -> None:
    orders = [await agent.buy(stripe) for _ in range(2)]
    risky = await agent.buy(stripe, "pm_card_riskLevelElevated")
    client = committing_client

    first = await get(client, "/admin/v1/orders", viewer, limit=2)
    assert ([o["id"] for o in first["data"]], first["has_more"]) == ([risky["id"], orders[1]["id"]], True)
    second = await get(client, "/admin/v1/orders", viewer, limit=2, starting_after=first["next_cursor"])
    assert ([o["id"] for o in second["data"]], second["has_more"]) == ([orders[0]["id"]], False)
    oldest = await get(client, "/admin/v1/orders", viewer, sort="created_at", limit=1)
    assert oldest["data"][0]["id"] == orders[0]["id"]

    review = await get(client, "/admin/v1/orders", viewer, status="manual_review")
    assert [o["id"] for o in review["data"]] == [risky["id"]]
    assert [o["id"] for o in (await get(client, "/admin/v1/reviews", viewer))["data"]] == [risky["id"]]
    by_number = await get(client, "/admin/v1/orders", viewer, q=orders[1]["order_number"])
    assert [o["id"] for o in by_number["data"]] == [orders[1]["id"]]
    assert len((await get(client, "/admin/v1/orders", viewer, q="ADA@example.com"))["data"]) == 3
    assert len((await get(client, "/admin/v1/orders", viewer, q="Ad"))["data"]) == 3  # name prefix
    assert (await get(client, "/admin/v1/orders", viewer, q="zed"))["data"] == []
    total = first["data"][0]["total"]
    assert len((await get(client, "/admin/v1/orders", viewer, total_min=total + 1))["data"]) == 0
    bad = await client.get("/admin/v1/orders", headers=viewer, params={"starting_after": "bm9wZQ"})
    assert (bad.status_code, bad.json()["param"]) == (400, "$.starting_after")

    export = await client.get("/admin/v1/orders.csv", headers=viewer, params={"sort": "created_at"})
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [row["id"] for row in rows] == [orders[0]["id"], orders[1]["id"], risky["id"]]
    listed = {o["id"]: o for o in first["data"]}[risky["id"]]
    assert (rows[2]["total"], rows[2]["status"], rows[2]["fraud_decision"]) == (
        str(listed["total"]),
        "manual_review",
        "review",
    )

    detail = await get(client, f"/admin/v1/orders/{risky['id']}", viewer)
    assert detail["summary"]["status"] == "manual_review"
    assert detail["fraud"]["decision"] == "review"
    assert {s["name"] for s in detail["fraud"]["signals"]} >= {"radar"}
    assert [p["status"] for p in detail["payments"]] == ["authorized"]
    kinds = [entry["kind"] for entry in detail["timeline"]]
    assert kinds[0] == "order.created"


async def test_review_and_operations(
    agent: Agent,
    stripe: StripeEmulator,
    committing_client: httpx.AsyncClient,
    operator: Headers,
    viewer: Headers,
) -> None:
    client = committing_client
    risky = await agent.buy(stripe, "pm_card_riskLevelElevated")
    path = f"/admin/v1/orders/{risky['id']}"
    refused = await client.post(f"{path}/approve", headers=viewer, json={"reason": "looks fine"})
    assert refused.status_code == 403
    approved = await client.post(f"{path}/approve", headers=operator, json={"reason": "called the buyer"})
    assert (approved.status_code, approved.json()["summary"]["status"]) == (200, "confirmed")
    again = await client.post(f"{path}/reject", headers=operator, json={"reason": "changed my mind"})
    assert (again.status_code, again.json()["code"]) == (409, "order_state_invalid")

    shipped = await client.post(
        f"{path}/fulfillments", headers=operator, json={"carrier": "UPS", "tracking_number": "1Z"}
    )
    assert (shipped.status_code, shipped.json()["summary"]["status"]) == (201, "shipped")
    fulfillment = shipped.json()["order"]["fulfillments"][0]["id"]
    delivered = await client.post(
        f"{path}/fulfillments/{fulfillment}/events",
        headers=operator,
        json={"type": "delivered", "location": "SF"},
    )
    assert delivered.json()["summary"]["status"] == "completed"

    refund = {"lines": [{"id": "li_0", "quantity": 1}], "reason": "one returned", "restock": True}
    keyed = {**operator, "Idempotency-Key": "refund-1"}
    first = await client.post(f"{path}/refunds", headers=keyed, json=refund)
    assert first.status_code == 200, first.text
    replay = await client.post(f"{path}/refunds", headers=keyed, json=refund)
    assert (replay.headers["Idempotent-Replayed"], replay.json()) == ("true", first.json())
    body = first.json()
    refunded = body["summary"]["amount_refunded"]
    assert refunded == round(body["order"]["line_items"][0]["subtotal"] / 2)  # no tax in this shop
    assert [a["type"] for a in body["order"]["adjustments"]] == ["refund"]
    too_much = await client.post(f"{path}/refunds", headers=operator, json={"amount": 10**9, "reason": "x"})
    assert (too_much.status_code, too_much.json()["code"]) == (400, "refund_exceeds_capture")
    noted = await client.post(f"{path}/notes", headers=operator, json={"text": "buyer called"})
    assert [n["text"] for n in noted.json()["notes"]][-1] == "buyer called"
    canceled = await client.post(f"{path}/cancel", headers=operator, json={"reason": "late"})
    assert (canceled.status_code, canceled.json()["code"]) == (409, "order_state_invalid")

    # Each operation that changed the order left one audit row, written with the change; the
    # refused ones and the replayed refund left none.
    trail = await get(client, "/admin/v1/audit", operator, target_type="order", target_id=risky["id"])
    rows = list(reversed(trail["data"]))
    assert [row["action"] for row in rows] == [
        "order.approve", "order.fulfil", "order.fulfillment_event", "order.refund", "order.note",
    ]  # fmt: skip
    assert {row["actor"]["role"] for row in rows} == {"operator"}
    approve = rows[0]
    assert (approve["before"]["status"], approve["after"]["status"]) == ("manual_review", "confirmed")
    assert approve["after"]["reason"] == "called the buyer"
    assert (rows[1]["status_code"], rows[1]["after"]["tracking_number"]) == (201, "1Z")
    assert (rows[2]["before"]["status"], rows[2]["after"]["status"]) == ("shipped", "completed")
    refund_row = rows[3]
    assert refund_row["idempotency_key"] == "refund-1"
    assert (refund_row["before"]["amount_refunded"], refund_row["after"]["amount_refunded"]) == (0, refunded)
    assert refund_row["after"]["restocked"] == {"li_0": 1}
    assert rows[4]["after"]["note_id"] == noted.json()["notes"][-1]["id"]


async def test_who_may_call(
    agent: Agent, stripe: StripeEmulator, committing_client: httpx.AsyncClient, viewer: Headers
) -> None:
    order = await agent.buy(stripe)
    client = committing_client
    assert (await client.get("/admin/v1/orders")).status_code == 401
    assert (await client.get("/admin/v1/orders", headers=agent.headers)).status_code == 403
    assert (await client.get(f"/admin/v1/orders/{order['id']}", headers=viewer)).status_code == 200
    missing = await client.get("/admin/v1/orders/ord_nope", headers=viewer)
    assert (missing.status_code, missing.json()["code"]) == (404, "order_not_found")
    for action in ("approve", "reject", "cancel"):
        response = await client.post(
            f"/admin/v1/orders/{order['id']}/{action}", headers=viewer, json={"reason": "x"}
        )
        assert response.status_code == 403
