"""The audit trail on the real app and real PostgreSQL: what each call writes, what the database
refuses, and ``GET /admin/v1/audit``."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from merchant.audit import service as audit
from merchant.audit.models import AuditEvent
from merchant.audit.service import PREVIOUS_AFTER, AuditContext
from merchant.identity import service as identity_service
from merchant.identity.roles import Role
from merchant.identity.service import Principal
from merchant.kit.clock import utc_now
from merchant.payments.stripe_emulator import StripeEmulator
from tests.catalog.helpers import FEEDS, run_feed
from tests.checkout.purchase import Agent, scalar, total_of
from tests.checkout.test_service import ADDRESS

Headers = dict[str, str]
Json = dict[str, Any]
VERSION = {"API-Version": "2026-04-17"}
CART = {"currency": "usd", "line_items": [{"id": "mug", "quantity": 2}], "capabilities": {}}
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Key:
    id: str
    headers: Headers


async def new_key(session: AsyncSession, role: Role, name: str | None = None) -> Key:
    created = await identity_service.create_key(session, role=role, name=name or f"{role.value} key")
    await session.commit()
    return Key(created.key.id, {"Authorization": f"Bearer {created.token}"})


@pytest.fixture
async def platform(session: AsyncSession, sessions: async_sessionmaker[AsyncSession]) -> Key:
    """An agent key, with the catalog it buys from."""
    await run_feed(sessions, FEEDS / "openai.csv")
    key = await new_key(session, Role.agent, "platform")
    return Key(key.id, {**key.headers, **VERSION})


async def events(session: AsyncSession) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id).execution_options(populate_existing=True)
    return list((await session.scalars(query)).all())


def keyed(headers: Headers, key: str, request_id: str | None = None) -> Headers:
    extra = {"Request-Id": request_id} if request_id else {}
    return {**headers, "Idempotency-Key": key, **extra}


# ACP calls


async def test_every_acp_call_writes_one_row(
    client: httpx.AsyncClient, platform: Key, session: AsyncSession
) -> None:
    created = await client.post(
        "/checkout_sessions", headers=keyed(platform.headers, "k-1", "req-1"), json=CART
    )
    assert created.status_code == 201, created.text
    path = f"/checkout_sessions/{created.json()['id']}"
    details = {"fulfillment_details": {"name": "Ada", "address": ADDRESS}}
    responses = [
        created,
        await client.post(path, headers=keyed(platform.headers, "k-2"), json=details),
        await client.get(path, headers=platform.headers),
        await client.post(f"{path}/cancel", headers=keyed(platform.headers, "k-3")),
    ]
    assert [r.status_code for r in responses] == [201, 200, 200, 200]

    rows = await events(session)
    assert [r.action for r in rows] == [
        "checkout.create",
        "checkout.update",
        "checkout.get",
        "checkout.cancel",
    ]
    assert {(r.actor_key_id, r.actor_role, r.target_type, r.target_id) for r in rows} == {
        (platform.id, "agent", "checkout_session", created.json()["id"])
    }
    assert [r.idempotency_key for r in rows] == ["k-1", "k-2", None, "k-3"]
    assert [r.request_id for r in rows] == [r.headers["request-id"] for r in responses]
    assert rows[0].request_id == "req-1"
    assert [r.status_code for r in rows] == [201, 200, 200, 200]
    assert {r.signature_verdict for r in rows} == {"not_checked"}


async def test_summaries_chain_before_to_the_previous_after(
    client: httpx.AsyncClient, platform: Key, session: AsyncSession
) -> None:
    created = await client.post("/checkout_sessions", headers=keyed(platform.headers, "k-1"), json=CART)
    path = f"/checkout_sessions/{created.json()['id']}"
    ship = {
        "fulfillment_details": {"name": "Ada", "address": ADDRESS},
        "selected_fulfillment_options": [{"type": "shipping", "option_id": "express", "item_ids": []}],
    }
    await client.post(path, headers=keyed(platform.headers, "k-2"), json=ship)
    await client.post(f"{path}/cancel", headers=keyed(platform.headers, "k-3"))

    create, change, cancel = await events(session)
    assert create.before is None
    assert create.after == {"status": "not_ready_for_payment", "total": 2400, "currency": "USD"}
    assert change.before == create.after
    assert change.after == {"status": "ready_for_payment", "total": 2400 + 1500, "currency": "USD"}
    assert cancel.before == change.after
    assert cancel.after == {"status": "canceled", "total": 2400 + 1500, "currency": "USD"}


async def test_a_replay_is_not_recorded_again(
    client: httpx.AsyncClient, platform: Key, session: AsyncSession
) -> None:
    first = await client.post("/checkout_sessions", headers=keyed(platform.headers, "k-1"), json=CART)
    again = await client.post("/checkout_sessions", headers=keyed(platform.headers, "k-1"), json=CART)
    assert (first.status_code, again.status_code, again.headers["Idempotent-Replayed"]) == (201, 201, "true")
    assert [r.action for r in await events(session)] == ["checkout.create"]


async def test_refused_calls_write_no_row(
    client: httpx.AsyncClient, platform: Key, session: AsyncSession
) -> None:
    created = await client.post("/checkout_sessions", headers=keyed(platform.headers, "k-1"), json=CART)
    path = f"/checkout_sessions/{created.json()['id']}"
    await client.post(f"{path}/cancel", headers=keyed(platform.headers, "k-2"))
    refused = [
        await client.post("/checkout_sessions", headers=platform.headers, json=CART),  # no key
        await client.post(
            "/checkout_sessions", headers=keyed(platform.headers, "k-3"), json={**CART, "currency": 1}
        ),
        await client.get("/checkout_sessions/cs_missing", headers=platform.headers),
        await client.post(f"{path}/cancel", headers=keyed(platform.headers, "k-4")),  # already canceled
        await client.post(path, headers=keyed(platform.headers, "k-5"), json={"line_items": []}),  # not open
    ]
    assert [r.status_code for r in refused] == [400, 400, 404, 405, 400]
    assert [r.action for r in await events(session)] == ["checkout.create", "checkout.cancel"]


async def test_the_signature_verdict_is_recorded(
    client: httpx.AsyncClient, platform: Key, session: AsyncSession
) -> None:
    await identity_service.configure_signing(session, platform.id, policy=None, secret="shared")
    await session.commit()
    body = b'{"currency": "usd", "line_items": [{"id": "mug"}]}'
    stamp = utc_now().isoformat()
    signed_content = (
        f"merchant-sig-v2\n{stamp}\nPOST\n/checkout_sessions\nk-1\n{hashlib.sha256(body).hexdigest()}"
    )
    digest = hmac.new(b"shared", signed_content.encode(), hashlib.sha256).digest()
    signed = {"Signature": base64.urlsafe_b64encode(digest).rstrip(b"=").decode(), "Timestamp": stamp}
    as_json = {"Content-Type": "application/json"}
    for key, extra in (("k-1", signed), ("k-2", {})):
        response = await client.post(
            "/checkout_sessions", headers={**keyed(platform.headers, key), **as_json, **extra}, content=body
        )
        assert response.status_code == 201, response.text
    assert [r.signature_verdict for r in await events(session)] == ["verified", "unsigned"]


@pytest.mark.usefixtures("committed")
async def test_complete_records_the_order(
    agent: Agent, stripe: StripeEmulator, committed: AsyncEngine
) -> None:
    ready = await agent.ready_session()
    token = stripe.create_granted_token(max_amount=total_of(ready))
    response = await agent.complete(ready["id"], token, key="pay-1")
    assert response.status_code == 200, response.text
    order_id = response.json()["order"]["id"]

    last = await scalar(committed, select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))
    assert (last.action, last.target_id, last.idempotency_key) == ("checkout.complete", ready["id"], "pay-1")
    assert last.before == {"status": "ready_for_payment", "total": total_of(ready), "currency": "USD"}
    assert last.after == {
        "status": "completed",
        "total": total_of(ready),
        "currency": "USD",
        "order_id": order_id,
    }
    assert (
        await scalar(committed, select(func.count()).select_from(AuditEvent)) == 3
    )  # create, update, complete


# Staff changes


@pytest.fixture
async def operator(session: AsyncSession, sessions: async_sessionmaker[AsyncSession]) -> Key:
    await run_feed(sessions, FEEDS / "openai.csv")
    return await new_key(session, Role.operator)


async def test_an_inventory_change_records_before_and_after(
    client: httpx.AsyncClient, operator: Key, session: AsyncSession
) -> None:
    path = "/admin/v1/products/mug/inventory"
    response = await client.patch(path, headers=operator.headers, json={"inventory_quantity": 7})
    assert response.status_code == 200, response.text
    missing = await client.patch(
        "/admin/v1/products/nope/inventory", headers=operator.headers, json={"inventory_quantity": 1}
    )
    assert missing.status_code == 404

    [row] = await events(session)
    assert (row.action, row.target_type, row.target_id) == ("variant.inventory_update", "variant", "mug")
    assert (row.actor_key_id, row.actor_role, row.status_code) == (operator.id, "operator", 200)
    assert row.before == {"inventory_quantity": None, "availability": "in_stock"}
    assert row.after == {"inventory_quantity": 7, "availability": "in_stock"}
    assert row.signature_verdict is None


async def test_feed_runs_are_recorded(
    client: httpx.AsyncClient, operator: Key, session: AsyncSession
) -> None:
    files = {"file": ("feed.csv", (FEEDS / "openai.csv").read_bytes(), "text/csv")}
    uploaded = await client.post("/admin/v1/feeds", headers=operator.headers, files=files)
    by_url = await client.post(
        "/admin/v1/feeds", headers=operator.headers, json={"url": "https://feeds.example/f.csv"}
    )
    assert (uploaded.status_code, by_url.status_code) == (202, 202)

    upload_row, url_row = await events(session)
    assert (upload_row.action, upload_row.target_id) == ("feed.upload", uploaded.json()["id"])
    assert upload_row.after == {
        "source_kind": "upload", "mode": "upsert", "format": None, "size_bytes": len(files["file"][1])
    }  # fmt: skip
    assert (url_row.action, url_row.target_id, url_row.status_code) == ("feed.url", by_url.json()["id"], 202)


# Append-only


async def test_the_database_refuses_update_and_delete(session: AsyncSession) -> None:
    await audit.record(
        session, actor=None, action="system.test", target_type="test", target_id="t",
        context=AuditContext(None, None, None), now=T0,
    )  # fmt: skip
    for statement in (update(AuditEvent).values(action="changed"), delete(AuditEvent)):
        with pytest.raises(DBAPIError, match="audit_event is append-only"):
            async with session.begin_nested():
                await session.execute(statement)
    assert [(r.action, r.actor_key_id) for r in await events(session)] == [("system.test", None)]


async def test_previous_after_is_null_for_a_first_row(session: AsyncSession) -> None:
    context = AuditContext("req", None, None)
    for target in ("a", "b", "a"):
        await audit.record(
            session, actor=None, action="x", target_type="t", target_id=target, context=context,
            before=PREVIOUS_AFTER, after={"target": target, "at": "now"}, now=T0,
        )  # fmt: skip
    assert [r.before for r in await events(session)] == [None, None, {"target": "a", "at": "now"}]


# GET /admin/v1/audit


@pytest.fixture
async def staff(session: AsyncSession) -> dict[Role, Key]:
    return {role: await new_key(session, role) for role in Role}


async def seed(session: AsyncSession, actors: list[Principal]) -> None:
    """Six rows, one a minute from T0: actors alternate, two actions, three targets."""
    for n in range(6):
        await audit.record(
            session, actor=actors[n % 2], action=("feed.upload", "variant.inventory_update")[n % 2],
            target_type="variant", target_id=f"v{n % 3}", context=AuditContext(f"req-{n}", None, None),
            now=T0 + timedelta(minutes=n),
        )  # fmt: skip
    await session.commit()


def principal(key: Key, role: Role) -> Principal:
    return Principal(key_id=key.id, name="x", role=role)


async def listed(client: httpx.AsyncClient, headers: Headers, **params: Any) -> Json:
    response = await client.get("/admin/v1/audit", headers=headers, params=params)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


def request_ids(body: Json) -> list[str]:
    return [event["request_id"] for event in body["data"]]


async def test_filters(client: httpx.AsyncClient, staff: dict[Role, Key], session: AsyncSession) -> None:
    admin, operator = staff[Role.admin], staff[Role.operator]
    await seed(session, [principal(admin, Role.admin), principal(operator, Role.operator)])
    headers = admin.headers

    everything = await listed(client, headers)
    assert request_ids(everything) == [f"req-{n}" for n in (5, 4, 3, 2, 1, 0)]
    first = everything["data"][-1]
    assert first["actor"] == {"key_id": admin.id, "role": "admin"}
    assert first["target"] == {"type": "variant", "id": "v0"}
    assert request_ids(await listed(client, headers, actor=operator.id)) == ["req-5", "req-3", "req-1"]
    assert request_ids(await listed(client, headers, action="feed.upload")) == ["req-4", "req-2", "req-0"]
    assert request_ids(await listed(client, headers, target_type="variant", target_id="v1")) == [
        "req-4",
        "req-1",
    ]
    window = {
        "since": (T0 + timedelta(minutes=2)).isoformat(),
        "until": (T0 + timedelta(minutes=4)).isoformat(),
    }
    assert request_ids(await listed(client, headers, **window)) == ["req-3", "req-2"]
    assert request_ids(await listed(client, headers, target_type="order")) == []


async def test_cursor_pages(client: httpx.AsyncClient, staff: dict[Role, Key], session: AsyncSession) -> None:
    admin = staff[Role.admin]
    await seed(session, [principal(admin, Role.admin)] * 2)
    seen: list[str] = []
    cursor: int | None = None
    while True:
        page = await listed(client, admin.headers, limit=4, **({"starting_after": cursor} if cursor else {}))
        seen += request_ids(page)
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
    assert seen == [f"req-{n}" for n in (5, 4, 3, 2, 1, 0)]
    filtered = await listed(client, admin.headers, action="feed.upload", limit=1)
    rest = await listed(client, admin.headers, action="feed.upload", starting_after=filtered["next_cursor"])
    assert (request_ids(filtered), request_ids(rest)) == (["req-4"], ["req-2", "req-0"])


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"starting_after": 999999}, "$.query.starting_after"),
        ({"limit": 101}, "$.query.limit"),
        ({"since": "2026-12-01T09:00:00"}, "$.query.since"),  # no offset: not RFC 3339
    ],
)
async def test_bad_queries(
    client: httpx.AsyncClient, staff: dict[Role, Key], params: dict[str, Any], param: str
) -> None:
    response = await client.get("/admin/v1/audit", headers=staff[Role.admin].headers, params=params)
    assert (response.status_code, response.json()["param"]) == (400, param)


async def test_roles(client: httpx.AsyncClient, staff: dict[Role, Key]) -> None:
    statuses = {
        role.value: (await client.get("/admin/v1/audit", headers=key.headers)).status_code
        for role, key in staff.items()
    }
    assert statuses == {"admin": 200, "operator": 200, "viewer": 403, "agent": 403}
    assert (await client.get("/admin/v1/audit")).status_code == 401
