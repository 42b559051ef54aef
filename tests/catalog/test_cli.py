"""`merchant catalog import` and `export` run as operators run them: subprocesses, real database."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from merchant.catalog.models import FeedRun, Variant
from merchant.db import create_sessionmaker, transaction
from tests.catalog.helpers import FEEDS
from tests.cli.helpers import run_cli

pytestmark = pytest.mark.slow


async def listed_ids(engine: AsyncEngine) -> set[str]:
    async with transaction(create_sessionmaker(engine)) as session:
        return set(await session.scalars(select(Variant.id).where(Variant.delisted_at.is_(None))))


async def last_run(engine: AsyncEngine) -> FeedRun:
    async with transaction(create_sessionmaker(engine)) as session:
        run = await session.scalar(select(FeedRun).order_by(FeedRun.created_at.desc()).limit(1))
        assert run is not None
        return run


async def test_import_prints_a_summary_and_row_errors(
    committed: AsyncEngine, subprocess_env: dict[str, str]
) -> None:
    done = run_cli("catalog", "import", str(FEEDS / "openai.csv"), "--errors", "3", env=subprocess_env)
    assert done.returncode == 0, done.stderr
    assert "succeeded" in done.stderr
    assert "5 accepted, 6 rejected" in done.stderr
    assert "Row errors (first 3 of 6 rows)" in done.stderr
    assert await listed_ids(committed) == {"tee-red-s", "tee-red-m", "mug", "yen", "dinar"}
    run = await last_run(committed)
    assert (run.requested_by, run.source_kind, run.format) == ("cli", "file", "openai-csv")


async def test_a_failed_run_exits_non_zero_and_changes_nothing(
    committed: AsyncEngine, subprocess_env: dict[str, str]
) -> None:
    assert run_cli("catalog", "import", str(FEEDS / "openai.csv"), env=subprocess_env).returncode == 0
    done = run_cli("catalog", "import", str(FEEDS / "bomb.xml"), "--mode", "snapshot", env=subprocess_env)
    assert done.returncode == 1
    assert "forbidden_xml" in done.stderr
    assert len(await listed_ids(committed)) == 5
    assert (await last_run(committed)).status == "failed"


def test_missing_file_and_bad_option_are_usage_errors(subprocess_env: dict[str, str], tmp_path: Path) -> None:
    missing = run_cli("catalog", "import", str(tmp_path / "nope.csv"), env=subprocess_env)
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr
    bad_mode = run_cli(
        "catalog", "import", str(FEEDS / "openai.csv"), "--mode", "replace", env=subprocess_env
    )
    assert bad_mode.returncode == 2


async def test_export_then_snapshot_import_round_trips(
    committed: AsyncEngine, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    assert run_cli("catalog", "import", str(FEEDS / "openai.csv"), env=subprocess_env).returncode == 0
    out = tmp_path / "catalog.jsonl.gz"
    done = run_cli("catalog", "export", str(out), "--format", "openai-jsonl", "--gzip", env=subprocess_env)
    assert done.returncode == 0, done.stderr
    assert "Exported 5 variants" in done.stdout

    again = run_cli("catalog", "import", str(out), "--mode", "snapshot", env=subprocess_env)
    assert again.returncode == 0, again.stderr
    run = await last_run(committed)
    assert (run.format, run.rows_accepted, run.rows_rejected) == ("openai-jsonl", 5, 0)
    assert (run.variants_created, run.variants_updated, run.variants_delisted) == (0, 0, 0)

    acp = tmp_path / "acp"
    done = run_cli(
        "catalog",
        "export",
        str(acp),
        "--format",
        "acp",
        "--feed-id",
        "feed_x",
        "--target-country",
        "US",
        env=subprocess_env,
    )
    assert done.returncode == 0, done.stderr
    assert orjson.loads((acp / "metadata.json").read_bytes())["id"] == "feed_x"
    assert len((acp / "products.jsonl").read_bytes().splitlines()) == 4  # tee (2 variants), mug, yen, dinar


@pytest.mark.parametrize(("mappers", "with_processes"), [("2", True), ("0", False)])
async def test_mapper_processes_follow_the_settings(
    committed: AsyncEngine, subprocess_env: dict[str, str], mappers: str, with_processes: bool
) -> None:
    env = {**subprocess_env, "MERCHANT_FEED_MAPPER_MIN_BYTES": "0", "MERCHANT_FEED_MAPPERS": mappers}
    done = run_cli("catalog", "import", str(FEEDS / "google.xml"), env=env)
    assert done.returncode == 0, done.stderr
    run = await last_run(committed)
    assert (run.status, run.rows_accepted, run.rows_rejected) == ("succeeded", 1, 1)
    assert ("mapper_peak_rss_mb" in run.timings) is with_processes
