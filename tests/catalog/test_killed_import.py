"""``merchant catalog import`` killed (SIGKILL, with its mapper processes) in the middle of a feed.

The live catalog is untouched (the load is one transaction), the dead run is marked failed when
the next import starts, and importing the same file again succeeds.

Before: only the importing process itself could end its run, so a run whose process was killed
stayed ``running`` for ever: staff could not tell a dead import from a slow one.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from merchant.catalog.ingest import STARTING_GRACE
from merchant.catalog.models import FeedRun
from merchant.db import create_sessionmaker
from tests.catalog.helpers import FEEDS, run_feed
from tests.cli.helpers import background, kill_group, output_of, run_cli, until

pytestmark = pytest.mark.slow

ROWS = 30_000  # three chunks, mapped in processes
BENCH = Path(__file__).parents[2] / "bench"


@pytest.fixture(scope="module")
def big_feed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("feed") / "big.csv"
    generate = [sys.executable, str(BENCH / "feed_generate.py"), str(ROWS), str(path), "--seed", "7"]
    subprocess.run(generate, check=True, timeout=120, capture_output=True)
    return path


async def catalog(engine: AsyncEngine) -> tuple[int, int, str]:
    """Products, variants and a digest of every variant row: any change to the live catalog shows."""
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text(
                    "SELECT (SELECT count(*) FROM catalog_product), count(*),"
                    " md5(string_agg(v::text, '|' ORDER BY v.id)) FROM catalog_variant v"
                )
            )
        ).one()
    return int(row[0]), int(row[1]), str(row[2])


async def writing_the_live_catalog(engine: AsyncEngine) -> bool | None:
    """True once another session of this database has written catalog_variant (uncommitted)."""
    async with engine.connect() as connection:
        found = await connection.scalar(
            text(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                " WHERE c.relname = 'catalog_variant' AND l.mode = 'RowExclusiveLock'"
                " AND l.pid <> pg_backend_pid()"
                " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        )
    return True if found else None


async def gone(engine: AsyncEngine) -> bool | None:
    """True once PostgreSQL has ended the killed importer's session (no other open transaction)."""
    async with engine.connect() as connection:
        open_transactions = await connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
            )
        )
    return True if open_transactions == 0 else None


async def runs(engine: AsyncEngine) -> list[FeedRun]:
    async with create_sessionmaker(engine)() as session:
        return list(await session.scalars(select(FeedRun).order_by(FeedRun.created_at)))


async def test_a_killed_import_changes_nothing_is_marked_failed_and_the_same_file_imports_again(
    committed: AsyncEngine, subprocess_env: dict[str, str], big_feed: Path
) -> None:
    await run_feed(create_sessionmaker(committed), FEEDS / "openai.csv")
    before = await catalog(committed)

    with background("catalog", "import", str(big_feed), env=subprocess_env, group=True) as process:
        await until("the import writing the live catalog", lambda: writing_the_live_catalog(committed))
        kill_group(process)  # the importer and its mappers, mid-file
        assert process.returncode == -signal.SIGKILL, output_of(process)
    await until("PostgreSQL ending the killed importer's session", lambda: gone(committed))
    assert await catalog(committed) == before
    [_, dead] = await runs(committed)
    assert dead.status == "running"  # nobody is left to say otherwise...

    # ...until the next import: a run with no live process is failed before it starts.
    await until("the dead run outliving its starting grace", lambda: _older(committed, dead.id))
    again = run_cli("catalog", "import", str(big_feed), env=subprocess_env, timeout=180)
    assert again.returncode == 0, again.stderr

    [_, dead, succeeded] = await runs(committed)
    assert (dead.status, dead.error_code) == ("failed", "interrupted")
    assert dead.finished_at is not None
    assert (succeeded.status, succeeded.rows_total) == ("succeeded", ROWS)
    products, variants, _ = await catalog(committed)
    assert variants == before[1] + succeeded.variants_created > before[1]
    assert products > before[0]


async def _older(engine: AsyncEngine, run_id: str) -> bool | None:
    async with engine.connect() as connection:
        older = await connection.scalar(
            text(
                "SELECT started_at < now() - make_interval(secs => :grace)"
                " FROM catalog_feed_run WHERE id = :id"
            ),
            {"grace": STARTING_GRACE.total_seconds(), "id": run_id},
        )
    return True if older else None
