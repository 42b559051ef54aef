"""order_event: indexes for the staff event lists (newest first, by status, by platform)

``GET /admin/v1/webhooks/events`` pages newest first on ``(created_at, id)``. Without an index to
walk, every page sorted the whole table (or the platform's or status's share of it): 150-250 ms
per page at 2,000,000 events. ``ix_order_event_platform_created_at`` replaces
``ix_order_event_platform_id`` (its leading column serves the foreign-key lookups). Built
``CONCURRENTLY``: deliveries go on meanwhile.

Revision ID: 7c3d9e1f2a60
Revises: 2ebfb57a9c2a
Create Date: 2026-12-02 01:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "7c3d9e1f2a60"
down_revision: str | None = "2ebfb57a9c2a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_order_event_created_at": "(created_at, id)",
    "ix_order_event_status_created_at": "(status, created_at, id)",
    "ix_order_event_platform_created_at": "(platform_id, created_at, id)",
}


def upgrade() -> None:
    with op.get_context().autocommit_block():
        for name, columns in INDEXES.items():
            op.execute(f"CREATE INDEX CONCURRENTLY {name} ON order_event {columns}")
        op.execute("DROP INDEX CONCURRENTLY ix_order_event_platform_id")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("CREATE INDEX CONCURRENTLY ix_order_event_platform_id ON order_event (platform_id)")
        for name in INDEXES:
            op.execute(f"DROP INDEX CONCURRENTLY {name}")
