"""ACP §6 idempotency, request signatures and API-Version at the HTTP edge, on a test route.

The route creates a feed-run row (any row would do) so every test can count side effects.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Literal

import httpx
import pytest
import pytest_asyncio
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from merchant.app import create_app
from merchant.catalog import ingest
from merchant.catalog.models import FeedRun
from merchant.catalog.records import FeedMode
from merchant.config import Settings
from merchant.db import create_sessionmaker, transaction
from merchant.errors import InvalidState
from merchant.http.auth import AnyPrincipal
from merchant.http.deps import SessionDep
from merchant.http.idempotency import Idempotent, IdempotentRoute
from merchant.http.signatures import SignatureVerdict
from merchant.http.versioning import SUPPORTED_VERSIONS, ApiVersion
from merchant.idempotency import service
from merchant.idempotency.models import IdempotencyRecord
from merchant.identity import service as identity_service
from merchant.identity.roles import Role
from merchant.identity.signatures import SignaturePolicy
from merchant.kit.clock import utc_now
from tests.fixtures.app import rolled_back_client

Headers = dict[str, str]
VERSION = {"API-Version": "2026-04-17"}
JSON = {"Content-Type": "application/json"}


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str
    outcome: Literal["ok", "invalid", "boom", "slow"] = "ok"
    note: str | None = None


router = APIRouter(route_class=IdempotentRoute)


@router.post("/test/runs", status_code=201)
async def create_thing(
    body: Thing,
    _: ApiVersion,
    principal: AnyPrincipal,
    signed: SignatureVerdict,  # before the key is claimed: a forged request claims nothing
    claim: Idempotent,
    session: SessionDep,
) -> dict[str, str]:
    run = await ingest.create_run(
        session,
        source_kind="file",
        source=body.source,
        mode=FeedMode.UPSERT,
        fmt=None,
        requested_by=principal.key_id,
        size_bytes=None,
    )
    if body.outcome == "invalid":
        raise InvalidState("Things in this state cannot be created.", param="$.outcome")
    if body.outcome == "boom":
        raise RuntimeError("unexpected")
    if body.outcome == "slow":
        await asyncio.sleep(1.0)
    return {"id": run.id, "source": body.source}


@router.post("/test/other", status_code=201)
async def other_thing(
    body: Thing, principal: AnyPrincipal, claim: Idempotent, session: SessionDep
) -> dict[str, str]:
    run = await ingest.create_run(
        session, source_kind="file", source=body.source, mode=FeedMode.UPSERT, fmt=None,
        requested_by=principal.key_id, size_bytes=None,
    )  # fmt: skip
    return {"id": run.id}


@pytest_asyncio.fixture(scope="module")
async def edge_app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    app.include_router(router)
    async with app.router.lifespan_context(app):
        yield app


@pytest_asyncio.fixture
async def client(
    edge_app: FastAPI, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    async with rolled_back_client(edge_app, sessions) as client:
        yield client


async def agent_headers(session: AsyncSession, name: str = "agent") -> Headers:
    created = await identity_service.create_key(session, role=Role.agent, name=name)
    await session.commit()
    return {"Authorization": f"Bearer {created.token}", **VERSION}


@pytest.fixture
async def agent(session: AsyncSession) -> Headers:
    return await agent_headers(session)


async def runs_of(session: AsyncSession, source: str) -> int:
    return int(await session.scalar(select(func.count()).where(FeedRun.source == source)) or 0)


def keyed(headers: Headers, key: str) -> Headers:
    return {**headers, "Idempotency-Key": key}


class TestVersionHeader:
    async def test_missing_version(self, client: httpx.AsyncClient, agent: Headers) -> None:
        headers = {k: v for k, v in keyed(agent, "k1").items() if k != "API-Version"}
        response = await client.post("/test/runs", headers=headers, json={"source": "v"})
        assert response.status_code == 400
        assert response.json() == {
            "type": "invalid_request",
            "code": "missing_api_version",
            "message": response.json()["message"],
            "supported_versions": ["2026-04-17", "2026-01-30", "2026-01-16", "2025-12-12"],
        }

    async def test_unsupported_version(self, client: httpx.AsyncClient, agent: Headers) -> None:
        headers = {**keyed(agent, "k1"), "API-Version": "2025-09-29"}
        response = await client.post("/test/runs", headers=headers, json={"source": "v"})
        assert (response.status_code, response.json()["code"]) == (400, "unsupported_api_version")
        assert response.json()["supported_versions"] == list(SUPPORTED_VERSIONS)


class TestKeys:
    async def test_key_is_required(
        self, client: httpx.AsyncClient, agent: Headers, session: AsyncSession
    ) -> None:
        response = await client.post("/test/runs", headers=agent, json={"source": "nokey"})
        assert (response.status_code, response.json()["code"]) == (400, "idempotency_key_required")
        assert await runs_of(session, "nokey") == 0

    @pytest.mark.parametrize("key", [b"x" * 256, b"caf\xe9", b"tab\there"])
    async def test_malformed_keys(
        self, client: httpx.AsyncClient, agent: Headers, session: AsyncSession, key: bytes
    ) -> None:
        headers = {name.encode(): value.encode() for name, value in agent.items()}
        headers[b"Idempotency-Key"] = key
        response = await client.post("/test/runs", headers=headers, json={"source": "bad"})
        assert (response.status_code, response.json()["code"]) == (400, "invalid_idempotency_key")

    async def test_replay_returns_the_first_answer_without_running_again(
        self, client: httpx.AsyncClient, agent: Headers, session: AsyncSession
    ) -> None:
        first = await client.post(
            "/test/runs", headers=keyed(agent, "k-replay"), json={"source": "a", "outcome": "ok"}
        )
        assert first.status_code == 201
        assert first.headers["Idempotency-Key"] == "k-replay"
        assert "Idempotent-Replayed" not in first.headers
        # the same JSON, written differently: other key order, no default spelled out
        again = await client.post(
            "/test/runs",
            headers={**keyed(agent, "k-replay"), **JSON},
            content=b'{ "outcome" : "ok", "source": "a" }',
        )
        assert (again.status_code, again.content) == (201, first.content)
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.headers["Idempotency-Key"] == "k-replay"
        assert await runs_of(session, "a") == 1

    async def test_other_body_is_a_conflict(
        self, client: httpx.AsyncClient, agent: Headers, session: AsyncSession
    ) -> None:
        await client.post("/test/runs", headers=keyed(agent, "k-c"), json={"source": "c"})
        for body in ({"source": "c2"}, {"source": "c", "note": None}):  # null differs from absent
            response = await client.post("/test/runs", headers=keyed(agent, "k-c"), json=body)
            assert (response.status_code, response.json()["code"]) == (422, "idempotency_conflict")
        assert await runs_of(session, "c") + await runs_of(session, "c2") == 1

    async def test_scoped_to_caller_and_path(
        self, client: httpx.AsyncClient, agent: Headers, session: AsyncSession
    ) -> None:
        other_agent = await agent_headers(session, "second platform")
        body = {"source": "scoped"}
        for headers, path in ((agent, "/test/runs"), (other_agent, "/test/runs"), (agent, "/test/other")):
            response = await client.post(path, headers=keyed(headers, "same-key"), json=body)
            assert response.status_code == 201
            assert "Idempotent-Replayed" not in response.headers
        assert await runs_of(session, "scoped") == 3

    async def test_errors_4xx_are_replayed_and_change_nothing(
        self, client: httpx.AsyncClient, agent: Headers, session: AsyncSession
    ) -> None:
        body = {"source": "inv", "outcome": "invalid"}
        first = await client.post("/test/runs", headers=keyed(agent, "k-inv"), json=body)
        assert (first.status_code, first.json()["code"], first.json()["param"]) == (
            409,
            "invalid_state",
            "$.outcome",
        )
        again = await client.post("/test/runs", headers=keyed(agent, "k-inv"), json=body)
        assert (again.status_code, again.content) == (409, first.content)
        assert again.headers["Idempotent-Replayed"] == "true"
        assert await runs_of(session, "inv") == 0

    async def test_validation_errors_are_replayed(self, client: httpx.AsyncClient, agent: Headers) -> None:
        body = {"source": "val", "unexpected": 1}
        first = await client.post("/test/runs", headers=keyed(agent, "k-val"), json=body)
        assert (first.status_code, first.json()["param"]) == (400, "$.unexpected")
        again = await client.post("/test/runs", headers=keyed(agent, "k-val"), json=body)
        assert (again.status_code, again.headers["Idempotent-Replayed"]) == (400, "true")

    async def test_5xx_is_never_stored(
        self, client: httpx.AsyncClient, agent: Headers, session: AsyncSession
    ) -> None:
        failed = await client.post(
            "/test/runs", headers=keyed(agent, "k-5xx"), json={"source": "b", "outcome": "boom"}
        )
        assert failed.status_code == 500
        assert await runs_of(session, "b") == 0
        retried = await client.post("/test/runs", headers=keyed(agent, "k-5xx"), json={"source": "b"})
        assert retried.status_code == 201  # a fresh request, even with another body
        assert await runs_of(session, "b") == 1

    async def test_after_retention_the_key_is_new(
        self, client: httpx.AsyncClient, agent: Headers, session: AsyncSession
    ) -> None:
        await client.post("/test/runs", headers=keyed(agent, "k-old"), json={"source": "old"})
        await session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.key == "k-old")
            .values(expires_at=utc_now() - timedelta(seconds=1))
        )
        await session.commit()
        response = await client.post("/test/runs", headers=keyed(agent, "k-old"), json={"source": "new"})
        assert response.status_code == 201

    async def test_purge_removes_only_expired_records(
        self, client: httpx.AsyncClient, agent: Headers, session: AsyncSession
    ) -> None:
        for key in ("p1", "p2"):
            await client.post("/test/runs", headers=keyed(agent, key), json={"source": key})
        await session.execute(
            update(IdempotencyRecord).where(IdempotencyRecord.key == "p1").values(expires_at=utc_now())
        )
        assert await service.purge_expired(session, now=utc_now()) == 1
        keys = set(await session.scalars(select(IdempotencyRecord.key)))
        assert keys == {"p2"}


class TestConcurrency:
    """Real commits and separate connections: the in-flight rule is about other transactions."""

    @pytest_asyncio.fixture
    async def live(
        self, edge_app: FastAPI, committed: AsyncEngine
    ) -> AsyncIterator[tuple[httpx.AsyncClient, Headers]]:
        async with transaction(create_sessionmaker(committed)) as session:
            created = await identity_service.create_key(session, role=Role.agent, name="racer")
        transport = httpx.ASGITransport(app=edge_app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://merchant.test") as client:
            yield client, {"Authorization": f"Bearer {created.token}", **VERSION}

    async def test_second_request_while_the_first_runs_is_in_flight(
        self, live: tuple[httpx.AsyncClient, Headers], committed: AsyncEngine
    ) -> None:
        client, agent = live
        body = {"source": "slow", "outcome": "slow"}
        first = asyncio.create_task(client.post("/test/runs", headers=keyed(agent, "k-slow"), json=body))
        await asyncio.sleep(0.3)
        second = await client.post("/test/runs", headers=keyed(agent, "k-slow"), json=body)
        assert (second.status_code, second.json()["code"]) == (409, "idempotency_in_flight")
        assert second.headers["Retry-After"] == "1"
        assert (await first).status_code == 201
        third = await client.post("/test/runs", headers=keyed(agent, "k-slow"), json=body)
        assert (third.status_code, third.headers["Idempotent-Replayed"]) == (201, "true")
        assert third.content == (await first).content
        async with transaction(create_sessionmaker(committed)) as session:
            assert await runs_of(session, "slow") == 1

    async def test_parallel_duplicates_have_exactly_one_effect(
        self, live: tuple[httpx.AsyncClient, Headers], committed: AsyncEngine
    ) -> None:
        client, agent = live
        body = {"source": "race"}
        responses = await asyncio.gather(
            *(client.post("/test/runs", headers=keyed(agent, "k-race"), json=body) for _ in range(8))
        )
        statuses = sorted(r.status_code for r in responses)
        assert set(statuses) <= {201, 409}
        created = [r for r in responses if r.status_code == 201]
        assert len({r.content for r in created}) == 1  # every 201 carries the one answer
        assert sum("Idempotent-Replayed" not in r.headers for r in created) == 1
        async with transaction(create_sessionmaker(committed)) as session:
            assert await runs_of(session, "race") == 1


class TestSignatures:
    @pytest.fixture
    async def signer(self, session: AsyncSession) -> tuple[Headers, str]:
        created = await identity_service.create_key(session, role=Role.agent, name="signing platform")
        await identity_service.configure_signing(
            session, created.key.id, policy=SignaturePolicy.require, secret="shared-secret"
        )
        await session.commit()
        return {"Authorization": f"Bearer {created.token}", **VERSION}, "shared-secret"

    @staticmethod
    def signed(headers: Headers, body: bytes, secret: str, key: str) -> Headers:
        timestamp = utc_now().isoformat()
        lines = ["merchant-sig-v2", timestamp, "POST", "/test/runs", key, hashlib.sha256(body).hexdigest()]
        digest = hmac.new(secret.encode(), "\n".join(lines).encode(), hashlib.sha256).digest()
        signature = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        stamp = {"Signature": signature, "Timestamp": timestamp, **JSON}
        return {**keyed(headers, key), **stamp}

    async def test_signed_request_passes(
        self, client: httpx.AsyncClient, signer: tuple[Headers, str], session: AsyncSession
    ) -> None:
        headers, secret = signer
        body = b'{"source": "signed"}'
        response = await client.post(
            "/test/runs", headers=self.signed(headers, body, secret, "s1"), content=body
        )
        assert response.status_code == 201, response.text
        assert await runs_of(session, "signed") == 1

    async def test_unsigned_or_forged_requests_are_refused_before_anything_runs(
        self, client: httpx.AsyncClient, signer: tuple[Headers, str], session: AsyncSession
    ) -> None:
        headers, secret = signer
        body = b'{"source": "forged"}'
        unsigned = await client.post("/test/runs", headers={**keyed(headers, "s2"), **JSON}, content=body)
        assert (unsigned.status_code, unsigned.json()["code"]) == (401, "missing_signature")
        forged = self.signed(headers, b'{"source": "other"}', secret, "s2")
        response = await client.post("/test/runs", headers=forged, content=body)
        assert (response.status_code, response.json()["code"]) == (401, "invalid_signature")
        assert await runs_of(session, "forged") == 0
        assert await session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 0
        # the key was not claimed: the genuine request with it goes through
        genuine = await client.post(
            "/test/runs", headers=self.signed(headers, body, secret, "s2"), content=body
        )
        assert genuine.status_code == 201
