"""``audit_event``: one row per staff mutation or agent call, never updated or deleted.

Append-only is enforced in the database: a trigger (see the audit migration) raises on UPDATE
and DELETE. Targets are referred to by type and id only (no foreign keys: the trail outlives
what it describes).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Identity, Index, SmallInteger, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from merchant.db.base import Base


class AuditEvent(Base):
    __tablename__ = "audit_event"
    # One index per filter of GET /admin/v1/audit, each ending in the (occurred_at, id) sort.
    __table_args__ = (
        Index("ix_audit_event_occurred_at", "occurred_at", "id"),
        Index("ix_audit_event_actor_key_id_occurred_at", "actor_key_id", "occurred_at", "id"),
        Index("ix_audit_event_target_occurred_at", "target_type", "target_id", "occurred_at", "id"),
        Index("ix_audit_event_action_occurred_at", "action", "occurred_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    occurred_at: Mapped[datetime]
    actor_key_id: Mapped[str | None] = mapped_column(String(64))  # null: unauthenticated or system
    actor_role: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))  # checkout.create, variant.inventory_update, ...
    target_type: Mapped[str] = mapped_column(String(32))  # checkout_session, feed_run, variant, ...
    target_id: Mapped[str | None] = mapped_column(String(255))
    request_id: Mapped[str | None] = mapped_column(String(128))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    signature_verdict: Mapped[str | None] = mapped_column(String(16))  # null: the route takes none
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # a short summary, not the object
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
