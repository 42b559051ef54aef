"""Staff catalog API (``/admin/v1``) on the real app and real PostgreSQL: feed runs, variants, roles."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from procrastinate.job_context import JobContext
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from merchant.catalog import tasks
from merchant.catalog.models import FeedRowError, FeedRun, FeedUpload, Product, Variant
from merchant.config import get_settings
from merchant.db import create_sessionmaker, transaction
from merchant.identity import service as identity_service
from merchant.identity.roles import Role
from merchant.jobs.context import SESSIONS_KEY

FEEDS = Path(__file__).parent / "feeds"
OPENAI_CSV = (FEEDS / "openai.csv").read_bytes()
CSV = "text/csv"

Headers = dict[str, str]


# Fixtures and helpers


@pytest.fixture
async def keys(session: AsyncSession) -> dict[Role, Headers]:
    """Authorization headers for one key of each role."""
    headers: dict[Role, Headers] = {}
    for role in Role:
        created = await identity_service.create_key(session, role=role, name=f"{role.value} key")
        headers[role] = {"Authorization": f"Bearer {created.token}"}
    await session.commit()
    return headers


@pytest.fixture
def operator(keys: dict[Role, Headers]) -> Headers:
    return keys[Role.operator]


@pytest.fixture
def viewer(keys: dict[Role, Headers]) -> Headers:
    return keys[Role.viewer]


@pytest.fixture
def small_max(app: FastAPI) -> Iterator[int]:
    """The app with ``feed_max_bytes`` lowered for one test."""
    limit = 100
    real = app.state.settings
    app.state.settings = real.model_copy(update={"feed_max_bytes": limit})
    try:
        yield limit
    finally:
        app.state.settings = real


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def feed_server() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving ``tests/catalog/feeds``; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(FEEDS))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def upload(
    client: httpx.AsyncClient,
    headers: Headers,
    content: bytes = OPENAI_CSV,
    *,
    filename: str = "openai.csv",
    data: dict[str, str] | None = None,
) -> httpx.Response:
    files = {"file": (filename, content, CSV)}
    return await client.post("/admin/v1/feeds", headers=headers, files=files, data=data or {})


@pytest.fixture
def allow_loopback(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Let the job fetch from 127.0.0.1 (production refuses private addresses)."""
    monkeypatch.setenv("MERCHANT_OUTBOUND_ALLOW_PRIVATE", "true")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("MERCHANT_OUTBOUND_ALLOW_PRIVATE")
    get_settings.cache_clear()


async def run_job(sessions: async_sessionmaker[AsyncSession], run_id: str) -> str:
    """What the worker does for the job: the task function itself, with the test's sessions."""
    context = cast(JobContext, SimpleNamespace(additional_context={SESSIONS_KEY: sessions}))
    return await tasks.ingest_feed.func(context, run_id=run_id)


async def jobs_for(session: AsyncSession, run_id: str) -> list[dict[str, Any]]:
    rows = await session.execute(
        text(
            "SELECT task_name, queue_name, status::text AS status, args FROM procrastinate_jobs "
            "WHERE args ->> 'run_id' = :run_id"
        ),
        {"run_id": run_id},
    )
    return [dict(row._mapping) for row in rows]


async def ingested_run(
    client: httpx.AsyncClient, headers: Headers, sessions: async_sessionmaker[AsyncSession]
) -> str:
    """Upload ``openai.csv`` and run its job: 5 variants, 6 rejected rows."""
    response = await upload(client, headers)
    assert response.status_code == 202, response.text
    run_id: str = response.json()["id"]
    assert await run_job(sessions, run_id) == "succeeded"
    return run_id


def assert_error(response: httpx.Response, status: int, code: str, param: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "invalid_request"
    assert body["code"] == code
    assert body.get("param") == param
    assert set(body) <= {"type", "code", "message", "param"}


# Feed runs


class TestUpload:
    async def test_queued_with_its_job_then_ingested(
        self,
        client: httpx.AsyncClient,
        operator: Headers,
        session: AsyncSession,
        sessions: async_sessionmaker[AsyncSession],
    ) -> None:
        response = await upload(client, operator, data={"mode": "snapshot"})
        assert response.status_code == 202, response.text
        run = response.json()
        assert response.headers["location"] == f"/admin/v1/feeds/{run['id']}"
        assert run["status"] == "queued"
        assert (run["source_kind"], run["source"], run["mode"]) == ("upload", "openai.csv", "snapshot")
        assert (run["format"], run["format_requested"]) == (None, None)
        assert run["size_bytes"] == len(OPENAI_CSV)
        assert run["requested_by"] == operator["Authorization"].removeprefix("Bearer ").split(".")[0]
        assert run["rows"] == {"total": 0, "accepted": 0, "rejected": 0}

        [job] = await jobs_for(session, run["id"])
        assert (job["task_name"], job["queue_name"], job["status"]) == (
            "catalog.ingest_feed",
            "catalog",
            "todo",
        )
        assert job["args"] == {"run_id": run["id"]}
        stored = await session.scalar(select(func.count()).where(FeedUpload.run_id == run["id"]))
        assert stored == 1

        assert await run_job(sessions, run["id"]) == "succeeded"

        detail = (await client.get(f"/admin/v1/feeds/{run['id']}", headers=operator)).json()
        assert (detail["status"], detail["format"]) == ("succeeded", "openai-csv")
        assert detail["rows"] == {"total": 11, "accepted": 5, "rejected": 6}
        assert detail["variants"] == {"created": 5, "updated": 0, "unchanged": 0, "delisted": 0}
        assert detail["error"] is None
        assert {"load_s", "copy_s", "variants_s", "total_s"} <= set(detail["timings"])
        assert detail["started_at"] is not None
        assert detail["finished_at"] is not None
        errors = detail["errors"]
        assert errors["has_more"] is False
        assert errors["next_cursor"] is None
        by_item = {(e["line"], e["item_id"]): e for e in errors["data"]}
        assert by_item[(5, "no-price")]["field"] == "price"
        assert by_item[(6, "bad-gtin")]["code"] == "invalid_gtin"
        assert by_item[(11, None)]["code"] == "column_count"
        assert by_item[(12, "mug")]["code"] == "duplicate_item_id"
        # The worker drops the stored copy once the run has ended.
        stored = await session.scalar(select(func.count()).where(FeedUpload.run_id == run["id"]))
        assert stored == 0

    async def test_defaults_and_named_format(
        self, client: httpx.AsyncClient, operator: Headers, sessions: async_sessionmaker[AsyncSession]
    ) -> None:
        response = await upload(
            client, operator, filename="C:\\exports\\feed.csv", data={"format": "openai-csv"}
        )
        assert response.status_code == 202, response.text
        run = response.json()
        assert (run["mode"], run["source"]) == ("upsert", "feed.csv")
        assert (run["format"], run["format_requested"]) == ("openai-csv", "openai-csv")
        assert await run_job(sessions, run["id"]) == "succeeded"

    async def test_file_over_the_limit_is_413_and_leaves_nothing(
        self, client: httpx.AsyncClient, operator: Headers, session: AsyncSession, small_max: int
    ) -> None:
        response = await upload(client, operator, b"x" * (small_max + 1))
        assert_error(response, 413, "file_too_large", "$.file")
        assert await session.scalar(select(func.count()).select_from(FeedRun)) == 0
        assert await session.scalar(select(func.count()).select_from(FeedUpload)) == 0

    async def test_request_far_over_the_limit_is_refused_before_reading(
        self, client: httpx.AsyncClient, operator: Headers, small_max: int
    ) -> None:
        response = await upload(client, operator, b"x" * (small_max + 128 * 1024))
        assert_error(response, 413, "file_too_large", "$.file")

    async def test_file_at_the_limit_is_accepted(
        self, client: httpx.AsyncClient, operator: Headers, small_max: int
    ) -> None:
        response = await upload(client, operator, OPENAI_CSV[:small_max])
        assert response.status_code == 202, response.text
        assert response.json()["size_bytes"] == small_max

    @pytest.mark.parametrize(
        ("data", "param"),
        [({"mode": "full"}, "$.mode"), ({"mode": ""}, "$.mode"), ({"format": "excel"}, "$.format")],
    )
    async def test_bad_enum_field(
        self, client: httpx.AsyncClient, operator: Headers, data: dict[str, str], param: str
    ) -> None:
        assert_error(await upload(client, operator, data=data), 400, "invalid_value", param)

    async def test_format_the_ingest_cannot_read(self, client: httpx.AsyncClient, operator: Headers) -> None:
        response = await upload(client, operator, data={"format": "openai-parquet"})
        assert_error(response, 400, "unsupported_format", "$.format")

    async def test_unknown_field(self, client: httpx.AsyncClient, operator: Headers) -> None:
        response = await upload(client, operator, data={"colour": "red"})
        assert_error(response, 400, "unknown_field", "$.colour")

    async def test_missing_file(self, client: httpx.AsyncClient, operator: Headers) -> None:
        response = await client.post(
            "/admin/v1/feeds",
            headers={**operator, "Content-Type": "multipart/form-data; boundary=b"},
            content=b'--b\r\nContent-Disposition: form-data; name="mode"\r\n\r\nupsert\r\n--b--\r\n',
        )
        assert_error(response, 400, "missing_required_field", "$.file")

    async def test_file_sent_as_text(self, client: httpx.AsyncClient, operator: Headers) -> None:
        response = await client.post(
            "/admin/v1/feeds",
            headers={**operator, "Content-Type": "multipart/form-data; boundary=b"},
            content=b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\nitem_id,title\r\n--b--\r\n',
        )
        assert_error(response, 400, "invalid_value", "$.file")

    async def test_empty_file(self, client: httpx.AsyncClient, operator: Headers) -> None:
        assert_error(await upload(client, operator, b""), 400, "invalid_value", "$.file")

    async def test_other_content_type_is_415(self, client: httpx.AsyncClient, operator: Headers) -> None:
        response = await client.post(
            "/admin/v1/feeds", headers={**operator, "Content-Type": CSV}, content=OPENAI_CSV
        )
        assert_error(response, 415, "unsupported_media_type", "$")


class TestCommittedUpload:
    """Real transactions: the run, its chunks and its job commit together, or nothing does."""

    async def counts(self, engine: AsyncEngine) -> tuple[int, int, int]:
        async with engine.connect() as connection:
            row = (
                await connection.execute(
                    text(
                        "SELECT (SELECT count(*) FROM catalog_feed_run),"
                        " (SELECT count(*) FROM catalog_feed_upload),"
                        " (SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'catalog.ingest_feed')"
                    )
                )
            ).one()
        return row[0], row[1], row[2]

    async def test_accepted_then_refused(
        self, committing_client: httpx.AsyncClient, committed: AsyncEngine, small_max: int
    ) -> None:
        async with transaction(create_sessionmaker(committed)) as session:
            created = await identity_service.create_key(session, role=Role.operator, name="operator")
        headers = {"Authorization": f"Bearer {created.token}"}

        response = await upload(committing_client, headers, OPENAI_CSV[:small_max])
        assert response.status_code == 202, response.text
        assert await self.counts(committed) == (1, 1, 1)

        response = await upload(committing_client, headers, OPENAI_CSV[: small_max + 1])
        assert_error(response, 413, "file_too_large", "$.file")
        assert await self.counts(committed) == (1, 1, 1)


class TestUrl:
    async def test_queued_then_fetched_by_the_worker(
        self,
        client: httpx.AsyncClient,
        operator: Headers,
        session: AsyncSession,
        sessions: async_sessionmaker[AsyncSession],
        feed_server: str,
        allow_loopback: None,
    ) -> None:
        url = f"{feed_server}/openai.csv"
        response = await client.post(
            "/admin/v1/feeds", headers=operator, json={"url": url, "mode": "snapshot"}
        )
        assert response.status_code == 202, response.text
        run = response.json()
        assert (run["status"], run["source_kind"], run["source"]) == ("queued", "url", url)
        assert (run["mode"], run["size_bytes"]) == ("snapshot", None)
        [job] = await jobs_for(session, run["id"])
        assert (job["task_name"], job["status"]) == ("catalog.ingest_feed", "todo")

        # The request only queues: the worker fetches the URL.
        assert await run_job(sessions, run["id"]) == "succeeded"
        detail = (await client.get(f"/admin/v1/feeds/{run['id']}", headers=operator)).json()
        assert detail["rows"] == {"total": 11, "accepted": 5, "rejected": 6}
        assert detail["size_bytes"] == len(OPENAI_CSV)

    async def test_unreachable_url_fails_the_run_not_the_request(
        self,
        client: httpx.AsyncClient,
        operator: Headers,
        sessions: async_sessionmaker[AsyncSession],
        feed_server: str,
        allow_loopback: None,
    ) -> None:
        response = await client.post(
            "/admin/v1/feeds", headers=operator, json={"url": f"{feed_server}/missing.csv"}
        )
        assert response.status_code == 202, response.text
        run_id = response.json()["id"]
        assert await run_job(sessions, run_id) == "failed"
        detail = (await client.get(f"/admin/v1/feeds/{run_id}", headers=operator)).json()
        assert detail["error"]["code"] == "fetch_failed"

    async def test_private_addresses_are_refused_by_default(
        self,
        client: httpx.AsyncClient,
        operator: Headers,
        session: AsyncSession,
        sessions: async_sessionmaker[AsyncSession],
        feed_server: str,
    ) -> None:
        """SSRF: a staff-given URL must not reach the service's own network."""
        get_settings.cache_clear()
        response = await client.post(
            "/admin/v1/feeds", headers=operator, json={"url": f"{feed_server}/openai.csv"}
        )
        run_id = response.json()["id"]
        assert await run_job(sessions, run_id) == "failed"
        detail = (await client.get(f"/admin/v1/feeds/{run_id}", headers=operator)).json()
        assert detail["error"]["code"] == "forbidden_url"
        assert "private or reserved address" in detail["error"]["message"]
        assert await session.scalar(select(func.count()).select_from(Variant)) == 0

    @pytest.mark.parametrize(
        ("body", "code", "param"),
        [
            ({"url": "https://feeds.example/f.csv", "mode": "full"}, "invalid_value", "$.mode"),
            ({"url": "ftp://feeds.example/f.csv"}, "invalid_value", "$.url"),
            ({"url": "not a url"}, "invalid_value", "$.url"),
            ({"mode": "upsert"}, "missing_required_field", "$.url"),
            ({"url": "https://feeds.example/f.csv", "extra": 1}, "unknown_field", "$.extra"),
            ({"url": "https://feeds.example/f.csv", "format": "nope"}, "invalid_value", "$.format"),
        ],
    )
    async def test_invalid_body(
        self, client: httpx.AsyncClient, operator: Headers, body: dict[str, Any], code: str, param: str
    ) -> None:
        response = await client.post("/admin/v1/feeds", headers=operator, json=body)
        assert_error(response, 400, code, param)

    async def test_malformed_json(self, client: httpx.AsyncClient, operator: Headers) -> None:
        response = await client.post(
            "/admin/v1/feeds",
            headers={**operator, "Content-Type": "application/json"},
            content=b'{"url": ',
        )
        assert_error(response, 400, "invalid_json", "$")


class TestRunPages:
    async def test_runs_newest_first_walked_by_cursor(
        self, client: httpx.AsyncClient, operator: Headers, session: AsyncSession
    ) -> None:
        created = []
        for n in range(5):
            response = await client.post(
                "/admin/v1/feeds", headers=operator, json={"url": f"https://feeds.example/{n}.csv"}
            )
            assert response.status_code == 202
            created.append(response.json()["id"])
        # One test transaction gives every run the same now(): spread them out in time.
        for age, run_id in enumerate(reversed(created)):
            await session.execute(
                update(FeedRun)
                .where(FeedRun.id == run_id)
                .values(created_at=FeedRun.created_at - timedelta(minutes=age))
            )
        await session.commit()

        seen: list[str] = []
        pages: list[bool] = []
        params: dict[str, Any] = {"limit": 2}
        while True:
            response = await client.get("/admin/v1/feeds", headers=operator, params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            seen += [run["id"] for run in page["data"]]
            pages.append(page["has_more"])
            if not page["has_more"]:
                assert page["next_cursor"] is None
                break
            assert page["next_cursor"] == page["data"][-1]["id"]
            params["starting_after"] = page["next_cursor"]
        assert seen == list(reversed(created))
        assert pages == [True, True, False]

    async def test_unknown_cursor(self, client: httpx.AsyncClient, operator: Headers) -> None:
        response = await client.get("/admin/v1/feeds", headers=operator, params={"starting_after": "run_x"})
        assert_error(response, 400, "invalid_value", "$.query.starting_after")

    @pytest.mark.parametrize("limit", [0, 101])
    async def test_limit_bounds(self, client: httpx.AsyncClient, operator: Headers, limit: int) -> None:
        response = await client.get("/admin/v1/feeds", headers=operator, params={"limit": limit})
        assert_error(response, 400, "invalid_value", "$.query.limit")

    async def test_row_errors_walked_by_cursor(
        self,
        client: httpx.AsyncClient,
        operator: Headers,
        session: AsyncSession,
        sessions: async_sessionmaker[AsyncSession],
    ) -> None:
        run_id = await ingested_run(client, operator, sessions)
        stored = (
            await session.scalars(select(FeedRowError).where(FeedRowError.run_id == run_id).order_by("seq"))
        ).all()
        assert len(stored) >= 6

        seen: list[tuple[int, str | None, str]] = []
        params: dict[str, Any] = {"errors_limit": 2}
        pages = 0
        while True:
            response = await client.get(f"/admin/v1/feeds/{run_id}", headers=operator, params=params)
            assert response.status_code == 200, response.text
            detail = response.json()
            assert detail["rows"] == {"total": 11, "accepted": 5, "rejected": 6}
            errors = detail["errors"]
            assert len(errors["data"]) <= 2
            seen += [(e["line"], e["item_id"], e["code"]) for e in errors["data"]]
            pages += 1
            if not errors["has_more"]:
                assert errors["next_cursor"] is None
                break
            params["errors_after"] = errors["next_cursor"]
        assert seen == [(e.line, e.item_id, e.code) for e in stored]
        assert pages == (len(stored) + 1) // 2

    async def test_unknown_run_is_404(self, client: httpx.AsyncClient, viewer: Headers) -> None:
        response = await client.get("/admin/v1/feeds/run_nope", headers=viewer)
        assert response.status_code == 404
        assert response.json()["code"] == "feed_run_not_found"


# Variants


async def add_variant(session: AsyncSession, variant_id: str, title: str, **fields: Any) -> None:
    if await session.get(Product, "literal") is None:
        session.add(Product(id="literal", title="Literal matches"))
        await session.flush()
    values: dict[str, Any] = {"price_amount": 500, "currency": "USD", "availability": "in_stock"}
    session.add(Variant(id=variant_id, product_id="literal", title=title, **{**values, **fields}))
    await session.commit()


async def search(client: httpx.AsyncClient, headers: Headers, **params: Any) -> list[str]:
    response = await client.get("/admin/v1/products", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return [variant["id"] for variant in response.json()["data"]]


class TestProducts:
    @pytest.fixture(autouse=True)
    async def catalog(
        self, client: httpx.AsyncClient, operator: Headers, sessions: async_sessionmaker[AsyncSession]
    ) -> None:
        await ingested_run(client, operator, sessions)

    async def test_search_by_id_gtin_and_title(self, client: httpx.AsyncClient, viewer: Headers) -> None:
        assert await search(client, viewer) == ["dinar", "mug", "tee-red-m", "tee-red-s", "yen"]
        assert await search(client, viewer, q="tee-red-s") == ["tee-red-s"]
        assert await search(client, viewer, q="4006381333931") == ["tee-red-s"]
        assert await search(client, viewer, q=" 036000291452 ") == ["mug"]
        assert await search(client, viewer, q="classic TEE") == ["tee-red-m", "tee-red-s"]
        assert await search(client, viewer, q="lamp") == ["dinar"]
        assert await search(client, viewer, q="tee-red") == []  # ids match exactly, not in part
        assert await search(client, viewer, q="") == ["dinar", "mug", "tee-red-m", "tee-red-s", "yen"]

    async def test_like_metacharacters_are_literal(
        self, client: httpx.AsyncClient, viewer: Headers, session: AsyncSession
    ) -> None:
        await add_variant(session, "pct", "Sale 50% off_Tee")
        await add_variant(session, "nopct", "Sale 500 offXTee")
        await add_variant(session, "slash", "Back\\slash")
        assert await search(client, viewer, q="%") == ["pct"]
        assert await search(client, viewer, q="50%") == ["pct"]
        assert await search(client, viewer, q="_") == ["pct"]
        assert await search(client, viewer, q="f_t") == ["pct"]
        assert await search(client, viewer, q="k\\s") == ["slash"]
        assert await search(client, viewer, q="50") == ["nopct", "pct"]

    async def test_filters_and_pages(
        self, client: httpx.AsyncClient, viewer: Headers, session: AsyncSession
    ) -> None:
        assert await search(client, viewer, availability="in_stock") == ["mug", "tee-red-s"]
        assert await search(client, viewer, availability="pre_order") == ["yen"]
        assert await search(client, viewer, listed="false") == []
        await session.execute(update(Variant).where(Variant.id == "yen").values(delisted_at=func.now()))
        await session.commit()
        assert await search(client, viewer, listed="false") == ["yen"]
        assert "yen" not in await search(client, viewer)

        response = await client.get("/admin/v1/products", headers=viewer, params={"limit": 3})
        page = response.json()
        assert ([v["id"] for v in page["data"]], page["has_more"], page["next_cursor"]) == (
            ["dinar", "mug", "tee-red-m"],
            True,
            "tee-red-m",
        )
        response = await client.get(
            "/admin/v1/products", headers=viewer, params={"limit": 3, "starting_after": "tee-red-m"}
        )
        page = response.json()
        assert ([v["id"] for v in page["data"]], page["has_more"], page["next_cursor"]) == (
            ["tee-red-s"],
            False,
            None,
        )

    async def test_bad_filter(self, client: httpx.AsyncClient, viewer: Headers) -> None:
        response = await client.get("/admin/v1/products", headers=viewer, params={"availability": "plenty"})
        assert_error(response, 400, "invalid_value", "$.query.availability")

    async def test_detail(self, client: httpx.AsyncClient, viewer: Headers) -> None:
        response = await client.get("/admin/v1/products/tee-red-s", headers=viewer)
        assert response.status_code == 200, response.text
        tee = response.json()
        assert (tee["id"], tee["product_id"], tee["title"]) == ("tee-red-s", "tee", "Classic Tee - Red / S")
        assert tee["price"] == {"amount": 1999, "currency": "USD"}
        assert tee["sale_price"] == {"amount": 1499, "currency": "USD"}
        assert (tee["inventory_quantity"], tee["gtin"], tee["listed"]) == (25, "4006381333931", True)
        assert tee["variant_options"] == [{"name": "color", "value": "Red"}, {"name": "size", "value": "S"}]
        assert tee["image_url"] == "https://cdn.example/tee-red.jpg"
        assert len(tee["media"]) == 3
        assert tee["weight"] == {"value": "0.2", "unit": "kg"}
        assert tee["product"]["id"] == "tee"
        assert tee["last_feed_run_id"].startswith("run_")

    async def test_unknown_variant_is_404(self, client: httpx.AsyncClient, viewer: Headers) -> None:
        response = await client.get("/admin/v1/products/nope", headers=viewer)
        assert response.status_code == 404
        assert response.json()["code"] == "product_not_found"


class TestInventory:
    @pytest.fixture(autouse=True)
    async def catalog(
        self, client: httpx.AsyncClient, operator: Headers, sessions: async_sessionmaker[AsyncSession]
    ) -> None:
        await ingested_run(client, operator, sessions)

    async def patch(
        self, client: httpx.AsyncClient, headers: Headers, body: Any, variant: str = "mug"
    ) -> httpx.Response:
        return await client.patch(f"/admin/v1/products/{variant}/inventory", headers=headers, json=body)

    async def test_set_then_stop_tracking(
        self, client: httpx.AsyncClient, operator: Headers, session: AsyncSession
    ) -> None:
        response = await self.patch(client, operator, {"inventory_quantity": 7})
        assert response.status_code == 200, response.text
        assert (response.json()["inventory_quantity"], response.json()["availability"]) == (7, "in_stock")
        stored = await session.scalar(
            select(Variant).where(Variant.id == "mug").execution_options(populate_existing=True)
        )
        assert stored is not None
        assert stored.inventory_quantity == 7

        response = await self.patch(client, operator, {"inventory_quantity": None})
        assert response.status_code == 200, response.text
        assert response.json()["inventory_quantity"] is None

        response = await self.patch(
            client, operator, {"inventory_quantity": 0, "availability": "out_of_stock"}
        )
        assert (response.json()["inventory_quantity"], response.json()["availability"]) == (0, "out_of_stock")

    async def test_availability_alone_keeps_the_quantity(
        self, client: httpx.AsyncClient, operator: Headers
    ) -> None:
        response = await self.patch(client, operator, {"availability": "backorder"}, variant="tee-red-s")
        assert response.status_code == 200, response.text
        assert (response.json()["inventory_quantity"], response.json()["availability"]) == (25, "backorder")

    @pytest.mark.parametrize(
        ("body", "code", "param"),
        [
            ({"inventory_quantity": -1}, "invalid_value", "$.inventory_quantity"),
            ({"inventory_quantity": 2**31}, "invalid_value", "$.inventory_quantity"),
            ({"inventory_quantity": "5"}, "invalid_value", "$.inventory_quantity"),
            ({"inventory_quantity": 1.5}, "invalid_value", "$.inventory_quantity"),
            ({"availability": None}, "invalid_value", "$.availability"),
            ({"availability": "plenty"}, "invalid_value", "$.availability"),
            ({"inventory_quantity": 1, "colour": "red"}, "unknown_field", "$.colour"),
            ({}, "missing_required_field", "$"),
            ([], "invalid_value", "$"),
        ],
    )
    async def test_invalid(
        self, client: httpx.AsyncClient, operator: Headers, body: Any, code: str, param: str
    ) -> None:
        assert_error(await self.patch(client, operator, body), 400, code, param)

    async def test_unknown_variant_is_404(self, client: httpx.AsyncClient, operator: Headers) -> None:
        response = await self.patch(client, operator, {"inventory_quantity": 1}, variant="nope")
        assert response.status_code == 404
        assert response.json()["code"] == "product_not_found"


# Roles


class TestRoles:
    READS = ("/admin/v1/feeds", "/admin/v1/products")

    @pytest.mark.parametrize("role", [Role.viewer, Role.operator, Role.admin])
    async def test_staff_read(self, client: httpx.AsyncClient, keys: dict[Role, Headers], role: Role) -> None:
        for path in self.READS:
            assert (await client.get(path, headers=keys[role])).status_code == 200

    async def test_viewer_may_not_write(
        self, client: httpx.AsyncClient, viewer: Headers, session: AsyncSession
    ) -> None:
        assert_error(await upload(client, viewer), 403, "forbidden")
        response = await client.post("/admin/v1/feeds", headers=viewer, json={"url": "https://f.example/a"})
        assert_error(response, 403, "forbidden")
        response = await client.patch(
            "/admin/v1/products/mug/inventory", headers=viewer, json={"inventory_quantity": 1}
        )
        assert_error(response, 403, "forbidden")
        assert await session.scalar(select(func.count()).select_from(FeedRun)) == 0

    async def test_admin_may_write(self, client: httpx.AsyncClient, keys: dict[Role, Headers]) -> None:
        assert (await upload(client, keys[Role.admin])).status_code == 202

    async def test_agent_key_is_not_staff(self, client: httpx.AsyncClient, keys: dict[Role, Headers]) -> None:
        for path in self.READS:
            assert_error(await client.get(path, headers=keys[Role.agent]), 403, "forbidden")

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", "/admin/v1/feeds"),
            ("POST", "/admin/v1/feeds"),
            ("GET", "/admin/v1/feeds/run_x"),
            ("GET", "/admin/v1/products"),
            ("GET", "/admin/v1/products/mug"),
            ("PATCH", "/admin/v1/products/mug/inventory"),
        ],
    )
    async def test_no_key_is_401(self, client: httpx.AsyncClient, method: str, path: str) -> None:
        response = await client.request(method, path, json={})
        assert_error(response, 401, "missing_api_key")
        assert response.headers["www-authenticate"] == "Bearer"
