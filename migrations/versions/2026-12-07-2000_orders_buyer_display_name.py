"""orders.buyer_display_name: the buyer's name as typed, for staff lists and the CSV export

``orders.buyer_name`` is lower-cased for the prefix search (its index); staff saw and exported that
lower-cased copy. The name as the buyer typed it is kept next to it (nullable, no default: no table
rewrite for the column) and filled for existing orders from ``buyer`` / ``fulfillment_details`` as
the order service derives it (full name, else first and last name, else the fulfilment name).

Revision ID: 7d3f2b8e1a60
Revises: 9a41c2e7d5f0
Create Date: 2026-12-07 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7d3f2b8e1a60"
down_revision: str | None = "9a41c2e7d5f0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("buyer_display_name", sa.String(length=300), nullable=True))
    op.execute(
        """
        UPDATE orders SET buyer_display_name = left(btrim(coalesce(
            nullif(buyer->>'full_name', ''),
            nullif(concat_ws(' ', nullif(buyer->>'first_name', ''), nullif(buyer->>'last_name', '')), ''),
            fulfillment_details->>'name',
            buyer_name
        )), 300)
        WHERE buyer_name IS NOT NULL
        """
    )


def downgrade() -> None:
    op.drop_column("orders", "buyer_display_name")
