"""API keys and agent platforms through the staff API (``/admin/v1``) on the real app and PostgreSQL:
secrets shown once and never listed, revocation, removal, admin-only access."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.identity import service as identity_service
from merchant.identity.roles import Role
from merchant.kit.clock import utc_now
from merchant.platforms import service as platforms
from merchant.platforms.models import AgentPlatform

Headers = dict[str, str]
# A public address literal: the outbound guard checks webhook URLs at creation, and tests have no DNS.
HOOK = "https://1.1.1.1/agent-hooks"


@pytest.fixture
async def keys(session: AsyncSession) -> dict[Role, Headers]:
    """Authorization headers for one key of each role."""
    headers: dict[Role, Headers] = {}
    for role in Role:
        created = await identity_service.create_key(session, role=role, name=f"{role.value} key")
        headers[role] = {"Authorization": f"Bearer {created.token}"}
    await session.commit()
    return headers


@pytest.fixture
def admin(keys: dict[Role, Headers]) -> Headers:
    return keys[Role.admin]


def bearer(token: str) -> Headers:
    return {"Authorization": f"Bearer {token}"}


def assert_error(response: httpx.Response, status: int, code: str, param: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["type"], body["code"], body.get("param")) == ("invalid_request", code, param)


async def create_platform(client: httpx.AsyncClient, admin: Headers, **body: Any) -> dict[str, Any]:
    response = await client.post("/admin/v1/platforms", headers=admin, json={"name": "Agent Co", **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


# Keys


async def test_a_key_is_created_listed_without_secret_and_revoked(
    client: httpx.AsyncClient, admin: Headers
) -> None:
    response = await client.post("/admin/v1/keys", headers=admin, json={"role": "viewer", "name": "Dana"})
    assert response.status_code == 201, response.text
    created = response.json()
    token: str = created["token"]
    key_id, secret = token.split(".")
    assert created["id"] == key_id
    assert (created["role"], created["name"], created["active"], created["platform_id"]) == (
        "viewer", "Dana", True, None,
    )  # fmt: skip
    whoami = await client.get("/whoami", headers=bearer(token))
    assert whoami.json() == {"key_id": key_id, "name": "Dana", "role": "viewer"}

    listed = await client.get("/admin/v1/keys", headers=admin)
    assert listed.status_code == 200
    assert key_id in [k["id"] for k in listed.json()["data"]]
    assert listed.json()["has_more"] is False
    assert secret not in listed.text
    assert all("token" not in k for k in listed.json()["data"])

    revoked = await client.post(f"/admin/v1/keys/{key_id}/revoke", headers=admin)
    assert revoked.status_code == 200, revoked.text
    assert (revoked.json()["id"], revoked.json()["active"]) == (key_id, False)
    assert revoked.json()["revoked_at"] is not None
    assert "token" not in revoked.json()
    assert_error(await client.get("/whoami", headers=bearer(token)), 401, "revoked_api_key")

    again = await client.post(f"/admin/v1/keys/{key_id}/revoke", headers=admin)
    assert again.status_code == 200
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]  # idempotent: the first revocation

    active = await client.get("/admin/v1/keys", headers=admin)
    assert key_id not in [k["id"] for k in active.json()["data"]]
    every = await client.get("/admin/v1/keys", headers=admin, params={"include_revoked": "true"})
    assert [k["active"] for k in every.json()["data"] if k["id"] == key_id] == [False]
    assert_error(
        await client.post("/admin/v1/keys/key_0000000000000000/revoke", headers=admin),
        404, "api_key_not_found", "$.id",
    )  # fmt: skip


async def audit_rows(client: httpx.AsyncClient, admin: Headers, target_type: str) -> list[dict[str, Any]]:
    response = await client.get("/admin/v1/audit", headers=admin, params={"target_type": target_type})
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["data"]))  # oldest first


async def stored_answers(session: AsyncSession) -> str:
    found = await session.scalar(
        text("SELECT string_agg(convert_from(body, 'UTF8'), '') FROM idempotency_record")
    )
    assert found is not None
    return str(found)


async def test_key_changes_are_audited_and_a_replay_never_shows_the_token(
    client: httpx.AsyncClient, admin: Headers, session: AsyncSession
) -> None:
    keyed = {**admin, "Idempotency-Key": "new-viewer-1"}
    first = await client.post("/admin/v1/keys", headers=keyed, json={"role": "viewer", "name": "Eve"})
    assert first.status_code == 201, first.text
    token = first.json()["token"]
    replay = await client.post("/admin/v1/keys", headers=keyed, json={"role": "viewer", "name": "Eve"})
    assert (replay.status_code, replay.headers["Idempotent-Replayed"]) == (201, "true")
    assert replay.json() == {**first.json(), "token": None}  # the same key, its secret not kept
    secret = token.split(".")[1]
    assert secret not in await stored_answers(session)
    other = await client.post("/admin/v1/keys", headers=keyed, json={"role": "admin", "name": "Eve"})
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_conflict")

    key_id = first.json()["id"]
    await client.post(f"/admin/v1/keys/{key_id}/revoke", headers=admin)
    await client.post(f"/admin/v1/keys/{key_id}/revoke", headers=admin)  # no change: no row
    rows = [row for row in await audit_rows(client, admin, "api_key") if row["target"]["id"] == key_id]
    assert [row["action"] for row in rows] == ["key.create", "key.revoke"]
    assert rows[0]["after"] == {"name": "Eve", "role": "viewer", "platform_id": None}
    assert rows[0]["idempotency_key"] == "new-viewer-1"
    assert (rows[1]["before"], rows[1]["after"]) == ({"active": True}, {"active": False})
    assert all(row["actor"]["role"] == "admin" and secret not in str(row) for row in rows)


async def test_platform_changes_are_audited_and_a_replay_never_shows_the_secret(
    client: httpx.AsyncClient, admin: Headers, session: AsyncSession
) -> None:
    keyed = {**admin, "Idempotency-Key": "agent-co"}
    first = await client.post("/admin/v1/platforms", headers=keyed, json={"name": "Agent Co"})
    assert first.status_code == 201, first.text
    assert first.json()["signing_secret"].startswith("whsec_")
    replay = await client.post("/admin/v1/platforms", headers=keyed, json={"name": "Agent Co"})
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == {**first.json(), "signing_secret": None}
    assert first.json()["signing_secret"] not in await stored_answers(session)
    platform_id = first.json()["id"]
    removed = await client.post(f"/admin/v1/platforms/{platform_id}/remove", headers=admin)
    assert removed.status_code == 200, removed.text
    rows = await audit_rows(client, admin, "platform")
    assert [(row["action"], row["target"]["id"]) for row in rows] == [
        ("platform.create", platform_id), ("platform.remove", platform_id),
    ]  # fmt: skip
    assert rows[0]["after"] == {"name": "Agent Co", "webhook_url": None, "acp_version": "2026-04-17"}
    assert (rows[1]["before"]["active"], rows[1]["after"]["active"]) == (True, False)


async def test_an_agent_key_belongs_to_a_platform(client: httpx.AsyncClient, admin: Headers) -> None:
    platform = await create_platform(client, admin, webhook_url=HOOK)
    by_id = await client.post(
        "/admin/v1/keys", headers=admin, json={"role": "agent", "name": "a", "platform": platform["id"]}
    )
    assert by_id.status_code == 201, by_id.text
    assert by_id.json()["platform_id"] == platform["id"]
    by_name = await client.post(
        "/admin/v1/keys", headers=admin, json={"role": "agent", "name": "b", "platform": "Agent Co"}
    )
    assert by_name.json()["platform_id"] == platform["id"]

    staff = {"role": "operator", "name": "c", "platform": platform["id"]}
    assert_error(
        await client.post("/admin/v1/keys", headers=admin, json=staff), 400, "invalid_request", "$.platform"
    )
    unknown = {"role": "agent", "name": "d", "platform": "plat_0000000000000000"}
    assert_error(await client.post("/admin/v1/keys", headers=admin, json=unknown), 404, "platform_not_found")
    bad_role = {"role": "root", "name": "e"}
    assert_error(
        await client.post("/admin/v1/keys", headers=admin, json=bad_role), 400, "invalid_value", "$.role"
    )


# Platforms


async def test_a_platform_secret_is_shown_once_and_never_listed(
    client: httpx.AsyncClient, admin: Headers, session: AsyncSession
) -> None:
    response = await client.post(
        "/admin/v1/platforms",
        headers=admin,
        json={"name": "Agent Co", "webhook_url": HOOK, "acp_version": "2025-09-29"},
    )
    assert response.status_code == 201, response.text
    created = response.json()
    secret: str = created["signing_secret"]
    assert secret.startswith("whsec_")
    assert response.headers["location"] == f"/admin/v1/platforms/{created['id']}"
    assert (created["acp_version"], created["active"], created["removed_at"]) == ("2025-09-29", True, None)
    stored = await session.get(AgentPlatform, created["id"])
    assert stored is not None
    assert stored.signing_secret == secret

    listed = await client.get("/admin/v1/platforms", headers=admin)
    one = await client.get(f"/admin/v1/platforms/{created['id']}", headers=admin)
    for answer in (listed, one):
        assert answer.status_code == 200, answer.text
        assert secret not in answer.text
        assert "signing_secret" not in answer.text
    assert [p["id"] for p in listed.json()["data"]] == [created["id"]]
    assert one.json()["webhook_url"] == HOOK

    given = await client.post(
        "/admin/v1/platforms", headers=admin, json={"name": "Other", "signing_secret": "whsec_agreed_0123456"}
    )
    assert given.status_code == 201, given.text
    assert given.json()["signing_secret"] is None  # the caller knows it; it is not echoed
    assert given.json()["webhook_url"] is None


async def test_platform_input_is_checked(client: httpx.AsyncClient, admin: Headers) -> None:
    await create_platform(client, admin)
    cases: list[tuple[dict[str, Any], int, str, str | None]] = [
        ({"name": "Agent Co"}, 409, "platform_exists", "$.name"),
        ({"name": "X", "acp_version": "2024-01-01"}, 400, "invalid_request", "$.acp_version"),
        ({"name": "X", "webhook_url": "ftp://agent.example"}, 400, "invalid_request", "$.webhook_url"),
        ({"name": "X", "signing_secret": "short"}, 400, "invalid_value", "$.signing_secret"),
        ({"name": "plat_0123456789abcdef"}, 400, "invalid_value", "$.name"),
        ({"name": "X", "secret": "whsec_0123456789abcdef"}, 400, "unknown_field", "$.secret"),
        ({"name": "x" * 161}, 400, "invalid_value", "$.name"),
    ]
    for body, status, code, param in cases:
        assert_error(await client.post("/admin/v1/platforms", headers=admin, json=body), status, code, param)


async def test_a_removed_platform_is_kept_and_its_name_freed(
    client: httpx.AsyncClient, admin: Headers
) -> None:
    created = await create_platform(client, admin, webhook_url=HOOK)
    removed = await client.post(f"/admin/v1/platforms/{created['id']}/remove", headers=admin)
    assert removed.status_code == 200, removed.text
    assert (removed.json()["id"], removed.json()["active"]) == (created["id"], False)
    assert removed.json()["removed_at"] is not None
    again = await client.post(f"/admin/v1/platforms/{created['id']}/remove", headers=admin)
    assert again.status_code == 200, again.text
    assert again.json() == removed.json()  # idempotent

    assert (await client.get("/admin/v1/platforms", headers=admin)).json()["data"] == []
    every = await client.get("/admin/v1/platforms", headers=admin, params={"include_removed": "true"})
    assert [p["id"] for p in every.json()["data"]] == [created["id"]]
    still = await client.get(f"/admin/v1/platforms/{created['id']}", headers=admin)
    assert still.json()["active"] is False
    reused = await create_platform(client, admin)  # the same name again
    assert reused["id"] != created["id"]
    key = {"role": "agent", "name": "late", "platform": created["id"]}
    assert_error(await client.post("/admin/v1/keys", headers=admin, json=key), 404, "platform_not_found")
    missing = "/admin/v1/platforms/plat_0000000000000000"
    assert_error(await client.get(missing, headers=admin), 404, "platform_not_found")
    assert_error(await client.post(f"{missing}/remove", headers=admin), 404, "platform_not_found")


# Roles

ADMIN_ONLY: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/admin/v1/keys", None),
    ("POST", "/admin/v1/keys", {"role": "viewer", "name": "x"}),
    ("POST", "/admin/v1/keys/key_0000000000000000/revoke", None),
    ("GET", "/admin/v1/platforms", None),
    ("POST", "/admin/v1/platforms", {"name": "Role Check"}),
    ("GET", "/admin/v1/platforms/plat_0000000000000000", None),
    ("POST", "/admin/v1/platforms/plat_0000000000000000/remove", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ONLY)
async def test_only_admin_keys_manage_keys_and_platforms(
    client: httpx.AsyncClient, keys: dict[Role, Headers], method: str, path: str, body: dict[str, Any] | None
) -> None:
    for role in (Role.viewer, Role.operator, Role.agent):
        response = await client.request(method, path, headers=keys[role], json=body)
        assert_error(response, 403, "forbidden")
    anonymous = await client.request(method, path, json=body)
    assert_error(anonymous, 401, "missing_api_key")
    assert anonymous.headers["www-authenticate"] == "Bearer"
    allowed = await client.request(method, path, headers=keys[Role.admin], json=body)
    assert allowed.status_code in {200, 201, 404}, allowed.text  # past the role check


async def test_a_webhook_url_to_a_private_address_is_refused(
    client: httpx.AsyncClient, admin: Headers
) -> None:
    """Before: any http(s) URL was stored; the outbound guard only refused it at delivery."""
    for url in (
        "http://127.0.0.1:8080/hooks",
        "https://10.0.0.5/hooks",
        "http://[::1]/hooks",
        "http://localhost/x",
    ):
        response = await client.post(
            "/admin/v1/platforms", headers=admin, json={"name": "Sneaky", "webhook_url": url}
        )
        assert_error(response, 400, "forbidden_url", "$.webhook_url")
    assert (await client.get("/admin/v1/platforms", headers=admin)).json()["data"] == []


async def test_removed_names_never_collide(client: httpx.AsyncClient, admin: Headers) -> None:
    """Before: the same name removed twice within a second, or a new platform named like a removed
    one, hit the unique name and answered 500."""
    first = await create_platform(client, admin)
    removed = (await client.post(f"/admin/v1/platforms/{first['id']}/remove", headers=admin)).json()
    assert removed["name"].startswith("Agent Co (removed ")
    like_removed = await client.post("/admin/v1/platforms", headers=admin, json={"name": removed["name"]})
    assert_error(like_removed, 409, "platform_exists", "$.name")


async def test_the_same_name_removed_twice_within_a_second(session: AsyncSession) -> None:
    now = utc_now()
    policy = platforms.WebhookPolicy(require_https=False, allow_private=False)
    names = []
    for _ in range(2):
        added = await platforms.add(session, name="Agent Co", webhook_url=None, policy=policy, now=now)
        names.append((await platforms.remove(session, added.platform.id, now=now)).name)
    assert names[0] == f"Agent Co (removed {now:%Y-%m-%d %H:%M:%S})"
    assert names[1] != names[0]
    assert names[1].startswith(names[0][:-1])
    long = await platforms.add(
        session, name="x" * 200, webhook_url=None, policy=policy, now=now
    )  # CLI: no limit
    assert len((await platforms.remove(session, long.platform.id, now=now)).name) == 200
