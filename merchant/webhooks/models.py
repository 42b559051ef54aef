"""Order events as stored: written in the transaction of the order change that caused them.

``order_event`` holds the full order as it was after the change (rendered in the platform's ACP
version), so a late or repeated delivery is harmless; its id is stable across retries (receivers
dedupe on it). Every delivery attempt is kept in ``webhook_attempt``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from merchant.db.base import Base, sql_in

EVENT_STATUSES = ("pending", "delivered", "dead")


class OrderEvent(Base):
    __tablename__ = "order_event"
    __table_args__ = (
        CheckConstraint(sql_in("status", EVENT_STATUSES), name="status"),
        CheckConstraint(sql_in("type", ("order_create", "order_update")), name="type"),
        Index("ix_order_event_order_sequence", "order_id", "sequence", unique=True),
        Index("ix_order_event_pending", "created_at", postgresql_where=text("status = 'pending'")),
        # Staff lists, newest first and keyset-paged on (created_at, id): unfiltered, by status, by platform.
        Index("ix_order_event_created_at", "created_at", "id"),
        Index("ix_order_event_status_created_at", "status", "created_at", "id"),
        Index("ix_order_event_platform_created_at", "platform_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # evt_<24 hex>, the Webhook-Id
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"))
    platform_id: Mapped[str] = mapped_column(ForeignKey("agent_platform.id"))
    type: Mapped[str] = mapped_column(String(16))
    sequence: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per order: the order of changes
    acp_version: Mapped[str] = mapped_column(String(10))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    delivered_at: Mapped[datetime | None]
    dead_at: Mapped[datetime | None]
    # When staff last retried or replayed it: a new 72 h retry window starts there.
    requeued_at: Mapped[datetime | None]


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempt"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("order_event.id", ondelete="CASCADE"), index=True)
    request_id: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime]
    duration_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)  # None: no answer (timeout, refused)
    error: Mapped[str | None] = mapped_column(Text)
    response_excerpt: Mapped[str | None] = mapped_column(Text)  # the first KiB of the answer
