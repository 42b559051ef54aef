"""POST /checkout_sessions/{id}/complete through the real app, real PostgreSQL and the Stripe emulator
(a real HTTP server on 127.0.0.1 driven by the real stripe library).

What must hold whatever happens: one charge and one order per session at most, never an order
without a successful charge, never a charge without its order once the request is retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from merchant.checkout import complete as completion
from merchant.db import create_sessionmaker
from merchant.db.transaction import transaction
from merchant.fraud.models import FraudAssessment
from merchant.inventory.models import InventoryHold
from merchant.kit.clock import utc_now
from merchant.orders.models import Order
from merchant.payments.gateway import ChargeRequest, ChargeResult, PaymentGateway
from merchant.payments.models import Payment
from merchant.payments.stripe_emulator import StripeEmulator
from tests.catalog.acp_schema import CHECKOUT_SCHEMA_PATH, schema_problems
from tests.checkout.purchase import Agent, Json, complete_body, intents_for, scalar, stock, total_of

pytestmark = pytest.mark.usefixtures("committed")


def assert_completed(response: httpx.Response) -> Json:
    assert response.status_code == 200, response.text
    body: Json = response.json()
    assert schema_problems(body, "CheckoutSessionWithOrder", CHECKOUT_SCHEMA_PATH) == []
    assert body["status"] == "completed"
    return body


def assert_payable(response: httpx.Response, code: str) -> Json:
    assert response.status_code == 200, response.text
    body: Json = response.json()
    assert schema_problems(body, "CheckoutSession", CHECKOUT_SCHEMA_PATH) == []
    assert body["status"] == "ready_for_payment"
    assert "order" not in body
    assert [m["code"] for m in body["messages"] if m["type"] == "error"] == [code]
    return body


async def test_a_purchase_charges_once_and_creates_the_order(
    agent: Agent, stripe: StripeEmulator, committed: AsyncEngine
) -> None:
    session = await agent.ready_session()
    before = await stock(committed)
    token = stripe.create_granted_token(max_amount=total_of(session))
    done = assert_completed(await agent.complete(session["id"], token, key="pay-1"))

    order = done["order"]
    assert (order["checkout_session_id"], order["status"]) == (session["id"], "confirmed")
    assert [(li["id"], li["quantity"]) for li in order["line_items"]] == [
        ("li_0", {"ordered": 2, "current": 2, "fulfilled": 0})
    ]
    assert {t["type"]: t["amount"] for t in order["totals"]}["total"] == total_of(session)
    [intent] = intents_for(stripe, session["id"])
    assert (intent["amount"], intent["currency"], intent["capture_method"], intent["status"]) == (
        total_of(session),
        "usd",
        "manual",  # physical goods: captured at fulfilment
        "requires_capture",
    )
    charge_calls = [
        e
        for e in stripe.journal
        if (e.method, e.path) == ("POST", "/v1/payment_intents")
        and e.params["metadata"]["acp_checkout_session_id"] == session["id"]
    ]
    assert [e.idempotency_key for e in charge_calls] == [f"acp-pay-{intent['metadata']['acp_attempt_id']}"]
    assert all(e.stripe_version and e.stripe_version.endswith(".preview") for e in charge_calls)
    assert await stock(committed) == (before or 0) - 2  # held for the order until capture

    replay = await agent.complete(session["id"], token, key="pay-1")
    assert (replay.headers["Idempotent-Replayed"], replay.json()) == ("true", done)
    again = assert_completed(await agent.complete(session["id"], token))  # another key: same order
    assert again["order"]["id"] == order["id"]
    assert len(intents_for(stripe, session["id"])) == 1
    got = await agent.client.get(f"/checkout_sessions/{session['id']}", headers=agent.key())
    assert assert_completed(got)["order"] == order  # a GET of the completed session shows its order
    page = await agent.client.get(order["permalink_url"].removeprefix("http://merchant.test"))
    assert page.status_code == 200
    assert f"order {order['order_number']}" in page.text


async def test_a_decline_keeps_the_session_payable(
    agent: Agent, stripe: StripeEmulator, committed: AsyncEngine
) -> None:
    session = await agent.ready_session()
    before = await stock(committed)
    poor = stripe.create_granted_token(payment_method="pm_card_chargeDeclinedInsufficientFunds")
    declined = assert_payable(await agent.complete(session["id"], poor), "payment_declined")
    got = await agent.client.get(f"/checkout_sessions/{session['id']}", headers=agent.key())
    assert (got.status_code, "order" in got.json()) == (200, False)
    message = next(m for m in declined["messages"] if m["code"] == "payment_declined")
    assert (message["param"], message["content"]) == (
        "$.payment_data",
        "Your card has insufficient funds. Try another payment method.",
    )
    assert await stock(committed) == before  # the hold was released
    stolen = stripe.create_granted_token(payment_method="pm_card_chargeDeclinedFraudulent")
    declined = assert_payable(await agent.complete(session["id"], stolen), "payment_declined")
    assert "fraud" not in str(declined["messages"]).lower()  # the reason is never revealed

    good = stripe.create_granted_token()
    done = assert_completed(await agent.complete(session["id"], good))
    assert done["order"]["status"] == "confirmed"
    assert await scalar(committed, select(func.count()).select_from(Order)) == 1


async def test_authentication_required_is_not_completed(agent: Agent, stripe: StripeEmulator) -> None:
    session = await agent.ready_session()
    token = stripe.create_granted_token(payment_method="pm_card_authenticationRequired")
    body = assert_payable(await agent.complete(session["id"], token), "requires_3ds")
    assert (
        next(m for m in body["messages"] if m["code"] == "requires_3ds")["param"] == "$.authentication_result"
    )


THREE_DS_DETAILS = {
    "three_ds_cryptogram": "ABCDEFGHIJKLMNOPQRSTUVWX==",
    "electronic_commerce_indicator": "05",
    "transaction_id": "dsTransId_12345",
    "version": "2.2.0",
}


@pytest.mark.parametrize(
    ("result", "code"),
    [
        ({"outcome": "denied"}, "payment_declined"),
        ({"outcome": "rejected", "outcome_details": THREE_DS_DETAILS}, "payment_declined"),
        ({"outcome": "abandoned"}, "requires_3ds"),
        ({"outcome": "internal_error"}, "requires_3ds"),
    ],
)
async def test_a_failed_3ds_result_is_refused_without_charging(
    agent: Agent, stripe: StripeEmulator, committed: AsyncEngine, result: Json, code: str
) -> None:
    """Before: the agent's ``authentication_result`` was ignored, a failed 3-D Secure charged."""
    session = await agent.ready_session()
    token = stripe.create_granted_token(max_amount=total_of(session))
    body = {**complete_body(token), "authentication_result": result}
    path = f"/checkout_sessions/{session['id']}/complete"
    refused = await agent.client.post(path, headers=agent.key(), json=body)
    assert refused.status_code == 400, refused.text
    assert refused.json()["type"] == "invalid_request"
    assert (refused.json()["code"], refused.json()["param"]) == (code, "$.authentication_result.outcome")
    assert "nothing was charged" in refused.json()["message"]
    assert intents_for(stripe, session["id"]) == []
    assert await scalar(committed, select(func.count()).select_from(Order)) == 0
    got = await agent.client.get(f"/checkout_sessions/{session['id']}", headers=agent.headers)
    assert got.json()["status"] == "ready_for_payment"

    authenticated = {**complete_body(token), "authentication_result": {"outcome": "authenticated"}}
    no_details = await agent.client.post(path, headers=agent.key(), json=authenticated)
    assert (no_details.status_code, no_details.json()["param"]) == (400, "$.authentication_result")
    authenticated["authentication_result"]["outcome_details"] = THREE_DS_DETAILS
    assert_completed(await agent.client.post(path, headers=agent.key(), json=authenticated))


async def test_unusable_tokens_are_refused_before_charging(agent: Agent, stripe: StripeEmulator) -> None:
    session = await agent.ready_session()
    too_small = stripe.create_granted_token(max_amount=total_of(session) - 1)
    assert_payable(await agent.complete(session["id"], too_small), "payment_declined")
    euros = stripe.create_granted_token(currency="eur")
    assert_payable(await agent.complete(session["id"], euros), "payment_declined")
    revoked = stripe.create_granted_token()
    stripe.revoke_granted_token(revoked)
    assert_payable(await agent.complete(session["id"], revoked), "payment_declined")
    assert intents_for(stripe, session["id"]) == []


async def test_requests_that_cannot_pay_get_errors_with_params(agent: Agent, stripe: StripeEmulator) -> None:
    created = await agent.client.post(
        "/checkout_sessions",
        headers=agent.key(),
        json={"currency": "usd", "line_items": [{"id": "mug"}], "capabilities": {}},
    )
    token = stripe.create_granted_token()
    not_ready = await agent.complete(created.json()["id"], token)
    assert (not_ready.status_code, not_ready.json()["code"], not_ready.json()["param"]) == (
        400,
        "checkout_session_not_ready",
        "$.fulfillment_details.address",
    )
    session = await agent.ready_session()
    wrong = await agent.complete(session["id"], token, handler="paypal")
    assert (wrong.status_code, wrong.json()["code"], wrong.json()["param"]) == (
        400,
        "invalid_payment_handler",
        "$.payment_data.handler_id",
    )
    shapeless = await agent.client.post(
        f"/checkout_sessions/{session['id']}/complete",
        headers=agent.key(),
        json={"payment_data": {"handler_id": "card_tokenized"}},
    )
    assert (shapeless.status_code, shapeless.json()["param"]) == (400, "$.payment_data")
    missing = await agent.complete("cs_nope", token)
    assert missing.status_code == 404
    assert intents_for(stripe, session["id"]) == []
    canceled = await agent.client.post(f"/checkout_sessions/{session['id']}/cancel", headers=agent.key())
    assert canceled.status_code == 200
    closed = await agent.complete(session["id"], token)
    assert (closed.status_code, closed.json()["code"]) == (409, "checkout_session_not_open")


async def test_stripe_down_is_a_503_and_the_retry_charges_once(
    agent: Agent, stripe: StripeEmulator, committed: AsyncEngine
) -> None:
    session = await agent.ready_session()
    token = stripe.create_granted_token()
    stripe.inject_fault(path_prefix="/v1/payment_intents", kind="500", times=10)
    down = await agent.complete(session["id"], token, key="pay-down")
    assert (down.status_code, down.json()["type"]) == (503, "service_unavailable")
    assert int(down.headers["Retry-After"]) >= 1
    charging = await scalar(
        committed, select(Payment.status).where(Payment.checkout_session_id == session["id"])
    )
    assert charging == "charging"  # the outcome is unknown: kept for the retry
    stripe.clear_faults()
    done = assert_completed(await agent.complete(session["id"], token, key="pay-down"))  # 5xx not saved
    assert len(intents_for(stripe, session["id"])) == 1
    assert done["order"]["checkout_session_id"] == session["id"]


class Crash(Exception):
    """Stands for the process dying: nothing after it runs, the open transaction is lost."""


class CrashingGateway:
    """The real gateway, dying once before or after the charge reaches Stripe."""

    def __init__(self, inner: PaymentGateway, when: str) -> None:
        self.inner, self.when = inner, when

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        when, self.when = self.when, "never"
        if when == "before_charge":
            raise Crash
        result = await self.inner.charge(request)
        if when == "after_charge":
            raise Crash
        return result


@pytest.fixture
def crash(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    real_gateway = app.state.payment_gateway

    def arm(when: str) -> None:
        if when == "after_order":
            real = completion._finish

            async def finish_then_die(*args: Any, **kwargs: Any) -> Any:
                await real(*args, **kwargs)
                monkeypatch.setattr(completion, "_finish", real)
                raise Crash

            monkeypatch.setattr(completion, "_finish", finish_then_die)
        else:
            app.state.payment_gateway = CrashingGateway(real_gateway, when)

    yield arm
    app.state.payment_gateway = real_gateway


@pytest.mark.parametrize("when", ["before_charge", "after_charge", "after_order"])
async def test_a_crash_between_any_two_steps_then_the_same_retry_charges_once(
    agent: Agent, stripe: StripeEmulator, committed: AsyncEngine, crash: Callable[[str], None], when: str
) -> None:
    session = await agent.ready_session()
    token = stripe.create_granted_token()
    crash(when)
    died = await agent.complete(session["id"], token, key="pay-crash")
    assert died.status_code == 500
    orders = select(func.count()).select_from(Order).where(Order.checkout_session_id == session["id"])
    assert await scalar(committed, orders) == 0  # whatever died, no order without its commit
    done = assert_completed(await agent.complete(session["id"], token, key="pay-crash"))
    assert len(intents_for(stripe, session["id"])) == 1
    assert await scalar(committed, orders) == 1
    statuses = select(Payment.status).where(Payment.checkout_session_id == session["id"])
    assert await scalar(committed, statuses) == "authorized"
    assert done["order"]["id"]


async def test_no_cancel_or_cart_change_while_the_charge_is_in_flight(
    agent: Agent, stripe: StripeEmulator, committed: AsyncEngine, crash: Callable[[str], None]
) -> None:
    """A charge whose outcome is unknown (the process died after Stripe took it) decides the
    session: a cancel or an update meanwhile is refused, so no order is made from a cart that
    was not paid for, and no paid session ends canceled."""
    session = await agent.ready_session()
    token = stripe.create_granted_token()
    crash("after_charge")
    assert (await agent.complete(session["id"], token, key="pay-1")).status_code == 500
    path = f"/checkout_sessions/{session['id']}"

    canceled = await agent.client.post(f"{path}/cancel", headers=agent.key(), json={})
    changed = await agent.client.post(
        path, headers=agent.key(), json={"line_items": [{"id": "tee-red-s", "quantity": 9}]}
    )
    for refused in (canceled, changed):
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "checkout_session_in_progress"
        assert refused.headers["Retry-After"] == "2"

    done = assert_completed(await agent.complete(session["id"], token, key="pay-1"))
    assert [li["quantity"]["ordered"] for li in done["order"]["line_items"]] == [2]  # what was paid
    assert len(intents_for(stripe, session["id"])) == 1
    late = await agent.client.post(f"{path}/cancel", headers=agent.key(), json={})
    assert late.status_code == 405


async def test_the_order_is_made_at_the_prices_charged(
    agent: Agent, stripe: StripeEmulator, committed: AsyncEngine, crash: Callable[[str], None]
) -> None:
    """A feed reprices the variant while the charge's outcome is unknown: the retry makes the order
    at the charged prices, and the completed session keeps showing them."""
    session = await agent.ready_session()
    token = stripe.create_granted_token()
    crash("after_charge")
    assert (await agent.complete(session["id"], token, key="pay-1")).status_code == 500
    async with committed.begin() as connection:
        await connection.execute(
            text("UPDATE catalog_variant SET price_amount = price_amount * 3, sale_price_amount = NULL")
        )

    done = assert_completed(await agent.complete(session["id"], token, key="pay-1"))
    [intent] = intents_for(stripe, session["id"])
    order_total = {t["type"]: t["amount"] for t in done["order"]["totals"]}["total"]
    assert order_total == intent["amount"] == total_of(session)
    assert {t["type"]: t["amount"] for t in done["totals"]}["total"] == total_of(session)
    assert [m for m in done["messages"] if m["type"] == "error"] == []
    got = await agent.client.get(f"/checkout_sessions/{session['id']}", headers=agent.key())
    assert {t["type"]: t["amount"] for t in got.json()["totals"]}["total"] == total_of(session)


async def test_parallel_completes_of_one_session_make_one_charge(
    agent: Agent, stripe: StripeEmulator, committed: AsyncEngine
) -> None:
    session = await agent.ready_session()
    token = stripe.create_granted_token()
    responses = await asyncio.gather(*(agent.complete(session["id"], token) for _ in range(8)))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 409}, [r.text for r in responses]
    orders = {r.json()["order"]["id"] for r in responses if r.status_code == 200}
    assert len(orders) == 1
    assert len(intents_for(stripe, session["id"])) == 1


async def test_no_oversell_when_completes_race_for_the_last_units(
    agent: Agent, stripe: StripeEmulator, committed: AsyncEngine
) -> None:
    async with create_sessionmaker(committed)() as db:
        await db.execute(text("UPDATE catalog_variant SET inventory_quantity = 3 WHERE id = 'tee-red-s'"))
        await db.commit()
    sessions = [await agent.ready_session([{"id": "tee-red-s", "quantity": 1}]) for _ in range(6)]
    tokens = [stripe.create_granted_token() for _ in sessions]
    responses = await asyncio.gather(
        *(agent.complete(s["id"], t) for s, t in zip(sessions, tokens, strict=True))
    )
    completed = [r for r in responses if r.status_code == 200 and r.json()["status"] == "completed"]
    refused = [r for r in responses if r not in completed]
    assert (len(completed), len(refused)) == (3, 3), [r.text for r in responses]
    for response in refused:  # sold out before (400) or while (200, still payable) it was paid
        body = response.json()
        if response.status_code == 400:
            assert (body["code"], body["param"]) == ("checkout_session_not_ready", "$.line_items[0].quantity")
        else:
            assert "out_of_stock" in [m["code"] for m in body["messages"]]
    assert await stock(committed) == 0
    held = select(func.sum(InventoryHold.quantity)).where(InventoryHold.status == "held")
    assert await scalar(committed, held) == 3
    intents = [pi for s in sessions for pi in intents_for(stripe, s["id"])]
    assert sorted(pi["status"] for pi in intents) == ["requires_capture"] * 3


@pytest.mark.parametrize(
    ("when", "outcome"), [("after_charge", "order created"), ("before_charge", "payment canceled")]
)
async def test_payments_whose_request_never_came_back_are_settled(
    app: FastAPI,
    agent: Agent,
    stripe: StripeEmulator,
    committed: AsyncEngine,
    crash: Callable[[str], None],
    when: str,
    outcome: str,
) -> None:
    session = await agent.ready_session()
    before = await stock(committed)
    crash(when)
    assert (await agent.complete(session["id"], stripe.create_granted_token())).status_code == 500
    sessions = create_sessionmaker(committed)
    completer = completion.Completer(
        sessions, app.state.payment_gateway, app.state.merchant_config, "http://merchant.test"
    )
    async with transaction(sessions) as db:
        assert await completion.stalled_payments(db, now=utc_now()) == []  # not yet: it may come back
        later = utc_now() + completion.STALLED_AFTER + timedelta(seconds=1)
        [payment_id] = await completion.stalled_payments(db, now=later)
    assert await completion.reconcile(completer, payment_id, now=later) == outcome
    assert await completion.reconcile(completer, payment_id, now=later) == "already settled"

    again = await agent.complete(session["id"], stripe.create_granted_token())
    done = assert_completed(again)  # either the settled order, or a fresh payment
    assert len([pi for pi in intents_for(stripe, session["id"]) if pi["status"] != "canceled"]) == 1
    if when == "after_charge":
        assert done["order"]["id"] == (await scalar(committed, select(Order.id)))
    else:
        assert await stock(committed) == (before or 0) - 2  # released once, held again by the new payment


async def test_fraud_review_holds_the_order_and_block_charges_nothing(
    agent: Agent, stripe: StripeEmulator, committed: AsyncEngine
) -> None:
    risky = await agent.buy(stripe, "pm_card_riskLevelElevated")  # Radar: elevated risk, manual review
    assert risky["status"] == "manual_review"
    payment = await scalar(committed, select(Payment).where(Payment.order_id == risky["id"]))
    assert (payment.status, payment.capture_method) == ("authorized", "manual")  # authorization only

    session = await agent.ready_session()
    flagged = {"card_testing": {"score": 97, "recommended_action": "block"}}
    token = stripe.create_granted_token(risk_details={"insights": flagged})
    blocked = assert_payable(await agent.complete(session["id"], token), "payment_declined")
    assert "fraud" not in str(blocked["messages"]).lower()
    assert intents_for(stripe, session["id"]) == []
    decisions = select(FraudAssessment.decision).where(FraudAssessment.checkout_session_id == session["id"])
    assert await scalar(committed, decisions) == "block"
