"""The scripted purchase of ``merchant demo``: what an agent platform does, step by step, over HTTP.

Discovery, create a checkout session, add the address and pick shipping, mint a shared payment
token at Stripe (the emulator, or Stripe test mode), complete, open the order page, then ship
the order as staff would (which captures the payment).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from rich.console import Console

Json = dict[str, Any]
API_VERSION = "2026-04-17"
DEMO_ADDRESS = {
    "name": "Ada Lovelace",
    "line_one": "1 Demo Street",
    "city": "San Francisco",
    "state": "CA",
    "country": "US",
    "postal_code": "94103",
}


@dataclass
class DemoResult:
    session_id: str
    order: Json


class Agent:
    """An agent platform's HTTP calls, printed as they happen."""

    def __init__(self, client: httpx.Client, token: str, console: Console) -> None:
        self.client, self.console = client, console
        self.headers = {"Authorization": f"Bearer {token}", "API-Version": API_VERSION}

    def call(self, method: str, path: str, body: Json | None = None, *, idempotent: bool = True) -> Json:
        headers = dict(self.headers)
        if method == "POST" and idempotent:
            headers["Idempotency-Key"] = str(uuid.uuid4())
        response = self.client.request(method, path, json=body, headers=headers)
        style = "green" if response.is_success else "red"
        self.console.print(f"[bold]{method} {path}[/bold] -> [{style}]{response.status_code}[/{style}]")
        if body is not None:
            self.console.print(f"  request:  {json.dumps(body)[:300]}", style="dim", highlight=False)
        if not response.is_success:
            self.console.print(f"  response: {response.text}", highlight=False)
            response.raise_for_status()
        result: Json = response.json()
        return result


def _summary(session: Json) -> str:
    totals = {t["type"]: t["amount"] for t in session.get("totals", [])}
    messages = ", ".join(f"{m['code']} at {m.get('param')}" for m in session.get("messages", []))
    return f"status={session['status']} total={totals.get('total')} {session['currency']}" + (
        f" messages=[{messages}]" if messages else ""
    )


def run_purchase(agent: Agent, mint_token: Callable[[int, str], str]) -> DemoResult:
    console = agent.console
    console.rule("1. Discovery")
    discovery = agent.call("GET", "/.well-known/acp.json")
    console.print(
        f"  protocol {discovery['protocol']['version']}, services {discovery['capabilities']['services']}"
    )

    console.rule("2. Create a checkout session")
    items = [{"id": "demo-mug", "quantity": 2}, {"id": "demo-tee-m", "quantity": 1}]
    created = agent.call(
        "POST",
        "/checkout_sessions",
        {"currency": "usd", "line_items": items, "capabilities": {}, "buyer": {"email": "ada@example.com"}},
    )
    console.print(f"  {created['id']}: {_summary(created)}", markup=False)
    path = f"/checkout_sessions/{created['id']}"

    console.rule("3. Add the shipping address, choose express shipping")
    updated = agent.call(
        "POST",
        path,
        {
            "fulfillment_details": {"name": DEMO_ADDRESS["name"], "address": DEMO_ADDRESS},
            "selected_fulfillment_options": [{"type": "shipping", "option_id": "express"}],
        },
    )
    console.print(f"  {_summary(updated)}", markup=False)
    total = next(t["amount"] for t in updated["totals"] if t["type"] == "total")
    handler = updated["capabilities"]["payment"]["handlers"][0]

    console.rule("4. The agent's PSP grants a shared payment token (Stripe)")
    token = mint_token(total, updated["currency"])
    console.print(f"  {token} for at most {total} {updated['currency']}")

    console.rule("5. Complete: charge the token, create the order")
    completed = agent.call(
        "POST",
        f"{path}/complete",
        {
            "payment_data": {
                "handler_id": handler["id"],
                "instrument": {"type": "card", "credential": {"type": "spt", "token": token}},
            },
            "risk_signals": {"ip_address": "203.0.113.10", "device_fingerprint": "demo-device"},
        },
    )
    order = completed["order"]
    console.print(f"  {_summary(completed)}", markup=False)
    console.print(f"  order {order['order_number']} ({order['id']}): {order['status']}")
    console.print(f"  order page: {order['permalink_url']}")
    return DemoResult(created["id"], order)
