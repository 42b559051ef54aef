"""Seen request signatures (``seen_signature``): each one is accepted once inside its window."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.identity.models import SeenSignature
from merchant.identity.signatures import b64url_decode


def digest_of(signature: str) -> bytes:
    """The stored key: SHA-256 of the decoded signature bytes (so no other spelling of the same
    base64url, with or without padding, passes for a new signature)."""
    return hashlib.sha256(b64url_decode(signature)).digest()


async def first_use(session: AsyncSession, signature: str, *, expires_at: datetime) -> bool:
    """Record the signature; False when it was recorded before (a replay).

    Runs in the request's transaction: a concurrent request with the same signature waits for the
    first one's commit and then sees it; a request that rolls back leaves no trace (it had no effect).
    """
    statement = (
        insert(SeenSignature)
        .values(digest=digest_of(signature), expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=[SeenSignature.digest])
        .returning(SeenSignature.digest)
    )
    return (await session.execute(statement)).first() is not None


async def purge_expired(session: AsyncSession, *, now: datetime) -> int:
    result = await session.execute(delete(SeenSignature).where(SeenSignature.expires_at <= now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
