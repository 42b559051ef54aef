"""Checkout sessions as stored: what the agent asked for, in the canonical (wire-free) shape.

Derived data (prices, options, totals, messages, the status while open) is recomputed from
the catalog on every read and write by ``checkout.evaluate``; only what the agent sent, the
terminal states and the deadlines are stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from merchant.db.base import Base


class CheckoutSession(Base):
    __tablename__ = "checkout_session"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'completed', 'canceled', 'expired')", name="status"),
        Index("ix_checkout_session_open_expiry", "expires_at", postgresql_where="status = 'open'"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # cs_<24 hex>
    owner: Mapped[str] = mapped_column(String(64), index=True)  # the agent API key id
    platform_id: Mapped[str | None] = mapped_column(String(40))  # the key's agent platform
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | completed | canceled | expired
    currency: Mapped[str] = mapped_column(String(3))
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)  # [{"id": variant id, "quantity": n}]
    buyer: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    fulfillment_details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    selected_option: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(35))
    order_notes: Mapped[str | None] = mapped_column(Text)
    session_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, default=dict)
    # The interventions the agent said it can handle (capabilities.interventions.supported).
    agent_interventions: Mapped[list[str]] = mapped_column(JSONB, default=list)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())  # set by the service
    expires_at: Mapped[datetime]
    canceled_at: Mapped[datetime | None]
    # One complete at a time (checkout.complete): held across the PSP call without holding a
    # database connection; a lease left by a dead process runs out and is taken over.
    completion_lease_until: Mapped[datetime | None]
    completion_lease_token: Mapped[str | None] = mapped_column(String(32))
