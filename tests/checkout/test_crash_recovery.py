"""A real ``merchant serve`` killed (SIGKILL) at each recovery point of checkout complete.

Points: (a) ``before_charge``, the attempt committed and Stripe not yet called; (b) while the
Stripe call is in flight (the fake Stripe holds it; the server is killed once Stripe has it);
(c) ``after_charge``, Stripe answered and nothing of it committed. Then either (1) the server is
restarted and the agent retries with the same Idempotency-Key, or (2) nobody retries and the
reconcile job settles the payment (and a late retry finds it settled). Every time: one
PaymentIntent at Stripe, one order, the stock held once and handed to that order.

Before: the crash tests ended a complete by raising an exception inside the test process, so
the request's ``finally`` blocks, rollbacks and lease release still ran; no test showed that a
process which simply vanishes (OOM killer, power cut) leaves a lease, a pending key claim and a
``charging`` payment that a restarted server or the reconcile job can finish.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from merchant.checkout import complete as completion
from merchant.config import Settings
from merchant.db import create_sessionmaker
from merchant.db.transaction import transaction
from merchant.identity import service as identity_service
from merchant.identity.roles import Role
from merchant.inventory.models import InventoryHold
from merchant.kit.clock import utc_now
from merchant.merchant_config import load_merchant_config
from merchant.orders.models import Order
from merchant.payments.models import Payment
from merchant.payments.stripe_emulator import JournalEntry, StripeEmulator
from merchant.payments.stripe_gateway import StripeGateway, stripe_client
from tests.catalog.helpers import FEEDS, run_feed
from tests.checkout.purchase import Agent, Json, intents_for, stock, total_of
from tests.cli.helpers import background, free_port, output_of, until, wait_ready

pytestmark = pytest.mark.slow

LEASE_SECONDS = 2  # MERCHANT_COMPLETE_LEASE_SECONDS: a dead server's lease and key claim run out fast
STRIPE_HOLDS = 1.0  # seconds the fake Stripe holds the charge in flight before it runs it
WAIT = 30.0  # the longest any step may take before the test says what it was waiting for
KEY = "pay-1"
POINTS = ("before_charge", "stripe_in_flight", "after_charge")
HOOKED = {"before_charge", "after_charge"}  # killed by merchant.kit.faults; in flight by the test
CHARGE = "/v1/payment_intents"


@pytest.fixture
def fake_stripe() -> Iterator[StripeEmulator]:
    with StripeEmulator() as emulator:
        yield emulator


@dataclass
class Shop:
    engine: AsyncEngine
    stripe: StripeEmulator
    env: dict[str, str]
    token: str  # the agent's API key

    @asynccontextmanager
    async def server(self, crash_at: str | None = None) -> AsyncIterator[tuple[subprocess.Popen[str], Agent]]:
        """``merchant serve`` on a free port (killed at exit if still alive), and an agent on it."""
        port = free_port()
        env = {**self.env, "MERCHANT_TEST_CRASH_AT": crash_at} if crash_at else self.env
        with background("serve", "--port", str(port), env=env, stop=signal.SIGKILL) as process:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base, process)
            async with httpx.AsyncClient(base_url=base, timeout=WAIT) as client:
                yield process, Agent(client, self.token)


@pytest.fixture
async def shop(committed: AsyncEngine, fake_stripe: StripeEmulator, subprocess_env: dict[str, str]) -> Shop:
    sessions = create_sessionmaker(committed)
    await run_feed(sessions, FEEDS / "openai.csv")
    async with transaction(sessions) as session:
        created = await identity_service.create_key(session, role=Role.agent, name="platform")
    env = {
        **subprocess_env,
        "MERCHANT_STRIPE_API_KEY": "sk_test_crash",
        "MERCHANT_STRIPE_API_BASE": fake_stripe.url,
        "MERCHANT_COMPLETE_LEASE_SECONDS": str(LEASE_SECONDS),
    }
    return Shop(committed, fake_stripe, env, created.token)


def charge_requests(stripe: StripeEmulator) -> list[JournalEntry]:
    return [e for e in stripe.journal if (e.method, e.path) == ("POST", CHARGE)]


@dataclass(frozen=True)
class Killed:
    session: Json
    token: str  # what the killed complete paid with: its retry sends the very same request


async def kill_at(shop: Shop, point: str) -> Killed:
    """A ready session whose complete kills the server at ``point``: its request gets no answer."""
    async with shop.server(crash_at=point if point in HOOKED else None) as (process, agent):
        session = await agent.ready_session()
        token = shop.stripe.create_granted_token(max_amount=total_of(session))
        if point == "stripe_in_flight":
            shop.stripe.inject_fault(path_prefix=CHARGE, kind="timeout", delay=STRIPE_HOLDS, method="POST")
        request = asyncio.ensure_future(agent.complete(session["id"], token, key=KEY))

        async def dead() -> int | None:
            if process.poll() is None and point not in HOOKED and charge_requests(shop.stripe):
                process.kill()  # Stripe has the charge and holds it: the server dies meanwhile
            return process.poll()

        try:
            code = await until(f"the server dying at {point}", dead)
            with pytest.raises(httpx.TransportError):
                await request
        finally:
            request.cancel()
        assert code == -signal.SIGKILL, output_of(process)
    # Where it died: the attempt committed ("charging"), Stripe reached or not, nothing finished.
    assert len(charge_requests(shop.stripe)) == (0 if point == "before_charge" else 1)
    assert [p.status for p in await payments_of(shop.engine, session["id"])] == ["charging"]
    assert await orders_of(shop.engine, session["id"]) == []
    return Killed(session, token)


async def payments_of(engine: AsyncEngine, session_id: str) -> list[Payment]:
    async with create_sessionmaker(engine)() as db:
        rows = await db.scalars(select(Payment).where(Payment.checkout_session_id == session_id))
        return list(rows)


async def orders_of(engine: AsyncEngine, session_id: str) -> list[str]:
    async with create_sessionmaker(engine)() as db:
        return list(await db.scalars(select(Order.id).where(Order.checkout_session_id == session_id)))


async def holds_of(engine: AsyncEngine, session_id: str) -> list[tuple[str, str | None, int]]:
    async with create_sessionmaker(engine)() as db:
        rows = await db.execute(
            select(InventoryHold.status, InventoryHold.order_id, func.sum(InventoryHold.quantity))
            .where(InventoryHold.checkout_session_id == session_id)
            .group_by(InventoryHold.status, InventoryHold.order_id)
            .order_by(InventoryHold.status)
        )
        return [(status, order, int(quantity)) for status, order, quantity in rows]


async def retry(agent: Agent, killed: Killed) -> Json:
    """The agent retries the same request, with the same key, on the restarted server until it
    is answered (not 409 in flight, not 503)."""
    session, token = killed.session, killed.token

    async def answered() -> httpx.Response | None:
        response = await agent.complete(session["id"], token, key=KEY)
        return None if response.status_code in (409, 503) else response

    response = await until("an answer to the retried complete", answered)
    replay = await agent.complete(session["id"], token, key=KEY)
    assert (response.status_code, response.json().get("status")) == (200, "completed"), response.text
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json()["order"]["id"] == response.json()["order"]["id"]
    body: Json = response.json()
    return body


async def reconcile(shop: Shop, settings: Settings, point: str) -> str:
    """What ``payments.reconcile_stalled`` does once the payment is STALLED_AFTER old."""
    if point == "stripe_in_flight":  # long before then, Stripe has run the charge it held
        await until("Stripe running the held charge", _charged(shop.stripe))
    gateway = StripeGateway(stripe_client("sk_test_crash", api_base=shop.stripe.url, timeout=10))
    sessions = create_sessionmaker(shop.engine)
    config = load_merchant_config(settings.config)
    lease = timedelta(seconds=LEASE_SECONDS)
    completer = completion.Completer(sessions, gateway, config, "http://merchant.test", lease)
    later = utc_now() + completion.STALLED_AFTER + timedelta(seconds=1)
    async with transaction(sessions) as db:
        [payment_id] = await completion.stalled_payments(db, now=later)

    async def settled() -> str | None:  # the job runs again until the dead server's lease ran out
        outcome = await completion.reconcile(completer, payment_id, now=utc_now())
        return None if outcome == "a complete is running" else outcome

    return await until("the reconcile job taking over the dead server's lease", settled)


def _charged(stripe: StripeEmulator) -> Callable[[], Awaitable[bool | None]]:
    async def check() -> bool | None:
        return True if all(e.status is not None for e in charge_requests(stripe)) else None

    return check


async def assert_one_purchase(shop: Shop, session: Json, done: Json, stock_before: int | None) -> None:
    """One PaymentIntent, one order, the stock taken once and held for that order."""
    intents = intents_for(shop.stripe, session["id"])
    assert [pi["status"] for pi in intents] == ["requires_capture"], intents
    [order_id] = await orders_of(shop.engine, session["id"])
    assert done["order"]["id"] == order_id
    live = [p for p in await payments_of(shop.engine, session["id"]) if p.status != "canceled"]
    assert [(p.status, p.order_id, p.payment_intent_id) for p in live] == [
        ("authorized", order_id, intents[0]["id"])
    ]
    assert await stock(shop.engine) == (stock_before or 0) - 2
    holds = [h for h in await holds_of(shop.engine, session["id"]) if h[0] != "released"]
    assert holds == [("held", order_id, 2)]


@pytest.mark.parametrize("point", POINTS)
async def test_killed_then_the_same_retry_completes_once(shop: Shop, point: str) -> None:
    stock_before = await stock(shop.engine)
    killed = await kill_at(shop, point)

    async with shop.server() as (_, agent):  # restarted
        done = await retry(agent, killed)

    await assert_one_purchase(shop, killed.session, done, stock_before)


@pytest.mark.parametrize("point", POINTS)
async def test_killed_then_left_alone_the_reconcile_job_settles_it(
    shop: Shop, settings: Settings, point: str
) -> None:
    stock_before = await stock(shop.engine)
    killed = await kill_at(shop, point)
    session = killed.session

    async with shop.server() as (_, agent):  # restarted; nobody calls it until the late retry
        outcome = await reconcile(shop, settings, point)

        [payment] = await payments_of(shop.engine, session["id"])
        if point == "before_charge":  # Stripe never saw it: nothing to finish, the stock goes back
            assert (outcome, payment.status) == ("payment canceled", "canceled")
            assert intents_for(shop.stripe, session["id"]) == []
            assert await orders_of(shop.engine, session["id"]) == []
            assert await stock(shop.engine) == stock_before
            assert [h[0] for h in await holds_of(shop.engine, session["id"])] == ["released"]
        else:
            assert (outcome, payment.status) == ("order created", "authorized")
            assert len(await orders_of(shop.engine, session["id"])) == 1
        done = await retry(agent, killed)  # the agent comes back late: the same order, or a first charge
    await assert_one_purchase(shop, session, done, stock_before)
