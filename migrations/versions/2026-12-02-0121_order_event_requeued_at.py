"""order_event.requeued_at: a staff retry or replay opens a new 72 h retry window

Until now the window counted from the change only, so a dead letter retried after a long outage
was dead again on its first transient failure. Nullable, no default: no table rewrite.

Revision ID: 2ebfb57a9c2a
Revises: 5e1f0c2a9b47
Create Date: 2026-12-02 01:21:02.462060
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2ebfb57a9c2a"
down_revision: str | None = "5e1f0c2a9b47"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("order_event", sa.Column("requeued_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("order_event", "requeued_at")
