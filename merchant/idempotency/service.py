"""Claim a key, replay its stored answer, or record a new one (no HTTP here).

Concurrency: a transaction-scoped advisory lock per ``(caller, endpoint, key)`` is taken
without waiting. If another request holds it, that request is still running ->
``KeyInFlight``; the lock is released when its transaction ends, by which time its answer
is committed (and replayed) or rolled back (and the key is free again). The answer is
saved in the same transaction as the business change it describes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.idempotency.errors import InvalidKey, KeyConflict, KeyInFlight, KeyRequired
from merchant.idempotency.models import IdempotencyRecord

MAX_KEY_LENGTH = 255

# Built once: Core statements on the table (the ORM path cost ~0.3 ms per request in profiles).
_TABLE = cast(Table, IdempotencyRecord.__table__)
_LOCK = select(func.pg_try_advisory_xact_lock(bindparam("lock_id")))
_FIND = select(
    _TABLE.c.fingerprint, _TABLE.c.status_code, _TABLE.c.content_type, _TABLE.c.body, _TABLE.c.expires_at
).where(
    _TABLE.c.principal == bindparam("principal"),
    _TABLE.c.endpoint == bindparam("endpoint"),
    _TABLE.c.key == bindparam("key"),
)
_FORGET = delete(_TABLE).where(
    _TABLE.c.principal == bindparam("principal"),
    _TABLE.c.endpoint == bindparam("endpoint"),
    _TABLE.c.key == bindparam("key"),
)
_UPSERT = insert(_TABLE)
_SAVE = _UPSERT.on_conflict_do_update(
    index_elements=[_TABLE.c.principal, _TABLE.c.endpoint, _TABLE.c.key],
    set_={
        column: _UPSERT.excluded[column]
        for column in ("fingerprint", "status_code", "content_type", "body", "created_at", "expires_at")
    },
)


@dataclass(frozen=True, slots=True)
class Scope:
    principal: str  # the API key id
    endpoint: str  # "POST /checkout_sessions/cs_1/complete"
    key: str

    def lock_id(self) -> int:
        """A signed 64-bit advisory lock id for this scope."""
        digest = hashlib.sha256(f"{self.principal}\n{self.endpoint}\n{self.key}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)


@dataclass(frozen=True, slots=True)
class Answer:
    status_code: int
    content_type: str | None
    body: bytes


def check_key(value: str | None) -> str:
    """The ``Idempotency-Key`` header: 1 to 255 visible ASCII characters."""
    if value is None or value == "":
        raise KeyRequired("Send an Idempotency-Key header (a UUID is a good choice) with every POST.")
    if len(value) > MAX_KEY_LENGTH or not value.isascii() or not value.isprintable():
        raise InvalidKey(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} visible ASCII characters.")
    return value


async def claim(session: AsyncSession, scope: Scope, fingerprint: str, *, now: datetime) -> Answer | None:
    """Own ``scope`` for this transaction; returns the stored answer when it is a replay."""
    if not await session.scalar(_LOCK, {"lock_id": scope.lock_id()}):
        raise KeyInFlight("A request with this Idempotency-Key is still being processed; retry shortly.")
    # A statement of its own, after the lock is held: under read committed a statement that took
    # the lock could not see the record its just-committed twin saved.
    where = {"principal": scope.principal, "endpoint": scope.endpoint, "key": scope.key}
    record = (await session.execute(_FIND, where)).one_or_none()
    if record is None:
        return None
    if record.expires_at <= now:  # past retention: the key is new again
        await session.execute(_FORGET, where)
        return None
    if record.fingerprint != fingerprint:
        raise KeyConflict("This Idempotency-Key was already used with a different request body.")
    return Answer(record.status_code, record.content_type, record.body)


async def save(
    session: AsyncSession,
    scope: Scope,
    fingerprint: str,
    answer: Answer,
    *,
    now: datetime,
    retention: timedelta,
) -> None:
    """Record the answer of a claimed scope (the caller holds its lock)."""
    values = {
        "principal": scope.principal,
        "endpoint": scope.endpoint,
        "key": scope.key,
        "fingerprint": fingerprint,
        "status_code": answer.status_code,
        "content_type": answer.content_type,
        "body": answer.body,
        "created_at": now,
        "expires_at": now + retention,
    }
    await session.execute(_SAVE, values)


async def purge_expired(session: AsyncSession, *, now: datetime) -> int:
    result = await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
