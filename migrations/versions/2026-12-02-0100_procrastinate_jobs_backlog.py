"""procrastinate_jobs: keep job fetching fast when a backlog builds up

``procrastinate_fetch_job_v2`` skips a job while an earlier job with the same lock is waiting or
running (our webhook jobs lock on the order). procrastinate's own index for that check is
``(id, lock)``, where ``lock`` is not the leading column. When the table's statistics were taken
before a backlog built (the normal case after a receiver or worker outage: autovacuum re-analyzes
only after 10 % of a table that keeps 72 h of finished jobs has changed), the plan probes every
waiting job that way: each fetch costs O(backlog^2) index reads, 122-131 ms per job at 3,000 waiting
(bench/RESULTS.md, issue 6), so a backlog drains at 10-35 jobs/s instead of ~220.

* ``ix_procrastinate_jobs_lock_id (lock, id) WHERE status IN ('todo', 'doing')``: the check becomes
  one index probe per lock (4.8-5.1 ms per fetch + finish with the same stale statistics).
* Re-analyze after 1,000 changed rows whatever the table's size, so the planner learns about a
  backlog within one autovacuum round (``autovacuum_naptime``, 1 min by default).

The index is built ``CONCURRENTLY`` (workers keep fetching meanwhile).

Revision ID: 5e1f0c2a9b47
Revises: 183bc1b11be0
Create Date: 2026-12-02 01:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5e1f0c2a9b47"
down_revision: str | None = "183bc1b11be0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE procrastinate_jobs"
        " SET (autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 1000)"
    )
    with op.get_context().autocommit_block():
        op.execute(
            "CREATE INDEX CONCURRENTLY ix_procrastinate_jobs_lock_id ON procrastinate_jobs (lock, id)"
            " WHERE status IN ('todo', 'doing')"
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("DROP INDEX CONCURRENTLY ix_procrastinate_jobs_lock_id")
    op.execute(
        "ALTER TABLE procrastinate_jobs RESET (autovacuum_analyze_scale_factor, autovacuum_analyze_threshold)"
    )
