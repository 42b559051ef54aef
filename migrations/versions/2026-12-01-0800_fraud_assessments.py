"""fraud assessments

Revision ID: f7a1c0de0800
Revises: 9e24853c090d
Create Date: 2026-12-01 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "f7a1c0de0800"
down_revision: str | None = "9e24853c090d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (column, created_at) for rows where the column is known: the velocity counts.
VELOCITY_COLUMNS = ("email", "device_fingerprint", "ip_address", "card_fingerprint")


def upgrade() -> None:
    op.create_table(
        "fraud_assessment",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("checkout_session_id", sa.String(length=40), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("ip_address", sa.String(length=64), nullable=True),
        sa.Column("device_fingerprint", sa.String(length=256), nullable=True),
        sa.Column("card_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column("decision", sa.String(length=8), nullable=False),
        sa.Column("inputs", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "decision IN ('approve', 'review', 'block')", name=op.f("ck_fraud_assessment_decision")
        ),
        sa.CheckConstraint("score BETWEEN 0 AND 100", name=op.f("ck_fraud_assessment_score")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fraud_assessment")),
    )
    op.create_index(
        op.f("ix_fraud_assessment_checkout_session_id"), "fraud_assessment", ["checkout_session_id"]
    )
    op.create_index(op.f("ix_fraud_assessment_order_id"), "fraud_assessment", ["order_id"])
    for column in VELOCITY_COLUMNS:
        op.create_index(
            f"ix_fraud_assessment_{column}_created_at",
            "fraud_assessment",
            [column, "created_at"],
            postgresql_where=sa.text(f"{column} IS NOT NULL"),
        )
    op.create_table(
        "fraud_signal",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("assessment_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("weight", sa.SmallInteger(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("source IN ('rules', 'payment', 'event')", name=op.f("ck_fraud_signal_source")),
        sa.CheckConstraint("weight BETWEEN 0 AND 100", name=op.f("ck_fraud_signal_weight")),
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["fraud_assessment.id"],
            name=op.f("fk_fraud_signal_assessment_id_fraud_assessment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fraud_signal")),
    )
    op.create_index(op.f("ix_fraud_signal_assessment_id"), "fraud_signal", ["assessment_id"])


def downgrade() -> None:
    op.drop_table("fraud_signal")
    op.drop_table("fraud_assessment")
