"""Request signatures (merchant-sig-v2) on the real ACP checkout routes, real PostgreSQL.

Before: only the body was signed. A captured signed create, resent with a fresh ``Timestamp`` and a
new ``Idempotency-Key``, created a second session; a signed complete body for session A was
accepted on ``/checkout_sessions/B/complete`` (both completed); the same signed request could be
sent again as long as its Timestamp was recent; and body-only signatures were always accepted.
Now the signature covers Timestamp, method, path with query, Idempotency-Key and body; a signature
of a request without an Idempotency-Key is accepted once; body-only signatures only inside a
configured transition window.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from merchant.checkout.models import CheckoutSession
from merchant.db import create_sessionmaker
from merchant.db.transaction import transaction
from merchant.identity import replays
from merchant.identity import service as identity_service
from merchant.identity.models import SeenSignature
from merchant.identity.roles import Role
from merchant.identity.signatures import SignaturePolicy
from merchant.kit.clock import utc_now
from merchant.payments.stripe_emulator import StripeEmulator
from tests.catalog.helpers import FEEDS, run_feed
from tests.checkout.purchase import complete_body, scalar, total_of
from tests.checkout.test_service import ADDRESS

Headers = dict[str, str]
SECRET = "shared-signing-secret"
CART = {"currency": "usd", "line_items": [{"id": "tee-red-s", "quantity": 1}]}


def sign(method: str, target: str, body: bytes, key: str | None, *, timestamp: str | None = None) -> Headers:
    """What an agent platform computes (the README's example), written here independently."""
    stamp = timestamp or utc_now().isoformat()
    lines = ["merchant-sig-v2", stamp, method, target, key or "", hashlib.sha256(body).hexdigest()]
    digest = hmac.new(SECRET.encode(), "\n".join(lines).encode(), hashlib.sha256).digest()
    return {"Signature": base64.urlsafe_b64encode(digest).rstrip(b"=").decode(), "Timestamp": stamp}


def legacy_sign(body: bytes) -> Headers:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).digest()
    return {
        "Signature": base64.urlsafe_b64encode(digest).rstrip(b"=").decode(),
        "Timestamp": utc_now().isoformat(),
    }


class Signer:
    """An agent platform whose key must sign (policy ``require``, HMAC secret)."""

    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}", "API-Version": "2026-04-17"}

    def post_headers(self, path: str, body: bytes, key: str) -> Headers:
        signed = sign("POST", path, body, key)
        return {**self.headers, "Idempotency-Key": key, "Content-Type": "application/json", **signed}

    async def post(self, path: str, payload: Any, key: str) -> httpx.Response:
        body = json.dumps(payload).encode()
        return await self.client.post(path, headers=self.post_headers(path, body, key), content=body)

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(path, headers={**self.headers, **sign("GET", path, b"", None)})


async def signing_key(session: AsyncSession) -> str:
    created = await identity_service.create_key(session, role=Role.agent, name="signing platform")
    await identity_service.configure_signing(
        session, created.key.id, policy=SignaturePolicy.require, secret=SECRET
    )
    await session.commit()
    return created.token


@pytest.fixture
async def signer(client: httpx.AsyncClient, session: AsyncSession) -> Signer:
    return Signer(client, await signing_key(session))


async def sessions_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(CheckoutSession)) or 0)


def error_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json().get("code")


class TestBinding:
    async def test_a_valid_v2_request_passes(self, signer: Signer, session: AsyncSession) -> None:
        created = await signer.post("/checkout_sessions", CART, "k-1")
        assert created.status_code == 201, created.text
        fetched = await signer.get(f"/checkout_sessions/{created.json()['id']}")
        assert fetched.status_code == 200, fetched.text

    async def test_captured_create_with_fresh_timestamp_and_new_key_is_refused(
        self, signer: Signer, session: AsyncSession
    ) -> None:
        body = json.dumps(CART).encode()
        captured = signer.post_headers("/checkout_sessions", body, "k-1")
        first = await signer.client.post("/checkout_sessions", headers=captured, content=body)
        assert first.status_code == 201, first.text
        resent = {**captured, "Idempotency-Key": "k-2", "Timestamp": utc_now().isoformat()}
        again = await signer.client.post("/checkout_sessions", headers=resent, content=body)
        assert error_of(again) == (401, "invalid_signature")
        new_key_only = {**captured, "Idempotency-Key": "k-3"}
        assert error_of(
            await signer.client.post("/checkout_sessions", headers=new_key_only, content=body)
        ) == (
            401,
            "invalid_signature",
        )
        assert await sessions_count(session) == 1

    async def test_the_query_string_and_method_are_signed(self, signer: Signer) -> None:
        created = await signer.post("/checkout_sessions", CART, "k-1")
        path = f"/checkout_sessions/{created.json()['id']}"
        headers = {**signer.headers, **sign("GET", path, b"", None)}
        moved = await signer.client.get(path, params={"x": "1"}, headers=headers)
        assert error_of(moved) == (401, "invalid_signature")
        as_post = {**signer.headers, **sign("POST", path, b"", None)}
        assert error_of(await signer.client.get(path, headers=as_post)) == (401, "invalid_signature")


class TestReplay:
    async def test_a_replayed_signature_is_refused(self, signer: Signer, session: AsyncSession) -> None:
        created = await signer.post("/checkout_sessions", CART, "k-1")
        path = f"/checkout_sessions/{created.json()['id']}"
        headers = {**signer.headers, **sign("GET", path, b"", None)}
        assert (await signer.client.get(path, headers=headers)).status_code == 200
        assert error_of(await signer.client.get(path, headers=headers)) == (401, "replayed_signature")
        padded = {**headers, "Signature": headers["Signature"] + "="}  # another spelling, same bytes
        assert error_of(await signer.client.get(path, headers=padded)) == (401, "replayed_signature")
        assert (await signer.get(path)).status_code == 200  # signed anew: fine

    async def test_an_idempotent_retry_with_the_same_signature_gets_the_stored_answer(
        self, signer: Signer, session: AsyncSession
    ) -> None:
        body = json.dumps(CART).encode()
        headers = signer.post_headers("/checkout_sessions", body, "k-1")
        first = await signer.client.post("/checkout_sessions", headers=headers, content=body)
        retry = await signer.client.post("/checkout_sessions", headers=headers, content=body)
        assert (first.status_code, retry.status_code) == (201, 201), retry.text
        assert retry.headers.get("Idempotent-Replayed") == "true"
        assert retry.json() == first.json()
        assert await sessions_count(session) == 1

    async def test_expired_signatures_are_purged(self, signer: Signer, session: AsyncSession) -> None:
        created = await signer.post("/checkout_sessions", CART, "k-1")
        assert (await signer.get(f"/checkout_sessions/{created.json()['id']}")).status_code == 200
        assert await replays.purge_expired(session, now=utc_now()) == 0
        assert await replays.purge_expired(session, now=utc_now() + timedelta(seconds=301)) == 1
        assert await session.scalar(select(func.count()).select_from(SeenSignature)) == 0


class TestLegacy:
    async def test_body_only_signatures_are_refused_by_default(
        self, signer: Signer, session: AsyncSession
    ) -> None:
        body = json.dumps(CART).encode()
        headers = {**signer.headers, "Idempotency-Key": "k-1", "Content-Type": "application/json"}
        response = await signer.client.post(
            "/checkout_sessions", headers={**headers, **legacy_sign(body)}, content=body
        )
        assert error_of(response) == (401, "invalid_signature")
        assert await sessions_count(session) == 0

    async def test_accepted_inside_the_configured_window_only(self, signer: Signer, app: FastAPI) -> None:
        body = json.dumps(CART).encode()
        headers = {**signer.headers, "Content-Type": "application/json"}

        async def legacy_create(key: str, until: datetime) -> httpx.Response:
            settings = app.state.settings
            app.state.settings = settings.model_copy(update={"signature_accept_legacy_until": until})
            try:
                return await signer.client.post(
                    "/checkout_sessions",
                    headers={**headers, "Idempotency-Key": key, **legacy_sign(body)},
                    content=body,
                )
            finally:
                app.state.settings = settings

        inside = await legacy_create("k-1", utc_now() + timedelta(days=7))
        assert inside.status_code == 201, inside.text
        after = await legacy_create("k-2", utc_now() - timedelta(seconds=1))
        assert error_of(after) == (401, "invalid_signature")


@pytest.mark.usefixtures("committed")
async def test_a_complete_signed_for_one_session_is_refused_on_another(
    committing_client: httpx.AsyncClient, committed: AsyncEngine, stripe: StripeEmulator
) -> None:
    sessions = create_sessionmaker(committed)
    await run_feed(sessions, FEEDS / "openai.csv")
    async with transaction(sessions) as session:
        signer = Signer(committing_client, await signing_key(session))
    ready = []
    for n in (1, 2):
        cart = {
            **CART,
            "buyer": {"email": "ada@example.com"},
            "fulfillment_details": {"name": "Ada", "address": ADDRESS},
        }
        created = await signer.post("/checkout_sessions", cart, f"create-{n}")
        assert created.status_code == 201, created.text
        choose = {"selected_fulfillment_options": [{"type": "shipping", "option_id": "standard"}]}
        updated = await signer.post(f"/checkout_sessions/{created.json()['id']}", choose, f"choose-{n}")
        assert updated.json()["status"] == "ready_for_payment", updated.text
        ready.append(updated.json())
    a, b = ready
    token = stripe.create_granted_token(payment_method="pm_card_visa", max_amount=total_of(a))
    body = json.dumps(complete_body(token)).encode()
    for_a = signer.post_headers(f"/checkout_sessions/{a['id']}/complete", body, "complete-a")

    on_b = await committing_client.post(f"/checkout_sessions/{b['id']}/complete", headers=for_a, content=body)
    assert error_of(on_b) == (401, "invalid_signature")
    status_b = await scalar(committed, select(CheckoutSession.status).where(CheckoutSession.id == b["id"]))
    assert status_b == "open"  # not completed
    on_a = await committing_client.post(f"/checkout_sessions/{a['id']}/complete", headers=for_a, content=body)
    assert on_a.status_code == 200, on_a.text
    assert on_a.json()["status"] == "completed"
