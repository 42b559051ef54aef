"""Webhook operations through the staff API (``/admin/v1/webhooks``): list and read order events,
retry a dead letter and replay a delivered event, delivered by the real worker to a receiver on
127.0.0.1; the platform and the agent key are made through the admin API too."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from merchant.config import Settings
from merchant.db import create_sessionmaker
from merchant.db.transaction import transaction
from merchant.identity import service as identity_service
from merchant.identity.roles import Role
from merchant.kit.clock import utc_now
from merchant.orders import operations
from merchant.payments.operations import Payments
from merchant.payments.stripe_emulator import StripeEmulator
from merchant.webhooks.receiver import WebhookReceiver
from tests.catalog.helpers import FEEDS, run_feed
from tests.checkout.purchase import Agent
from tests.webhooks.test_delivery import make_due, work

pytestmark = pytest.mark.usefixtures("committed")
SECRET = "whsec_admin_ops_receiver"
EVENTS = "/admin/v1/webhooks/events"
Headers = dict[str, str]
Json = dict[str, Any]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as server:
        yield server


@pytest.fixture
def worker_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"outbound_allow_private": True})  # the receiver is on 127.0.0.1


@pytest.fixture
async def keys(committed: AsyncEngine) -> dict[Role, Headers]:
    headers: dict[Role, Headers] = {}
    async with transaction(create_sessionmaker(committed)) as session:
        for role in Role:
            created = await identity_service.create_key(session, role=role, name=f"{role.value} key")
            headers[role] = {"Authorization": f"Bearer {created.token}"}
    return headers


@pytest.fixture
def operator(keys: dict[Role, Headers]) -> Headers:
    return keys[Role.operator]


@pytest.fixture
def viewer(keys: dict[Role, Headers]) -> Headers:
    return keys[Role.viewer]


@pytest.fixture
async def platform(
    app: FastAPI,
    committing_client: httpx.AsyncClient,
    keys: dict[Role, Headers],
    receiver: WebhookReceiver,
    worker_settings: Settings,
) -> Json:
    settings, app.state.settings = app.state.settings, worker_settings  # the receiver is private
    try:
        response = await committing_client.post(
            "/admin/v1/platforms",
            headers=keys[Role.admin],
            json={"name": "Agent Co", "webhook_url": receiver.url, "signing_secret": SECRET},
        )
    finally:
        app.state.settings = settings
    assert response.status_code == 201, response.text
    created: Json = response.json()
    return created


@pytest.fixture
async def platform_agent(
    committing_client: httpx.AsyncClient, committed: AsyncEngine, keys: dict[Role, Headers], platform: Json
) -> Agent:
    await run_feed(create_sessionmaker(committed), FEEDS / "openai.csv")
    response = await committing_client.post(
        "/admin/v1/keys",
        headers=keys[Role.admin],
        json={"role": "agent", "name": "agent co", "platform": platform["id"]},
    )
    assert response.status_code == 201, response.text
    return Agent(committing_client, response.json()["token"])


async def get(client: httpx.AsyncClient, path: str, headers: Headers, **params: Any) -> Any:
    response = await client.get(path, headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def events(client: httpx.AsyncClient, headers: Headers, **params: Any) -> list[Json]:
    page: list[Json] = (await get(client, EVENTS, headers, **params))["data"]
    return page


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert (response.json()["type"], response.json()["code"]) == ("invalid_request", code)


async def jobs_of(engine: AsyncEngine, event_id: str) -> list[tuple[str, str | None]]:
    query = text(
        "SELECT status::text, lock FROM procrastinate_jobs WHERE args ->> 'event_id' = :event_id ORDER BY id"
    )
    async with engine.connect() as connection:
        return [(row[0], row[1]) for row in await connection.execute(query, {"event_id": event_id})]


async def test_a_dead_letter_is_retried_and_delivered(
    committing_client: httpx.AsyncClient,
    committed: AsyncEngine,
    stripe: StripeEmulator,
    receiver: WebhookReceiver,
    worker_settings: Settings,
    platform_agent: Agent,
    operator: Headers,
    viewer: Headers,
) -> None:
    client = committing_client
    receiver.fail_next(1, status=400)  # a refusal: dead at once, not retried
    order = await platform_agent.buy(stripe)
    await work(worker_settings, committed)
    [dead] = await events(client, viewer, status="dead")
    assert (dead["order_id"], dead["type"], dead["attempt_count"]) == (order["id"], "order_create", 1)
    assert "HTTP 400" in dead["last_error"]
    detail = await get(client, f"{EVENTS}/{dead['id']}", viewer)
    [attempt] = detail["attempts"]
    assert attempt["status_code"] == 400
    assert "simulated_failure" in attempt["response_excerpt"]
    assert attempt["duration_ms"] >= 0
    assert attempt["request_id"].startswith("req_")
    assert detail["payload"]["data"]["id"] == order["id"]
    assert receiver.accepted == []

    assert_error(await client.post(f"{EVENTS}/{dead['id']}/retry", headers=viewer), 403, "forbidden")
    retried = await client.post(f"{EVENTS}/{dead['id']}/retry", headers=operator)
    assert retried.status_code == 202, retried.text
    assert retried.json()["status"] == "pending"
    assert retried.headers["location"] == f"{EVENTS}/{dead['id']}"
    again = await client.post(f"{EVENTS}/{dead['id']}/retry", headers=operator)
    assert_error(again, 409, "webhook_event_not_dead")
    lock = f"order-events:{order['id']}"
    assert await jobs_of(committed, dead["id"]) == [("succeeded", lock), ("todo", lock)]  # one new job

    await work(worker_settings, committed)
    [arrived] = receiver.wait_for(1)
    assert (arrived.event_id, arrived.type) == (dead["id"], "order_create")
    detail = await get(client, f"{EVENTS}/{dead['id']}", viewer)
    assert (detail["status"], detail["attempt_count"], detail["last_error"]) == ("delivered", 2, None)
    assert [a["status_code"] for a in detail["attempts"]] == [400, 200]
    assert_error(
        await client.post(f"{EVENTS}/{dead['id']}/retry", headers=operator), 409, "webhook_event_not_dead"
    )
    trail = await get(client, "/admin/v1/audit", operator, target_id=dead["id"])
    [row] = trail["data"]  # the refused retries left none
    assert (row["action"], row["target"]["type"], row["status_code"]) == (
        "webhook_event.retry",
        "webhook_event",
        202,
    )
    assert (row["before"], row["after"]) == (
        {"status": "dead"},
        {"status": "pending", "order_id": order["id"]},
    )


async def test_a_retry_after_the_delivery_window_gets_a_new_window(
    committing_client: httpx.AsyncClient,
    committed: AsyncEngine,
    stripe: StripeEmulator,
    receiver: WebhookReceiver,
    worker_settings: Settings,
    platform_agent: Agent,
    operator: Headers,
    viewer: Headers,
) -> None:
    client = committing_client
    receiver.fail_until_resumed(status=503)  # a platform down for days
    order = await platform_agent.buy(stripe)
    async with committed.begin() as connection:
        await connection.execute(
            text("UPDATE order_event SET created_at = :at"), {"at": utc_now() - timedelta(hours=80)}
        )
    await work(worker_settings, committed)
    [dead] = await events(client, viewer, status="dead")
    assert (dead["order_id"], dead["attempt_count"]) == (order["id"], 1)
    assert "after the change" in dead["last_error"]

    retried = await client.post(f"{EVENTS}/{dead['id']}/retry", headers=operator)
    assert retried.status_code == 202, retried.text
    await work(worker_settings, committed)  # still down: a transient failure within the new window
    detail = await get(client, f"{EVENTS}/{dead['id']}", viewer)
    assert (detail["status"], detail["attempt_count"]) == ("pending", 2)
    assert detail["last_error"] == "HTTP 503"
    requeued_at = datetime.fromisoformat(detail["requeued_at"])
    assert requeued_at - datetime.fromisoformat(dead["created_at"]) > timedelta(hours=79)

    receiver.resume()
    await make_due(committed)
    await work(worker_settings, committed)
    [arrived] = receiver.wait_for(1)
    assert arrived.event_id == dead["id"]
    detail = await get(client, f"{EVENTS}/{dead['id']}", viewer)
    assert (detail["status"], detail["attempt_count"]) == ("delivered", 3)


async def test_a_delivered_event_is_replayed_with_the_same_id(
    committing_client: httpx.AsyncClient,
    committed: AsyncEngine,
    stripe: StripeEmulator,
    receiver: WebhookReceiver,
    worker_settings: Settings,
    platform_agent: Agent,
    keys: dict[Role, Headers],
) -> None:
    client = committing_client
    order = await platform_agent.buy(stripe)
    await work(worker_settings, committed)
    [event] = await events(client, keys[Role.viewer], order_id=order["id"])
    assert event["status"] == "delivered"

    replayed = await client.post(f"{EVENTS}/{event['id']}/replay", headers=keys[Role.admin])
    assert replayed.status_code == 202, replayed.text
    assert replayed.json()["status"] == "pending"
    queued = await client.post(f"{EVENTS}/{event['id']}/replay", headers=keys[Role.operator])
    assert_error(queued, 409, "webhook_event_pending")  # its job is queued: that one sends it
    await work(worker_settings, committed)

    assert [r.event_id for r in receiver.accepted] == [event["id"], event["id"]]
    assert [r.event_id for r in receiver.unique_events()] == [event["id"]]
    first, second = receiver.accepted
    assert first.body == second.body
    assert first.request_id != second.request_id
    detail = await get(client, f"{EVENTS}/{event['id']}", keys[Role.viewer])
    assert (detail["status"], detail["attempt_count"]) == ("delivered", 2)
    assert [a["status_code"] for a in detail["attempts"]] == [200, 200]
    trail = await get(client, "/admin/v1/audit", keys[Role.admin], target_id=event["id"])
    assert [(r["action"], r["before"], r["actor"]["role"]) for r in trail["data"]] == [
        ("webhook_event.replay", {"status": "delivered"}, "admin")
    ]


async def test_a_pending_event_whose_job_is_gone_is_queued_again(
    committing_client: httpx.AsyncClient,
    committed: AsyncEngine,
    stripe: StripeEmulator,
    receiver: WebhookReceiver,
    worker_settings: Settings,
    platform_agent: Agent,
    operator: Headers,
) -> None:
    order = await platform_agent.buy(stripe)
    [event] = await events(committing_client, operator, order_id=order["id"])
    assert event["status"] == "pending"
    async with committed.begin() as connection:  # the job was lost (cancelled by hand, say)
        await connection.execute(
            text("DELETE FROM procrastinate_jobs WHERE args ->> 'event_id' = :id"), {"id": event["id"]}
        )
    replayed = await committing_client.post(f"{EVENTS}/{event['id']}/replay", headers=operator)
    assert replayed.status_code == 202, replayed.text
    assert await jobs_of(committed, event["id"]) == [("todo", f"order-events:{order['id']}")]
    await work(worker_settings, committed)
    assert [r.event_id for r in receiver.accepted] == [event["id"]]


async def test_events_of_a_removed_platform_are_not_sent_again(
    committing_client: httpx.AsyncClient,
    committed: AsyncEngine,
    stripe: StripeEmulator,
    receiver: WebhookReceiver,
    worker_settings: Settings,
    platform_agent: Agent,
    platform: Json,
    keys: dict[Role, Headers],
) -> None:
    client = committing_client
    receiver.fail_next(1, status=410)
    await platform_agent.buy(stripe)
    await work(worker_settings, committed)
    [dead] = await events(client, keys[Role.viewer], status="dead")
    removed = await client.post(f"/admin/v1/platforms/{platform['id']}/remove", headers=keys[Role.admin])
    assert removed.status_code == 200, removed.text
    for action in ("retry", "replay"):
        response = await client.post(f"{EVENTS}/{dead['id']}/{action}", headers=keys[Role.operator])
        assert_error(response, 409, "platform_takes_no_events")
    assert (await get(client, f"{EVENTS}/{dead['id']}", keys[Role.viewer]))["status"] == "dead"
    assert await jobs_of(committed, dead["id"]) == [("succeeded", f"order-events:{dead['order_id']}")]


async def test_events_are_listed_newest_first_by_order_platform_and_status(
    app: FastAPI,
    committing_client: httpx.AsyncClient,
    committed: AsyncEngine,
    stripe: StripeEmulator,
    receiver: WebhookReceiver,
    worker_settings: Settings,
    platform_agent: Agent,
    platform: Json,
    viewer: Headers,
) -> None:
    client = committing_client
    receiver.fail_next(1, status=400)
    first = await platform_agent.buy(stripe)
    await work(worker_settings, committed)  # first's order_create: dead
    second = await platform_agent.buy(stripe)
    payments = Payments(create_sessionmaker(committed), app.state.payment_gateway)
    await operations.fulfil(payments, first["id"], operations.Shipment(), now=utc_now())
    await work(worker_settings, committed)

    every = await events(client, viewer)
    assert [(e["order_id"], e["type"], e["status"]) for e in every] == [
        (first["id"], "order_update", "delivered"),
        (second["id"], "order_create", "delivered"),
        (first["id"], "order_create", "dead"),
    ]
    ids = [e["id"] for e in every]
    of_first = await events(client, viewer, order_id=first["id"])
    assert [(e["id"], e["sequence"]) for e in of_first] == [(ids[0], 2), (ids[2], 1)]
    assert [e["id"] for e in await events(client, viewer, status="dead")] == [ids[2]]
    assert [e["id"] for e in await events(client, viewer, status="delivered")] == ids[:2]
    assert [e["id"] for e in await events(client, viewer, platform_id=platform["id"])] == ids
    assert await events(client, viewer, platform_id="plat_0000000000000000") == []
    assert [e["id"] for e in await events(client, viewer, order_id=first["id"], status="delivered")] == [
        ids[0]
    ]
    assert all(e["platform_id"] == platform["id"] and e["acp_version"] == "2026-04-17" for e in every)

    pages: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2} if cursor is None else {"limit": 2, "starting_after": cursor}
        page = await get(client, EVENTS, viewer, **params)
        pages += [e["id"] for e in page["data"]]
        cursor = page["next_cursor"]
        assert page["has_more"] is (cursor is not None)
        if cursor is None:
            break
    assert pages == ids

    bad_status = await client.get(EVENTS, headers=viewer, params={"status": "lost"})
    assert_error(bad_status, 400, "invalid_value")
    assert bad_status.json()["param"] == "$.query.status"
    bad_cursor = await client.get(EVENTS, headers=viewer, params={"starting_after": "evt_nope"})
    assert_error(bad_cursor, 400, "invalid_value")
    assert bad_cursor.json()["param"] == "$.query.starting_after"


READS = [("GET", EVENTS), ("GET", f"{EVENTS}/evt_000000000000000000000000")]
ACTIONS = [
    ("POST", f"{EVENTS}/evt_000000000000000000000000/retry"),
    ("POST", f"{EVENTS}/evt_000000000000000000000000/replay"),
]


@pytest.mark.parametrize(("method", "path"), READS + ACTIONS)
async def test_staff_read_and_operators_act(
    committing_client: httpx.AsyncClient, keys: dict[Role, Headers], method: str, path: str
) -> None:
    allowed = (
        {Role.viewer, Role.operator, Role.admin} if (method, path) in READS else {Role.operator, Role.admin}
    )
    for role in Role:
        response = await committing_client.request(method, path, headers=keys[role])
        if role in allowed:
            assert response.status_code in {200, 404}, (role, response.text)  # past the role check
            if response.status_code == 404:
                assert response.json()["code"] == "webhook_event_not_found"
        else:
            assert_error(response, 403, "forbidden")
    assert_error(await committing_client.request(method, path), 401, "missing_api_key")
