"""Benchmark-only endpoint (``MERCHANT_BENCH_ENDPOINTS=true``, never in production).

``POST /_bench/insert``: authentication, one transaction, one INSERT — the floor that
``POST /checkout_sessions`` is measured against in ``bench/checkout_create.sh``.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from fastapi import APIRouter
from sqlalchemy.dialects.postgresql import insert

from merchant.http.auth import AnyPrincipal
from merchant.http.deps import SessionDep
from merchant.http.routing import TransactionalRoute
from merchant.idempotency.models import IdempotencyRecord
from merchant.kit.clock import utc_now

router = APIRouter(prefix="/_bench", route_class=TransactionalRoute, include_in_schema=False)


@router.post("/insert", status_code=201)
async def insert_one(principal: AnyPrincipal, session: SessionDep) -> dict[str, str]:
    key = secrets.token_hex(8)
    now = utc_now()
    await session.execute(
        insert(IdempotencyRecord).values(
            principal=principal.key_id,
            endpoint="POST /_bench/insert",
            key=key,
            fingerprint="0" * 64,
            status_code=201,
            content_type=None,
            body=b"",
            created_at=now,
            expires_at=now + timedelta(hours=1),
        )
    )
    return {"key": key}
