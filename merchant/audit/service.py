"""Write and read the audit trail (no HTTP here; the caller's transaction, never a commit).

``record`` is one Core INSERT built once: it runs on every agent call. A row commits or rolls
back with the change it describes, so the trail never tells of a change that did not happen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Literal, cast

from sqlalchemy import ColumnElement, Table, bindparam, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.audit.models import AuditEvent
from merchant.errors import InvalidRequest
from merchant.identity.service import Principal


@dataclass(frozen=True)
class AuditContext:
    """What the request itself says about a call: filled in at the HTTP edge."""

    request_id: str | None
    idempotency_key: str | None
    signature_verdict: str | None  # merchant.identity.signatures.Verdict; None: the route takes none


class Previous(Enum):
    AFTER = "previous_after"


PREVIOUS_AFTER = Previous.AFTER
"""``before=PREVIOUS_AFTER``: the ``after`` of the target's latest row, read inside the INSERT (no
extra round trip). Right when every change to the target is recorded and serialised (a row lock)."""

Summary = Mapping[str, Any]

_TABLE = cast(Table, AuditEvent.__table__)
_INSERT = insert(_TABLE)
_INSERT_WITH_PREVIOUS = insert(_TABLE).values(
    before=select(_TABLE.c.after)
    .where(
        _TABLE.c.target_type == bindparam("previous_type"),
        _TABLE.c.target_id == bindparam("previous_id"),
    )
    .order_by(_TABLE.c.occurred_at.desc(), _TABLE.c.id.desc())
    .limit(1)
    .scalar_subquery()
)


async def record(
    session: AsyncSession,
    *,
    actor: Principal | None,
    action: str,
    target_type: str,
    target_id: str | None,
    context: AuditContext,
    before: Summary | Literal[Previous.AFTER] | None = None,
    after: Summary | None = None,
    status_code: int | None = None,
    now: datetime,
) -> None:
    """Append one row in the caller's transaction (``actor`` None: unauthenticated or system)."""
    values: dict[str, Any] = {
        "occurred_at": now,
        "actor_key_id": actor.key_id if actor else None,
        "actor_role": actor.role.value if actor else None,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "request_id": context.request_id,
        "idempotency_key": context.idempotency_key,
        "signature_verdict": context.signature_verdict,
        "status_code": status_code,
        "after": dict(after) if after is not None else None,
    }
    if before is PREVIOUS_AFTER:
        await session.execute(
            _INSERT_WITH_PREVIOUS, {**values, "previous_type": target_type, "previous_id": target_id}
        )
        return
    await session.execute(_INSERT, {**values, "before": dict(before) if before is not None else None})


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asked for a change and the request that carried it.

    For services that commit their own transactions (order operations call Stripe between
    two): they record with it in the transaction that makes the change, never after it.
    """

    principal: Principal | None
    context: AuditContext

    async def record(
        self,
        session: AsyncSession,
        *,
        action: str,
        target_type: str,
        target_id: str | None,
        before: Summary | None = None,
        after: Summary | None = None,
        status_code: int | None = None,
        now: datetime,
    ) -> None:
        await record(
            session, actor=self.principal, action=action, target_type=target_type, target_id=target_id,
            context=self.context, before=before, after=after, status_code=status_code, now=now,
        )  # fmt: skip


# Reading


@dataclass(frozen=True, slots=True)
class Page:
    items: Sequence[AuditEvent]
    has_more: bool


@dataclass(frozen=True, slots=True)
class Filters:
    actor_key_id: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


def _conditions(filters: Filters) -> list[ColumnElement[bool]]:
    columns = (
        (AuditEvent.actor_key_id, filters.actor_key_id),
        (AuditEvent.action, filters.action),
        (AuditEvent.target_type, filters.target_type),
        (AuditEvent.target_id, filters.target_id),
    )
    conditions = [column == value for column, value in columns if value is not None]
    if filters.since is not None:
        conditions.append(AuditEvent.occurred_at >= filters.since)
    if filters.until is not None:
        conditions.append(AuditEvent.occurred_at < filters.until)
    return conditions


async def _older_than(session: AsyncSession, event_id: int) -> ColumnElement[bool]:
    """Rows older than ``event_id`` in the list's (occurred_at, id) order."""
    occurred_at = await session.scalar(select(AuditEvent.occurred_at).where(AuditEvent.id == event_id))
    if occurred_at is None:
        raise InvalidRequest(
            f"No audit event {event_id} to start after.", code="invalid_value", param="$.query.starting_after"
        )
    return tuple_(AuditEvent.occurred_at, AuditEvent.id) < tuple_(occurred_at, event_id)


async def list_events(
    session: AsyncSession,
    *,
    actor_key_id: str | None = None,
    action: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    starting_after: int | None = None,
    limit: int,
) -> Page:
    """Newest first (occurred_at, then id); the cursor is the last id of the previous page."""
    conditions = _conditions(Filters(actor_key_id, action, target_type, target_id, since, until))
    if starting_after is not None:
        conditions.append(await _older_than(session, starting_after))
    query = (
        select(AuditEvent)
        .where(*conditions)
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
        .limit(limit + 1)
    )
    rows = (await session.scalars(query)).all()
    return Page(rows[:limit], len(rows) > limit)
