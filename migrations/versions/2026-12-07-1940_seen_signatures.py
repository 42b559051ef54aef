"""Seen request signatures: a signature is accepted once inside its skew window

Before, a captured signed request could be sent again as long as its Timestamp was recent.
``seen_signature`` holds the SHA-256 of every accepted signature (of requests without an
Idempotency-Key) until its Timestamp leaves the window; a periodic job deletes expired rows.

Revision ID: 9a41c2e7d5f0
Revises: 4c0e7a21d9b3
Create Date: 2026-12-07 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9a41c2e7d5f0"
down_revision: str | None = "4c0e7a21d9b3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "seen_signature",
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_seen_signature")),
    )
    op.create_index("ix_seen_signature_expires_at", "seen_signature", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_seen_signature_expires_at", table_name="seen_signature")
    op.drop_table("seen_signature")
