"""audit events

Revision ID: a0d17e7e0900
Revises: 5b1458612210
Create Date: 2026-12-01 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "a0d17e7e0900"
down_revision: str | None = "5b1458612210"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Append-only in the database itself: any UPDATE or DELETE statement on the table fails.
# (TRUNCATE is left to whoever owns the table: test cleanup and deliberate purges.)
REFUSE_CHANGES = """
CREATE FUNCTION audit_event_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_event_append_only
    BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_refuse_change();
"""


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_key_id", sa.String(length=64), nullable=True),
        sa.Column("actor_role", sa.String(length=16), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.String(length=255), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("signature_verdict", sa.String(length=16), nullable=True),
        sa.Column("status_code", sa.SmallInteger(), nullable=True),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    op.create_index("ix_audit_event_occurred_at", "audit_event", ["occurred_at", "id"])
    op.create_index(
        "ix_audit_event_actor_key_id_occurred_at", "audit_event", ["actor_key_id", "occurred_at", "id"]
    )
    op.create_index(
        "ix_audit_event_target_occurred_at", "audit_event", ["target_type", "target_id", "occurred_at", "id"]
    )
    op.create_index("ix_audit_event_action_occurred_at", "audit_event", ["action", "occurred_at", "id"])
    op.execute(REFUSE_CHANGES)


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_event_append_only ON audit_event")
    op.execute("DROP FUNCTION audit_event_refuse_change()")
    op.drop_table("audit_event")
