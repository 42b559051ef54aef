"""Fraud assessments as stored: one per complete attempt, with every signal that went into it.

The identifying columns (email, IP, device and card fingerprints) are copied out of ``inputs``
so that velocity counts are index range scans. Orders and checkout sessions belong to other
packages and are referred to by id only (no foreign keys).
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
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from merchant.db.base import Base, sql_in

DECISIONS = ("approve", "review", "block")
SOURCES = ("rules", "payment", "event")  # the assessment, the charge's outcome, a later event


def _velocity_index(column: str) -> Index:
    """``(column, created_at)`` for rows where ``column`` is known: one range scan per count."""
    return Index(
        f"ix_fraud_assessment_{column}_created_at",
        column,
        "created_at",
        postgresql_where=text(f"{column} IS NOT NULL"),
    )


class FraudAssessment(Base):
    __tablename__ = "fraud_assessment"
    __table_args__ = (
        CheckConstraint(sql_in("decision", DECISIONS), name="decision"),
        CheckConstraint("score BETWEEN 0 AND 100", name="score"),
        _velocity_index("email"),
        _velocity_index("device_fingerprint"),
        _velocity_index("ip_address"),
        _velocity_index("card_fingerprint"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # fa_<24 hex>
    checkout_session_id: Mapped[str] = mapped_column(String(40), index=True)
    order_id: Mapped[str | None] = mapped_column(String(40), index=True)
    email: Mapped[str | None] = mapped_column(String(320))  # lower-cased
    ip_address: Mapped[str | None] = mapped_column(String(64))  # canonical text (rules.normalize_ip)
    device_fingerprint: Mapped[str | None] = mapped_column(String(256))
    card_fingerprint: Mapped[str | None] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)  # minor units
    currency: Mapped[str] = mapped_column(String(3))
    score: Mapped[int] = mapped_column(SmallInteger)
    decision: Mapped[str] = mapped_column(String(8))  # approve | review | block
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONB)  # rules.FraudInputs as JSON
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class FraudSignal(Base):
    """One rule's finding: what it saw (``value``), what it added to the score, why."""

    __tablename__ = "fraud_signal"
    __table_args__ = (
        CheckConstraint(sql_in("source", SOURCES), name="source"),
        CheckConstraint("weight BETWEEN 0 AND 100", name="weight"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    assessment_id: Mapped[str] = mapped_column(
        ForeignKey("fraud_assessment.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))  # velocity.email:60m, radar, dispute, ...
    value: Mapped[Any] = mapped_column(JSONB)  # JSON null when the input was not known
    weight: Mapped[int] = mapped_column(SmallInteger)
    detail: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(8))  # rules | payment | event
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
