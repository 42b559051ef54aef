"""Procrastinate 3.10.0 job-queue schema

Installs the SQL that procrastinate ships for the pinned version. A later
procrastinate upgrade adds a revision applying that version's migration files
(procrastinate/sql/migrations), before the new version is deployed.

Revision ID: a1f0c3d2e4b5
Revises:
Create Date: 2026-11-25 11:00:00
"""

from collections.abc import Sequence

import procrastinate
from alembic import op
from procrastinate.schema import SchemaManager

revision: str = "a1f0c3d2e4b5"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PROCRASTINATE_VERSION = "3.10.0"

DROP_SCHEMA = r"""
DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers,
    procrastinate_jobs, procrastinate_workers CASCADE;
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT p.oid::regprocedure AS sig FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\_%'
    LOOP
        EXECUTE 'DROP FUNCTION ' || r.sig || ' CASCADE';
    END LOOP;
    FOR r IN SELECT t.typname FROM pg_type t
             JOIN pg_namespace n ON n.oid = t.typnamespace
             WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate\_%'
               AND t.typtype IN ('e', 'c')
    LOOP
        EXECUTE format('DROP TYPE %I CASCADE', r.typname);
    END LOOP;
END $$;
"""


def upgrade() -> None:
    if procrastinate.__version__ != PROCRASTINATE_VERSION:
        raise RuntimeError(
            f"this revision installs procrastinate {PROCRASTINATE_VERSION}'s schema, "
            f"but {procrastinate.__version__} is installed"
        )
    op.get_bind().exec_driver_sql(_literal(SchemaManager.get_schema()))


def downgrade() -> None:
    op.get_bind().exec_driver_sql(_literal(DROP_SCHEMA))


def _literal(script: str) -> str:
    # The driver sees '%' as a placeholder marker: double it to pass the SQL verbatim.
    return script.replace("%", "%%")
