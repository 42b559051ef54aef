"""Order events to an agent platform's receiver (a real HTTP server on 127.0.0.1), delivered by the
real worker: signed, once per change, in order per order, retried through outages, dead-lettered."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from referencing import Registry, Resource
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from merchant.config import Environment, Settings
from merchant.db import create_sessionmaker
from merchant.db.transaction import transaction
from merchant.identity import service as identity_service
from merchant.identity.roles import Role
from merchant.jobs.app import open_jobs
from merchant.jobs.worker import run_worker
from merchant.kit.clock import utc_now
from merchant.orders import operations
from merchant.orders import service as orders
from merchant.payments.operations import Payments
from merchant.payments.stripe_emulator import StripeEmulator
from merchant.platforms import service as platforms
from merchant.webhooks import service as webhooks
from merchant.webhooks.models import OrderEvent, WebhookAttempt
from merchant.webhooks.receiver import WebhookReceiver
from tests.catalog.acp_schema import ACP, CHECKOUT_SCHEMA_PATH, bundle
from tests.catalog.helpers import FEEDS, run_feed
from tests.checkout.purchase import Agent, scalar
from tests.cli.helpers import background, output_of

pytestmark = pytest.mark.usefixtures("committed")
SECRET = "whsec_test_receiver"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as server:
        yield server


async def platform_agent(
    client: httpx.AsyncClient, engine: AsyncEngine, url: str, version: str = "2026-04-17"
) -> Agent:
    sessions = create_sessionmaker(engine)
    await run_feed(sessions, FEEDS / "openai.csv")
    async with transaction(sessions) as session:
        added = await platforms.add(
            session,
            name="Agent Co",
            webhook_url=url,
            signing_secret=SECRET,
            acp_version=version,
            policy=platforms.WebhookPolicy(require_https=False, allow_private=True),  # on 127.0.0.1
            now=utc_now(),
        )
        key = await identity_service.create_key(
            session, role=Role.agent, name="agent co", platform_id=added.platform.id
        )
    return Agent(client, key.token)


@pytest.fixture
def worker_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"outbound_allow_private": True})  # the receiver is on 127.0.0.1


DUE = text(
    "SELECT count(*) FROM procrastinate_jobs WHERE queue_name = 'webhooks' AND status = 'todo'"
    " AND (scheduled_at IS NULL OR scheduled_at <= now())"
)


async def work(settings: Settings, engine: AsyncEngine) -> None:
    """Run the webhook jobs that are due, as a worker does, until none is left (a worker without
    ``wait`` stops as soon as it finds nothing to fetch, e.g. while an order's lock is held)."""
    for _ in range(20):
        await run_worker(
            settings.database_url or "", settings, concurrency=2, queues=["webhooks"], wait=False
        )
        if not await scalar(engine, DUE):
            return


async def make_due(engine: AsyncEngine) -> None:
    """Jump over the backoff: retries scheduled for later are due now."""
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE procrastinate_jobs SET scheduled_at = now() WHERE status = 'todo'")
        )


def current_validator() -> Any:
    checkout = bundle(CHECKOUT_SCHEMA_PATH)
    registry: Registry[Any] = Registry().with_resource(checkout["$id"], Resource.from_contents(checkout))
    schema = {  # openapi.agentic_checkout_webhook.yaml: WebhookEvent with EventDataOrder = Order + required
        "type": "object",
        "additionalProperties": False,
        "required": ["type", "data"],
        "properties": {
            "type": {"type": "string"},
            "data": {
                "allOf": [{"$ref": f"{checkout['$id']}#/$defs/Order"}],
                "required": ["type", "checkout_session_id", "permalink_url", "status"],
            },
        },
    }
    return Draft202012Validator(schema, registry=registry)


def legacy_validator() -> Any:
    path = ACP / "spec" / "2025-09-29" / "openapi" / "openapi.agentic_checkout_webhook.yaml"
    if not path.exists():
        pytest.skip("the ACP spec is not checked out next to the project")
    document = yaml.safe_load(Path(path).read_text())
    return Draft202012Validator(
        {"$ref": "#/components/schemas/WebhookEvent", "components": document["components"]}
    )


async def events_of_in(session: AsyncSession, order_id: str) -> list[OrderEvent]:
    query = select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.sequence)
    return list(await session.scalars(query))


async def events_of(engine: AsyncEngine, order_id: str) -> list[OrderEvent]:
    async with create_sessionmaker(engine)() as session:
        rows = await session.scalars(
            select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.sequence)
        )
        return list(rows)


async def test_each_change_arrives_once_signed_and_valid(
    app: FastAPI,
    committing_client: httpx.AsyncClient,
    committed: AsyncEngine,
    stripe: StripeEmulator,
    receiver: WebhookReceiver,
    worker_settings: Settings,
) -> None:
    agent = await platform_agent(committing_client, committed, receiver.url)
    order = await agent.buy(stripe)
    payments = Payments(create_sessionmaker(committed), app.state.payment_gateway)
    await operations.fulfil(
        payments, order["id"], operations.Shipment(lines=[("li_0", 1)], carrier="UPS"), now=utc_now()
    )
    await operations.refund(payments, order["id"], 300, reason="goodwill", now=utc_now())
    await work(worker_settings, committed)

    arrived = receiver.wait_for(3)
    assert [(e.type, e.status) for e in arrived] == [
        ("order_create", "confirmed"),
        ("order_update", "processing"),
        ("order_update", "processing"),
    ]
    validator = current_validator()
    for event in arrived:
        assert [error.message for error in validator.iter_errors(event.body)] == []
        assert event.body["data"]["id"] == order["id"]
    assert arrived[-1].body["data"]["adjustments"][0]["amount"] == 300
    assert all(a.signature_valid for a in receiver.attempts)
    stored = await events_of(committed, order["id"])
    assert [(e.sequence, e.status, e.attempts) for e in stored] == [
        (1, "delivered", 1),
        (2, "delivered", 1),
        (3, "delivered", 1),
    ]
    assert [e.event_id for e in arrived] == [e.id for e in stored]


async def test_an_outage_of_many_attempts_then_every_event_once_and_in_order(
    app: FastAPI,
    committing_client: httpx.AsyncClient,
    committed: AsyncEngine,
    stripe: StripeEmulator,
    receiver: WebhookReceiver,
    worker_settings: Settings,
) -> None:
    agent = await platform_agent(committing_client, committed, receiver.url)
    payments = Payments(create_sessionmaker(committed), app.state.payment_gateway)
    first, second = await agent.buy(stripe), await agent.buy(stripe)
    await operations.fulfil(payments, first["id"], operations.Shipment(), now=utc_now())
    await operations.cancel(payments, second["id"], reason="changed mind", now=utc_now())
    receiver.fail_until_resumed(status=503)
    for _ in range(5):  # five rounds of retries against a receiver that is down
        await work(worker_settings, committed)
        await make_due(committed)
    assert receiver.accepted == []
    receiver.drop_next(1)  # and one attempt whose answer never comes back
    receiver.resume()
    for _ in range(4):
        await work(worker_settings, committed)
        await make_due(committed)

    unique = receiver.unique_events()
    per_order = {
        order_id: [(e.type, e.status) for e in unique if e.order_id == order_id]
        for order_id in (first["id"], second["id"])
    }
    assert per_order == {
        first["id"]: [("order_create", "confirmed"), ("order_update", "shipped")],
        second["id"]: [("order_create", "confirmed"), ("order_update", "canceled")],
    }
    assert len(receiver.accepted) == 4  # nothing delivered twice once accepted
    attempts = await scalar(committed, select(func.count()).select_from(WebhookAttempt))
    assert attempts >= 2 * 5 + 4  # every attempt is on record: 5 failed rounds per order, then 4
    errors = await scalar(
        committed, select(func.count()).select_from(WebhookAttempt).where(WebhookAttempt.status_code == 503)
    )
    assert errors >= 2 * 5


async def test_a_refusal_is_dead_and_does_not_block_the_next_event(
    app: FastAPI,
    committing_client: httpx.AsyncClient,
    committed: AsyncEngine,
    stripe: StripeEmulator,
    receiver: WebhookReceiver,
    worker_settings: Settings,
) -> None:
    agent = await platform_agent(committing_client, committed, receiver.url)
    receiver.fail_next(1, status=400)
    order = await agent.buy(stripe)
    payments = Payments(create_sessionmaker(committed), app.state.payment_gateway)
    await operations.fulfil(payments, order["id"], operations.Shipment(), now=utc_now())
    await work(worker_settings, committed)
    stored = await events_of(committed, order["id"])
    assert [(e.type, e.status) for e in stored] == [("order_create", "dead"), ("order_update", "delivered")]
    assert "HTTP 400" in (stored[0].last_error or "")
    assert [(e.type, e.status) for e in receiver.unique_events()] == [("order_update", "shipped")]


async def test_production_never_sends_events_over_http(
    committing_client: httpx.AsyncClient,
    committed: AsyncEngine,
    stripe: StripeEmulator,
    receiver: WebhookReceiver,
    worker_settings: Settings,
) -> None:
    """Before: a platform stored with an http:// webhook URL got its events in clear text in
    production too. Now such an event is dead at once, with the reason, and logged as an error."""
    agent = await platform_agent(committing_client, committed, receiver.url)  # http://127.0.0.1:...
    order = await agent.buy(stripe)
    production = worker_settings.model_copy(update={"env": Environment.production})
    await work(production, committed)
    [event] = await events_of(committed, order["id"])
    assert (event.status, event.attempts) == ("dead", 0)
    assert "https only" in (event.last_error or "")
    assert receiver.unique_events() == []


async def test_retries_stop_after_the_delivery_window(
    committing_client: httpx.AsyncClient,
    committed: AsyncEngine,
    stripe: StripeEmulator,
    receiver: WebhookReceiver,
    worker_settings: Settings,
) -> None:
    agent = await platform_agent(committing_client, committed, receiver.url)
    order = await agent.buy(stripe)
    async with transaction(create_sessionmaker(committed)) as session:
        await session.execute(update(OrderEvent).values(created_at=utc_now() - timedelta(hours=73)))
    receiver.fail_until_resumed(status=500)
    await work(worker_settings, committed)
    [event] = await events_of(committed, order["id"])
    assert (event.status, event.attempts) == ("dead", 1)
    assert "still failing 3 days" in (event.last_error or "")


async def test_a_rolled_back_change_emits_nothing(
    committing_client: httpx.AsyncClient,
    committed: AsyncEngine,
    stripe: StripeEmulator,
    receiver: WebhookReceiver,
) -> None:
    agent = await platform_agent(committing_client, committed, receiver.url)
    order = await agent.buy(stripe)
    sessions = create_sessionmaker(committed)

    async def change_then_fail() -> None:
        async with transaction(sessions) as session:
            view = await orders.load(session, order["id"], lock=True)
            view.order.status = "processing"
            await webhooks.emit_update(session, order["id"], now=utc_now())
            assert len(await events_of_in(session, order["id"])) == 2  # written, in this transaction
            raise RuntimeError("the change fails after its event was written")

    with pytest.raises(RuntimeError, match="the change fails"):
        await change_then_fail()
    stored = await events_of(committed, order["id"])
    assert [e.type for e in stored] == ["order_create"]
    jobs = text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'webhooks.deliver_event'")
    assert await scalar(committed, jobs) == 1


async def test_platforms_on_an_older_version_get_the_legacy_shape(
    app: FastAPI,
    committing_client: httpx.AsyncClient,
    committed: AsyncEngine,
    stripe: StripeEmulator,
    receiver: WebhookReceiver,
    worker_settings: Settings,
) -> None:
    agent = await platform_agent(committing_client, committed, receiver.url, version="2025-09-29")
    order = await agent.buy(stripe)
    payments = Payments(create_sessionmaker(committed), app.state.payment_gateway)
    await operations.fulfil(payments, order["id"], operations.Shipment(), now=utc_now())
    await operations.refund(payments, order["id"], 250, reason="late", now=utc_now())
    await work(worker_settings, committed)
    arrived = receiver.wait_for(3)
    validator = legacy_validator()
    for event in arrived:
        assert [error.message for error in validator.iter_errors(event.body)] == []
    assert [e.body["data"]["status"] for e in arrived] == ["confirmed", "shipped", "shipped"]
    assert arrived[-1].body["data"]["refunds"] == [{"type": "original_payment", "amount": 250}]


@pytest.mark.slow
async def test_a_worker_killed_mid_delivery_leads_to_redelivery(
    committing_client: httpx.AsyncClient,
    committed: AsyncEngine,
    stripe: StripeEmulator,
    receiver: WebhookReceiver,
    worker_settings: Settings,
    subprocess_env: dict[str, str],
) -> None:
    agent = await platform_agent(committing_client, committed, receiver.url)
    receiver.hang_next(1, 30)  # the receiver takes its time with the first delivery...
    order = await agent.buy(stripe)
    env = {**subprocess_env, "MERCHANT_OUTBOUND_ALLOW_PRIVATE": "true"}
    with background("worker", "--queue", "webhooks", env=env) as process:
        for _ in range(300):
            if receiver.attempts:
                break
            await asyncio.sleep(0.05)
        assert receiver.attempts, output_of(process)
        process.kill()  # ...and the worker dies while it waits (SIGKILL: no cleanup at all)
        process.wait()
    [event] = await events_of(committed, order["id"])
    assert event.status == "pending"
    await asyncio.sleep(1.5)
    async with open_jobs(worker_settings.database_url or "", pool_size=1) as jobs:
        stalled = list(await jobs.job_manager.get_stalled_jobs(seconds_since_heartbeat=1))
        assert [job.task_name for job in stalled] == ["webhooks.deliver_event"]
        for job in stalled:  # what the periodic jobs.retry_stalled does once heartbeats stop
            await jobs.job_manager.retry_job(job)
    await work(worker_settings, committed)
    [event] = await events_of(committed, order["id"])
    assert (event.status, event.attempts) == ("delivered", 1)  # the killed attempt left no record
    assert [e.event_id for e in receiver.unique_events()] == [event.id]
