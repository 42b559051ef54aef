"""Feed runs end to end on real PostgreSQL: every format, row errors, file failures, modes."""

from __future__ import annotations

import csv
import gzip
import shutil
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from merchant.catalog import ingest, reader
from merchant.catalog.models import FeedRowError, FeedRun, Product
from merchant.catalog.records import FeedFormat, FeedMode
from merchant.kit.clock import utc_now
from tests.catalog.helpers import FEEDS, errors_of, run_feed, variants


class TestOpenAI:
    async def test_csv_loads_good_rows_and_reports_bad_ones(
        self, sessions: async_sessionmaker[AsyncSession], session: AsyncSession
    ) -> None:
        run = await run_feed(sessions, FEEDS / "openai.csv")
        assert (run.status, run.format) == ("succeeded", "openai-csv")
        stored = await variants(session)
        assert set(stored) == {"tee-red-s", "tee-red-m", "mug", "yen", "dinar"}
        tee = stored["tee-red-s"]
        assert (tee.product_id, tee.price_amount, tee.sale_price_amount, tee.currency) == (
            "tee",
            1999,
            1499,
            "USD",
        )
        assert tee.inventory_quantity == 25
        assert tee.variant_options == [["color", "Red"], ["size", "S"]]
        assert [m["url"] for m in tee.media] == [
            "https://cdn.example/tee-red.jpg",
            "https://cdn.example/tee-red-2.jpg",
            "https://cdn.example/tee-red-3.jpg",
        ]
        assert (stored["yen"].price_amount, stored["yen"].currency, stored["yen"].availability) == (
            1500,
            "JPY",
            "pre_order",
        )
        assert (stored["dinar"].price_amount, stored["dinar"].currency) == (12345, "KWD")
        assert stored["mug"].title == "Enamel Mug"  # the first of two rows with the same id wins
        assert stored["mug"].product_id == "mug"

        errors = await errors_of(session, run.id)
        by_item = {(e.line, e.item_id): e for e in errors}
        assert by_item[(5, "no-price")].field == "price"
        assert by_item[(6, "bad-gtin")].code == "invalid_gtin"
        assert by_item[(7, "yen-fraction")].code == "invalid_price"
        assert by_item[(10, "placeholder")].field == "brand"
        assert by_item[(11, None)].code == "column_count"
        assert by_item[(12, "mug")].code == "duplicate_item_id"
        assert (run.rows_accepted, run.rows_rejected, run.rows_total) == (5, 6, 11)
        assert (run.variants_created, run.variants_updated, run.variants_unchanged) == (5, 0, 0)

    async def test_reupload_changes_nothing(
        self, sessions: async_sessionmaker[AsyncSession], session: AsyncSession
    ) -> None:
        await run_feed(sessions, FEEDS / "openai.csv")
        before = {v.id: v.updated_at for v in (await variants(session)).values()}
        again = await run_feed(sessions, FEEDS / "openai.csv", mode=FeedMode.SNAPSHOT)
        assert (again.variants_created, again.variants_updated, again.variants_unchanged) == (0, 0, 5)
        assert again.variants_delisted == 0
        assert {v.id: v.updated_at for v in (await variants(session)).values()} == before

    @pytest.mark.parametrize("gzipped", [False, True])
    async def test_jsonl_and_tsv_equal_csv(
        self, sessions: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path, gzipped: bool
    ) -> None:
        with (FEEDS / "openai.csv").open(newline="") as source:
            wanted = {row["item_id"]: row for row in reversed(list(csv.DictReader(source)))}  # first wins
        rows = [wanted[item] for item in ("tee-red-s", "mug", "dinar")]
        jsonl = b"".join(orjson.dumps({k: v for k, v in r.items() if v}) + b"\n" for r in rows)
        tsv = "\t".join(rows[0]) + "\n" + "".join("\t".join(r.values()) + "\n" for r in rows)
        for name, data in (("feed.jsonl", jsonl), ("feed.tsv", tsv.encode())):
            path = tmp_path / (name + ".gz" if gzipped else name)
            path.write_bytes(gzip.compress(data) if gzipped else data)
            run = await run_feed(sessions, path)
            assert run.status == "succeeded", run.error_message
            assert run.format == ("openai-jsonl" if name.endswith("jsonl") else "openai-tsv")
            assert (run.rows_accepted, run.rows_rejected) == (3, 0)
        stored = await variants(session)
        assert stored["tee-red-s"].variant_options == [["color", "Red"], ["size", "S"]]
        assert stored["dinar"].price_amount == 12345


class TestGoogle:
    async def test_tsv(self, sessions: async_sessionmaker[AsyncSession], session: AsyncSession) -> None:
        run = await run_feed(sessions, FEEDS / "google.tsv")
        assert (run.status, run.format) == ("succeeded", "google-tsv")
        stored = await variants(session)
        assert set(stored) == {"g-shoe-40", "g-shoe-41"}
        shoe = stored["g-shoe-40"]
        assert (shoe.product_id, shoe.gtin, shoe.price_amount, shoe.sale_price_amount) == (
            "g-shoe",
            "4006381333931",
            8900,
            7900,
        )
        assert (shoe.weight, shoe.weight_unit) == (Decimal("0.9"), "kg")
        assert stored["g-shoe-41"].availability == "pre_order"
        [error] = await errors_of(session, run.id)
        assert (error.item_id, error.field) == ("g-unknown", "availability")

    async def test_xml(self, sessions: async_sessionmaker[AsyncSession], session: AsyncSession) -> None:
        run = await run_feed(sessions, FEEDS / "google.xml")
        assert (run.status, run.format) == ("succeeded", "google-xml")
        stored = await variants(session)
        assert set(stored) == {"x-lamp"}
        lamp = stored["x-lamp"]
        assert lamp.description == "LED desk lamp & USB port."
        assert len(lamp.media) == 3
        [error] = await errors_of(session, run.id)
        assert (error.item_id, error.code, error.line) == ("x-bad-price", "invalid_price", 25)


class TestAcp:
    async def test_directory_with_metadata(
        self, sessions: async_sessionmaker[AsyncSession], session: AsyncSession
    ) -> None:
        run = await run_feed(sessions, FEEDS / "acp")
        assert (run.status, run.format) == ("succeeded", "acp-jsonl")
        stored = await variants(session)
        assert set(stored) == {"acp-tee-s", "acp-tee-m", "acp-yen", "acp-ok"}
        tee = stored["acp-tee-s"]
        assert (tee.price_amount, tee.sale_price_amount, tee.gtin) == (1999, 1499, "00012345600012")
        assert tee.target_countries == ["US"]
        product = await session.get(Product, "prod_tee", populate_existing=True)
        assert product is not None
        assert product.title == "Classic Tee"
        errors = await errors_of(session, run.id)
        assert {(e.line, e.item_id, e.field) for e in errors} >= {
            (3, "acp-no-price", "$.variants[0].price"),
            (3, "acp-colour", "$.variants[2].colour"),
        }
        assert {e.line for e in errors} == {3, 4, 5}
        assert run.rows_accepted == 4


class TestFileFailures:
    @pytest.mark.parametrize(
        ("name", "code", "needle"),
        [
            ("missing_columns.csv", "missing_columns", "seller_name, price"),
            ("unterminated.csv", "malformed_file", "line 2"),
            ("bomb.xml", "forbidden_xml", "DTD"),
            ("broken.xml", "malformed_file", "line 8"),
        ],
    )
    async def test_bad_file_fails_and_leaves_catalog_untouched(
        self,
        sessions: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        name: str,
        code: str,
        needle: str,
    ) -> None:
        await run_feed(sessions, FEEDS / "openai.csv")
        before = {v.id: (v.updated_at, v.delisted_at) for v in (await variants(session)).values()}
        run = await run_feed(sessions, FEEDS / name, mode=FeedMode.SNAPSHOT)
        assert (run.status, run.error_code) == ("failed", code)
        assert run.error_message is not None
        assert needle in run.error_message
        assert {v.id: (v.updated_at, v.delisted_at) for v in (await variants(session)).values()} == before
        assert await session.scalar(select(func.count()).where(FeedRowError.run_id == run.id)) == 0

    async def test_bad_byte_named_by_offset_after_many_good_rows(
        self, sessions: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
    ) -> None:
        good = (FEEDS / "openai.csv").read_bytes().split(b"\n")[:4]  # header + three good rows
        data = b"\n".join(good) + b"\n"
        offset = len(data) + len(b"late,,,,Caf")
        data += (
            b"late,,,,Caf\xe9,Latin-1 byte.,https://a.example/l,B,S,"
            b"https://a.example/l.jpg,,in_stock,1.00 USD\n"
        )
        path = tmp_path / "latin1.csv"
        path.write_bytes(data)
        run = await run_feed(sessions, path)
        assert (run.status, run.error_code) == ("failed", "invalid_encoding")
        assert run.error_message is not None
        assert f"byte offset {offset}" in run.error_message
        assert await variants(session) == {}


class TestModes:
    async def test_snapshot_delists_missing_but_keeps_rejected(
        self, sessions: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
    ) -> None:
        await run_feed(sessions, FEEDS / "openai.csv")
        lines = (FEEDS / "openai.csv").read_text().splitlines()
        # keep the header, tee-red-s and the mug with a broken price
        broken_mug = lines[3].replace("12.00 USD", "12.001 USD")
        path = tmp_path / "next.csv"
        path.write_text("\n".join([lines[0], lines[1], broken_mug]) + "\n")
        run = await run_feed(sessions, path, mode=FeedMode.SNAPSHOT)
        assert run.status == "succeeded"
        assert run.variants_delisted == 3  # tee-red-m, yen, dinar; not the rejected mug
        stored = await variants(session)
        assert stored["mug"].delisted_at is None
        assert stored["tee-red-m"].delisted_at is not None
        assert stored["tee-red-s"].delisted_at is None
        # back in the next full file: listed again
        again = await run_feed(sessions, FEEDS / "openai.csv", mode=FeedMode.SNAPSHOT)
        assert again.variants_updated == 3
        assert all(v.delisted_at is None for v in (await variants(session)).values())

    async def test_upsert_touches_only_the_file(
        self, sessions: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
    ) -> None:
        await run_feed(sessions, FEEDS / "openai.csv")
        lines = (FEEDS / "openai.csv").read_text().splitlines()
        path = tmp_path / "price.csv"
        path.write_text("\n".join([lines[0], lines[3].replace("12.00 USD", "11.00 USD")]) + "\n")
        run = await run_feed(sessions, path, mode=FeedMode.UPSERT)
        assert (run.variants_updated, run.variants_delisted) == (1, 0)
        stored = await variants(session)
        assert stored["mug"].price_amount == 1100
        assert all(v.delisted_at is None for v in stored.values())

    async def test_empty_inventory_keeps_stored_count(
        self, sessions: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
    ) -> None:
        await run_feed(sessions, FEEDS / "openai.csv")
        stored = await variants(session)
        assert stored["tee-red-s"].inventory_quantity == 25
        lines = (FEEDS / "openai.csv").read_text().splitlines()
        path = tmp_path / "no-stock.csv"
        path.write_text("\n".join([lines[0], lines[1].replace(",true,25,", ",true,,")]) + "\n")
        run = await run_feed(sessions, path)
        assert run.variants_unchanged == 1
        assert (await variants(session))["tee-red-s"].inventory_quantity == 25

    async def test_format_override(self, sessions: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
        path = tmp_path / "feed.txt"
        shutil.copy(FEEDS / "google.tsv", path)
        run = await run_feed(sessions, path, fmt=FeedFormat.OPENAI_TSV)
        assert (run.status, run.error_code, run.format) == ("failed", "missing_columns", "openai-tsv")


class TestChunking:
    @pytest.mark.parametrize("source", ["openai.csv", "google.xml", "acp"])
    @pytest.mark.parametrize("reader_process", [False, True], ids=["thread", "process"])
    async def test_results_do_not_depend_on_the_chunk_size_or_the_reader(
        self,
        sessions: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        monkeypatch: pytest.MonkeyPatch,
        source: str,
        reader_process: bool,
    ) -> None:
        """Duplicates across chunks, first-row products, snapshot delisting: all as with one chunk."""
        whole = await run_feed(sessions, FEEDS / source, mode=FeedMode.SNAPSHOT)
        expected = await variants(session)
        expected_errors = [(e.line, e.item_id, e.code) for e in await errors_of(session, whole.id)]
        snapshot = {k: (v.price_amount, v.title, v.delisted_at is None) for k, v in expected.items()}

        monkeypatch.setattr(reader, "CHUNK_ROWS", 1)
        if reader_process:
            monkeypatch.setattr(reader, "PROCESS_MIN_BYTES", 0)
        again = await run_feed(sessions, FEEDS / source, mode=FeedMode.SNAPSHOT)
        assert [(e.line, e.item_id, e.code) for e in await errors_of(session, again.id)] == expected_errors
        assert (again.rows_accepted, again.rows_rejected) == (whole.rows_accepted, whole.rows_rejected)
        assert (again.variants_created, again.variants_updated, again.variants_delisted) == (0, 0, 0)
        stored = await variants(session)
        assert {k: (v.price_amount, v.title, v.delisted_at is None) for k, v in stored.items()} == snapshot

    async def test_first_row_of_a_product_wins_across_chunks(
        self,
        sessions: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path,
    ) -> None:
        monkeypatch.setattr(reader, "CHUNK_ROWS", 1)
        lines = (FEEDS / "openai.csv").read_text().splitlines()
        path = tmp_path / "dup.csv"
        path.write_text("\n".join([lines[0], lines[3], lines[1], lines[11]]) + "\n")  # mug, tee, mug again
        run = await run_feed(sessions, path)
        [error] = await errors_of(session, run.id)
        assert (error.line, error.item_id, error.code) == (4, "mug", "duplicate_item_id")
        assert "line 2" in error.message
        assert (await variants(session))["mug"].price_amount == 1200
        assert (run.rows_accepted, run.rows_rejected, run.variants_created) == (2, 1, 2)


class TestReaderProcess:
    async def test_a_bad_file_fails_the_run_with_mapper_processes(
        self,
        sessions: async_sessionmaker[AsyncSession],
        session: AsyncSession,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(reader, "PROCESS_MIN_BYTES", 0)
        run = await run_feed(sessions, FEEDS / "bomb.xml")
        assert (run.status, run.error_code) == ("failed", "forbidden_xml")
        assert await variants(session) == {}

    async def test_reports_the_mapper_peak_memory(
        self, sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(reader, "PROCESS_MIN_BYTES", 0)
        run = await run_feed(sessions, FEEDS / "openai.csv")
        assert run.status == "succeeded"
        assert run.timings["mapper_peak_rss_mb"] > 0
        assert run.rows_accepted == 5


class TestStagingText:
    async def test_special_characters_survive_copy_exactly(
        self, sessions: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
    ) -> None:
        tricky = 'tab\there, newline\nthere, CR\rthere, backslash \\N \\t, quote " and emoji \U0001f600'
        row = {
            "item_id": "odd",
            "title": "Odd \\ title",
            "description": tricky,
            "url": "https://shop.example/odd",
            "brand": "Brand\tName",
            "seller_name": "S",
            "image_url": "https://cdn.example/odd.jpg",
            "availability": "in_stock",
            "price": "1.00 USD",
        }
        path = tmp_path / "odd.jsonl"
        path.write_bytes(orjson.dumps(row) + b"\n")
        run = await run_feed(sessions, path)
        assert (run.status, run.rows_accepted) == ("succeeded", 1)
        odd = (await variants(session))["odd"]
        assert (odd.description, odd.title, odd.brand) == (tricky, "Odd \\ title", "Brand\tName")

    async def test_a_nul_character_rejects_the_row_not_the_run(
        self, sessions: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
    ) -> None:
        base = {
            "title": "T",
            "description": "D",
            "url": "https://shop.example/x",
            "brand": "B",
            "seller_name": "S",
            "image_url": "https://cdn.example/x.jpg",
            "availability": "in_stock",
            "price": "1.00 USD",
        }
        rows = [{**base, "item_id": "good"}, {**base, "item_id": "nul", "description": "bad\u0000byte"}]
        path = tmp_path / "nul.jsonl"
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
        run = await run_feed(sessions, path)
        assert (run.status, run.rows_accepted, run.rows_rejected) == ("succeeded", 1, 1)
        [error] = await errors_of(session, run.id)
        assert (error.line, error.item_id, error.code) == (2, "nul", "invalid_value")
        assert set(await variants(session)) == {"good"}


class TestUnsafeText:
    """Every format: a row holding NUL (or, in JSON, a lone surrogate) is a row error; the good rows load."""

    HEADER = (
        "item_id",
        "title",
        "description",
        "url",
        "brand",
        "seller_name",
        "image_url",
        "availability",
        "price",
    )

    def _row(self, item_id: str, description: str) -> list[str]:
        return [item_id, "T", description, "https://shop.example/x", "B", "S", "https://cdn.example/x.jpg",
                "in_stock", "1.00 USD"]  # fmt: skip

    @pytest.mark.parametrize("suffix", [".csv", ".tsv"])
    async def test_delimited(
        self, sessions: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path, suffix: str
    ) -> None:
        path = tmp_path / f"nul{suffix}"
        with path.open("w", newline="") as out:
            writer = csv.writer(out, delimiter="," if suffix == ".csv" else "\t")
            writer.writerows([self.HEADER, self._row("good", "D"), self._row("nul", "bad\x00byte")])
        run = await run_feed(sessions, path)
        assert (run.status, run.rows_accepted, run.rows_rejected) == ("succeeded", 1, 1)
        assert [e.item_id for e in await errors_of(session, run.id)] == ["nul"]
        assert set(await variants(session)) == {"good"}

    async def test_lone_surrogate_in_json_lines(
        self, sessions: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
    ) -> None:
        good = dict(zip(self.HEADER, self._row("good", "D"), strict=True))
        path = tmp_path / "surrogate.jsonl"
        lines = [orjson.dumps(good), orjson.dumps({**good, "item_id": "odd"}).replace(b'"D"', b'"\\ud800"')]
        path.write_bytes(b"\n".join(lines) + b"\n")
        run = await run_feed(sessions, path)
        assert (run.status, run.rows_accepted, run.rows_rejected) == ("succeeded", 1, 1)
        [error] = await errors_of(session, run.id)
        assert (error.line, error.code) == (2, "invalid_json"), (error.code, error.message)
        assert set(await variants(session)) == {"good"}


class TestDeadRuns:
    """A run left ``running`` by a killed process is failed by the next import, a live one never
    (the slow end-to-end test, with a real SIGKILL, is tests/catalog/test_killed_import.py)."""

    async def _runs(self, session: AsyncSession, *started_ago: timedelta) -> list[FeedRun]:
        """Runs marked running that long ago (all created first: creating one judges the others)."""
        runs = [
            await ingest.create_run(
                session,
                source_kind="file",
                source="feed.csv",
                mode=FeedMode.UPSERT,
                fmt=None,
                requested_by="test",
                size_bytes=None,
            )
            for _ in started_ago
        ]
        for run, ago in zip(runs, started_ago, strict=True):
            run.status, run.started_at = "running", utc_now() - ago
        await session.flush()
        return runs

    async def test_only_runs_whose_load_is_gone_are_failed(
        self, session: AsyncSession, engine: AsyncEngine
    ) -> None:
        past_grace = ingest.STARTING_GRACE + timedelta(seconds=1)
        # starting: just marked running, its load may not hold the lock yet
        dead, alive, starting = await self._runs(session, past_grace, past_grace, timedelta(0))
        async with engine.connect() as loading, loading.begin():  # alive's load, in another process
            await loading.execute(text("SET LOCAL lock_timeout = '10s'"))
            await loading.execute(select(func.pg_advisory_xact_lock(ingest.run_lock_id(alive.id))))
            assert await ingest.fail_dead_runs(session, now=utc_now()) == [dead.id]
        await session.refresh(dead)
        assert (dead.status, dead.error_code, dead.error_message) == (
            "failed",
            "interrupted",
            ingest.INTERRUPTED,
        )
        assert [await self._status(session, r) for r in (alive, starting)] == ["running", "running"]

    async def _status(self, session: AsyncSession, run: FeedRun) -> str:
        await session.refresh(run)
        return run.status
