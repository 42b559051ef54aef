"""Import -> export -> import is lossless, and the ACP export is valid against the official schema."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from merchant.catalog.export import ExportFormat, export_catalog, iter_records
from merchant.catalog.models import Product, Variant
from merchant.catalog.records import FeedMode, VariantRecord
from merchant.db.transaction import transaction
from tests.catalog.acp_schema import assert_schema_valid
from tests.catalog.helpers import FEEDS, run_feed


async def catalog(sessions: async_sessionmaker[AsyncSession]) -> list[VariantRecord]:
    async with transaction(sessions) as session:
        return [record async for record in iter_records(session)]


async def export(sessions: async_sessionmaker[AsyncSession], fmt: ExportFormat, out: Path, gz: bool) -> int:
    async with transaction(sessions) as session:
        return await export_catalog(session, fmt, out, gzipped=gz, feed_id="feed_rt", target_country="US")


async def wipe(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with transaction(sessions) as session:
        await session.execute(delete(Variant))
        await session.execute(delete(Product))


@pytest.mark.parametrize(
    ("source", "fmt", "name"),
    [
        ("openai.csv", ExportFormat.OPENAI_CSV, "out.csv"),
        ("openai.csv", ExportFormat.OPENAI_JSONL, "out.jsonl"),
        ("acp", ExportFormat.ACP, "out"),
    ],
)
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
async def test_import_export_import_is_lossless(
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    source: str,
    fmt: ExportFormat,
    name: str,
    gz: bool,
) -> None:
    first = await run_feed(sessions, FEEDS / source)
    assert first.status == "succeeded"
    before = await catalog(sessions)
    assert len(before) == first.rows_accepted > 0

    out = tmp_path / (name + (".gz" if gz and fmt is not ExportFormat.ACP else ""))
    assert await export(sessions, fmt, out, gz) == len(before)
    await wipe(sessions)
    assert await catalog(sessions) == []

    again = await run_feed(sessions, out, mode=FeedMode.SNAPSHOT)
    assert (again.status, again.rows_rejected, again.variants_created) == ("succeeded", 0, len(before))
    assert await catalog(sessions) == before


async def test_export_skips_delisted_variants(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await run_feed(sessions, FEEDS / "openai.csv")
    lines = (FEEDS / "openai.csv").read_text().splitlines()
    only_mug = tmp_path / "mug.csv"
    only_mug.write_text("\n".join([lines[0], lines[3]]) + "\n")
    await run_feed(sessions, only_mug, mode=FeedMode.SNAPSHOT)

    out = tmp_path / "out.jsonl"
    assert await export(sessions, ExportFormat.OPENAI_JSONL, out, False) == 1
    [row] = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert row["item_id"] == "mug"


@pytest.mark.parametrize("source", ["openai.csv", "acp"])
async def test_acp_export_validates_against_the_official_schema(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, source: str
) -> None:
    await run_feed(sessions, FEEDS / source)
    out = tmp_path / "acp"
    count = await export(sessions, ExportFormat.ACP, out, True)

    metadata = orjson.loads((out / "metadata.json").read_bytes())
    assert_schema_valid(metadata, "FeedMetadata")
    assert (metadata["id"], metadata["target_country"]) == ("feed_rt", "US")
    products = [
        orjson.loads(line) for line in gzip.decompress((out / "products.jsonl.gz").read_bytes()).splitlines()
    ]
    for product in products:
        assert_schema_valid(product, "Product")
    assert sum(len(product["variants"]) for product in products) == count > 0
    assert len({product["id"] for product in products}) == len(products)  # one line per product
