"""``GET /admin/v1/audit``: the audit trail, filtered, newest first.

Operator and admin keys read it (decided): it names the keys behind every change and call, which
is more than a read-only viewer needs; agent and viewer keys get 403.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from merchant.audit import service
from merchant.audit.schemas import AuditEventPage
from merchant.http.auth import OperatorPrincipal
from merchant.http.deps import SessionDep
from merchant.http.routing import TransactionalRoute
from merchant.kit.json_guard import INT64_MAX

router = APIRouter(prefix="/admin/v1", route_class=TransactionalRoute, tags=["audit"])


@router.get("/audit", response_model=AuditEventPage, summary="The audit trail, newest first")
async def list_audit_events(
    session: SessionDep,
    _: OperatorPrincipal,
    actor: Annotated[str | None, Query(max_length=64, description="An API key id.")] = None,
    action: Annotated[str | None, Query(max_length=64, description="e.g. `checkout.complete`.")] = None,
    target_type: Annotated[str | None, Query(max_length=32, description="e.g. `checkout_session`.")] = None,
    target_id: Annotated[str | None, Query(max_length=255)] = None,
    since: Annotated[AwareDatetime | None, Query(description="RFC 3339; inclusive.")] = None,
    until: Annotated[AwareDatetime | None, Query(description="RFC 3339; exclusive.")] = None,
    starting_after: Annotated[
        int | None, Query(ge=1, le=INT64_MAX, description="The `next_cursor` of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 20,
) -> AuditEventPage:
    """Every agent call and staff change that succeeded, with who, what, which request and a
    before/after summary. Filters combine (AND)."""
    page = await service.list_events(
        session,
        actor_key_id=actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        since=since,
        until=until,
        starting_after=starting_after,
        limit=limit,
    )
    return AuditEventPage.of(page.items, page.has_more)
