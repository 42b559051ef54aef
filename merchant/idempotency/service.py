"""Claim a key, replay its stored answer, or record a new one (no HTTP here).

Concurrency: a transaction-scoped advisory lock per ``(caller, endpoint, key)`` is taken
without waiting. If another request holds it, that request is still running ->
``KeyInFlight``; the lock is released when its transaction ends, by which time its answer
is committed (and replayed) or rolled back (and the key is free again). The answer is
saved in the same transaction as the business change it describes.

A request that commits before it ends (a complete commits between its recovery points, so that
it holds no connection while the PSP answers) claims with ``hold``: the claim is also written as
a pending row (no answer yet) that stays in flight until ``locked_until``. Its answer is written
over it at the end, or the row is released; a claim left by a dead process runs out and the
next request with the key takes it over.
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
    _TABLE.c.fingerprint,
    _TABLE.c.status_code,
    _TABLE.c.content_type,
    _TABLE.c.body,
    _TABLE.c.expires_at,
    _TABLE.c.locked_until,
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
_RELEASE = delete(_TABLE).where(
    _TABLE.c.principal == bindparam("principal"),
    _TABLE.c.endpoint == bindparam("endpoint"),
    _TABLE.c.key == bindparam("key"),
    _TABLE.c.status_code.is_(None),
)
_UPSERT = insert(_TABLE)
_SAVE = _UPSERT.on_conflict_do_update(
    index_elements=[_TABLE.c.principal, _TABLE.c.endpoint, _TABLE.c.key],
    set_={
        column: _UPSERT.excluded[column]
        for column in (
            "fingerprint",
            "status_code",
            "content_type",
            "body",
            "created_at",
            "expires_at",
            "locked_until",
        )
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


_IN_FLIGHT = "A request with this Idempotency-Key is still being processed; retry shortly."


@dataclass(frozen=True, slots=True)
class Hold:
    """A claim that outlives its transaction: in flight for ``lease``, kept for ``retention``."""

    lease: timedelta
    retention: timedelta


async def claim(
    session: AsyncSession, scope: Scope, fingerprint: str, *, now: datetime, hold: Hold | None = None
) -> Answer | None:
    """Own ``scope`` for this transaction (and, with ``hold``, past it until the lease runs out);
    returns the stored answer when it is a replay."""
    if not await session.scalar(_LOCK, {"lock_id": scope.lock_id()}):
        raise KeyInFlight(_IN_FLIGHT)
    # A statement of its own, after the lock is held: under read committed a statement that took
    # the lock could not see the record its just-committed twin saved.
    where = {"principal": scope.principal, "endpoint": scope.endpoint, "key": scope.key}
    record = (await session.execute(_FIND, where)).one_or_none()
    if record is not None and record.expires_at <= now:  # past retention: the key is new again
        await session.execute(_FORGET, where)
        record = None
    if record is not None:
        if record.fingerprint != fingerprint:
            raise KeyConflict("This Idempotency-Key was already used with a different request body.")
        if record.status_code is not None:
            return Answer(record.status_code, record.content_type, record.body or b"")
        if record.locked_until is not None and record.locked_until > now:
            raise KeyInFlight(_IN_FLIGHT)
        # A pending claim whose lease ran out: its request died; this one takes the key over.
    if hold is not None:
        await session.execute(_SAVE, _values(scope, fingerprint, None, now=now, hold=hold))
    return None


async def release(session: AsyncSession, scope: Scope) -> None:
    """Give up a pending claim that ended without an answer to keep (the key is free again)."""
    await session.execute(
        _RELEASE, {"principal": scope.principal, "endpoint": scope.endpoint, "key": scope.key}
    )


def _values(
    scope: Scope, fingerprint: str, answer: Answer | None, *, now: datetime, hold: Hold
) -> dict[str, object]:
    return {
        "principal": scope.principal,
        "endpoint": scope.endpoint,
        "key": scope.key,
        "fingerprint": fingerprint,
        "status_code": answer.status_code if answer else None,
        "content_type": answer.content_type if answer else None,
        "body": answer.body if answer else None,
        "created_at": now,
        "expires_at": now + hold.retention,
        "locked_until": None if answer else now + hold.lease,
    }


async def save(
    session: AsyncSession,
    scope: Scope,
    fingerprint: str,
    answer: Answer,
    *,
    now: datetime,
    retention: timedelta,
) -> None:
    """Record the answer of a claimed scope (over its pending row, if the claim was held)."""
    await session.execute(
        _SAVE, _values(scope, fingerprint, answer, now=now, hold=Hold(timedelta(0), retention))
    )


async def purge_expired(session: AsyncSession, *, now: datetime) -> int:
    result = await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
