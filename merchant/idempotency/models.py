"""Stored answers to idempotent requests, kept for the retention period."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, LargeBinary, SmallInteger, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from merchant.db.base import Base


class IdempotencyRecord(Base):
    """One ``(caller, method + path, key)``: the request's fingerprint and the answer it got."""

    __tablename__ = "idempotency_record"
    __table_args__ = (Index("ix_idempotency_record_expires_at", "expires_at"),)

    principal: Mapped[str] = mapped_column(String(64), primary_key=True)  # API key id
    endpoint: Mapped[str] = mapped_column(String(300), primary_key=True)  # "POST /checkout_sessions"
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of the canonical body
    # NULL while the request that claimed the key is still running (a pending claim, held until
    # ``locked_until`` by requests that commit before they end, such as a complete).
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    content_type: Mapped[str | None] = mapped_column(Text)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]
