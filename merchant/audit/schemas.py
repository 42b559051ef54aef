"""Wire shapes of ``GET /admin/v1/audit``: a keyset page of audit events, newest first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from merchant.audit.models import AuditEvent


class Actor(BaseModel):
    key_id: str | None = Field(description="The API key id; null for an unauthenticated or system action.")
    role: str | None


class Target(BaseModel):
    type: str = Field(
        description="checkout_session, order, feed_run, variant, api_key, platform, webhook_event"
    )
    id: str | None


class AuditEventView(BaseModel):
    id: int
    occurred_at: datetime
    actor: Actor
    action: str = Field(description="checkout.create, order.refund, key.revoke, webhook_event.retry, ...")
    target: Target
    request_id: str | None = Field(description="The request's `Request-Id`.")
    idempotency_key: str | None
    signature_verdict: str | None = Field(
        description="ACP calls: `verified`, `verified_legacy` (a body-only signature inside the transition "
        "window), `unsigned` or `not_checked`; null where no signature is taken."
    )
    status_code: int | None = Field(description="The status the call answered.")
    before: dict[str, Any] | None = Field(description="A short summary of the target before the call.")
    after: dict[str, Any] | None = Field(description="A short summary of the target after the call.")

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEventView:
        return cls(
            id=event.id,
            occurred_at=event.occurred_at,
            actor=Actor(key_id=event.actor_key_id, role=event.actor_role),
            action=event.action,
            target=Target(type=event.target_type, id=event.target_id),
            request_id=event.request_id,
            idempotency_key=event.idempotency_key,
            signature_verdict=event.signature_verdict,
            status_code=event.status_code,
            before=event.before,
            after=event.after,
        )


class AuditEventPage(BaseModel):
    data: list[AuditEventView]
    has_more: bool
    next_cursor: int | None = Field(description="Send as `starting_after` for the next page.")

    @classmethod
    def of(cls, events: Sequence[AuditEvent], has_more: bool) -> AuditEventPage:
        return cls(
            data=[AuditEventView.of(event) for event in events],
            has_more=has_more,
            next_cursor=events[-1].id if has_more and events else None,
        )
