"""payment.unit_prices: the unit prices a charge was made at

The order of a paid session is made at these prices, not at the catalog's prices when the charge's
outcome is recorded (a feed may reprice a variant meanwhile; the reconcile job settles a charge
minutes later). Nullable: payments made before this revision are priced from the catalog as before.

Revision ID: ceb6b410ee00
Revises: 7c3d9e1f2a60
Create Date: 2026-12-02 01:46:44.608698
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "ceb6b410ee00"
down_revision: str | None = "7c3d9e1f2a60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("payment", sa.Column("unit_prices", postgresql.JSONB(astext_type=sa.Text()), nullable=True))


def downgrade() -> None:
    op.drop_column("payment", "unit_prices")
