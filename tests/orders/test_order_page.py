"""The public order-status page (``GET /order-status/{token}``) with hostile text in it.

Before: the page already escaped what it shows (the guarantee is kept by these tests), but it was
sent without a Content-Security-Policy or ``X-Content-Type-Options: nosniff``: one escaping slip
would have run script on a page buyers open from their agent.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from merchant.db import create_sessionmaker
from merchant.payments.stripe_emulator import StripeEmulator
from tests.catalog.helpers import FEEDS, run_feed
from tests.checkout.purchase import Agent, complete_body, total_of
from tests.checkout.test_service import ADDRESS

SCRIPT = "<script>alert(1)</script>"
BREAKOUT = '"><img src=x onerror=alert(2)>'
TITLE = "<script>alert('title')</script> Tee"


async def hostile_order(agent: Agent, stripe: StripeEmulator, engine: AsyncEngine, tmp_path: Path) -> str:
    """An order whose item title, buyer name and address lines carry markup; its page path."""
    feed = tmp_path / "hostile.csv"
    feed.write_text((FEEDS / "openai.csv").read_text().replace("Classic Tee - Red / S", TITLE))
    await run_feed(create_sessionmaker(engine), feed)
    body = {
        "currency": "usd",
        "line_items": [{"id": "tee-red-s", "quantity": 1}],
        "capabilities": {},
        "buyer": {"email": "ada@example.com", "first_name": SCRIPT, "last_name": BREAKOUT},
        "fulfillment_details": {
            "name": SCRIPT,
            "address": {**ADDRESS, "name": BREAKOUT, "line_one": SCRIPT, "line_two": BREAKOUT},
        },
    }
    created = await agent.client.post("/checkout_sessions", headers=agent.key(), json=body)
    assert created.status_code == 201, created.text
    session_id = created.json()["id"]
    choose = {"selected_fulfillment_options": [{"type": "shipping", "option_id": "standard"}]}
    ready = await agent.client.post(f"/checkout_sessions/{session_id}", headers=agent.key(), json=choose)
    assert ready.json()["status"] == "ready_for_payment", ready.text
    token = stripe.create_granted_token(payment_method="pm_card_visa", max_amount=total_of(ready.json()))
    done = await agent.client.post(
        f"/checkout_sessions/{session_id}/complete", headers=agent.key(), json=complete_body(token)
    )
    assert done.json()["status"] == "completed", done.text
    return str(done.json()["order"]["permalink_url"]).removeprefix("http://merchant.test")


async def test_buyer_and_catalog_text_is_escaped(
    agent: Agent, stripe: StripeEmulator, committed: AsyncEngine, tmp_path: Path
) -> None:
    page = await agent.client.get(await hostile_order(agent, stripe, committed, tmp_path))
    assert page.status_code == 200
    assert "&lt;script&gt;alert(&#x27;title&#x27;)&lt;/script&gt; Tee" in page.text  # shown, inert
    for raw in ("<script", "<img", "onerror=alert", SCRIPT, BREAKOUT):
        assert raw not in page.text


@pytest.mark.parametrize("found", [True, False], ids=["order", "unknown-token"])
async def test_the_page_is_sent_with_a_locked_down_policy(
    agent: Agent, stripe: StripeEmulator, committed: AsyncEngine, tmp_path: Path, found: bool
) -> None:
    path = await hostile_order(agent, stripe, committed, tmp_path) if found else "/order-status/nope"
    page = await agent.client.get(path)
    assert page.status_code == (200 if found else 404)
    policy = {
        directive.split(" ", 1)[0]: directive.split(" ", 1)[1]
        for directive in (d.strip() for d in page.headers["Content-Security-Policy"].split(";"))
        if directive
    }
    assert policy["default-src"] == "'none'"  # no script, no frame, no fetch, no image from anywhere
    assert policy["frame-ancestors"] == "'none'"
    assert policy["base-uri"] == "'none'"
    assert policy["form-action"] == "'none'"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
