"""Completion leases and pending idempotency records: a complete holds no connection across Stripe

A complete used to hold a pooled connection for the whole call (its per-session advisory lock and
the idempotency key's advisory lock live in a transaction) and asked for a second one for its
prepare step, so concurrent completes starved the pool. Both locks become rows that outlive the
transactions between the recovery points:

- ``checkout_session.completion_lease_until`` / ``completion_lease_token``: one complete per
  session at a time; a lease left by a dead process runs out and the next complete takes it over.
- ``idempotency_record`` rows with ``status_code IS NULL`` are claims in flight (until
  ``locked_until``); their answer is written over them when the request ends.

Revision ID: 4c0e7a21d9b3
Revises: ceb6b410ee00
Create Date: 2026-12-04 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4c0e7a21d9b3"
down_revision: str | None = "ceb6b410ee00"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("checkout_session", sa.Column("completion_lease_until", sa.DateTime(timezone=True)))
    op.add_column("checkout_session", sa.Column("completion_lease_token", sa.String(32)))
    op.alter_column("idempotency_record", "status_code", nullable=True)
    op.alter_column("idempotency_record", "body", nullable=True)
    op.add_column("idempotency_record", sa.Column("locked_until", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.execute("DELETE FROM idempotency_record WHERE status_code IS NULL")
    op.drop_column("idempotency_record", "locked_until")
    op.alter_column("idempotency_record", "body", nullable=False)
    op.alter_column("idempotency_record", "status_code", nullable=False)
    op.drop_column("checkout_session", "completion_lease_token")
    op.drop_column("checkout_session", "completion_lease_until")
