"""Publishing the catalog to an agent-hosted ACP Feed API, against a real HTTP receiver.

The receiver (``tests/catalog/feed_receiver.py``) checks every request against the official
spec in ``../shared/acp`` (OpenAPI operations, JSON Schema bodies, headers); the tests skip
when that folder is absent.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from merchant.catalog import tasks as catalog_tasks
from merchant.catalog.models import FeedRun
from merchant.catalog.publish import (
    FeedApiError,
    FeedClient,
    FeedConfigError,
    derive_idempotency_key,
    publish_catalog,
)
from merchant.catalog.records import FeedMode
from merchant.config import Settings, get_settings
from merchant.db import create_sessionmaker, transaction
from merchant.jobs.defer import defer
from merchant.jobs.worker import run_worker
from merchant.kit.retry_after import parse_retry_after
from tests.catalog.feed_receiver import Fault, FeedReceiver, Recorded, spec_available
from tests.catalog.helpers import run_feed
from tests.cli.helpers import free_port, run_cli

FEEDS = Path(__file__).parent / "feeds"
TOKEN = "feed-token-for-tests"
Json = dict[str, Any]


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture
def receiver() -> Iterator[FeedReceiver]:
    if not spec_available():
        pytest.skip("the ACP spec is not checked out next to the project (../shared/acp)")
    with FeedReceiver.running(TOKEN) as running:
        yield running


class Sleeps:
    """An injected ``sleep`` that records the delays and does not wait."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def client(receiver: FeedReceiver, **options: Any) -> FeedClient:
    options.setdefault("backoff_base", 0.001)
    options.setdefault("timeout", 5.0)
    options.setdefault("allow_private", True)  # the receiver is on 127.0.0.1
    return FeedClient(receiver.url, options.pop("token", TOKEN), **options)


def acp_product(index: int) -> Json:
    """A single-variant ACP product that survives import and export unchanged."""
    return {
        "id": f"prod_{index:03d}",
        "title": f"Product {index}",
        "variants": [
            {
                "id": f"sku-{index:03d}",
                "title": f"Product {index}",
                "price": {"amount": 100 + index, "currency": "USD"},
                "availability": {"available": True, "status": "in_stock"},
            }
        ],
    }


def write_acp(directory: Path, products: list[Json]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "products.jsonl").write_bytes(b"".join(orjson.dumps(p) + b"\n" for p in products))
    return directory


async def ingest_path(
    sessions: async_sessionmaker[AsyncSession], path: Path, mode: FeedMode = FeedMode.UPSERT
) -> FeedRun:
    run = await run_feed(sessions, path, mode=mode)
    assert run.status == "succeeded", run.error_message
    return run


def sent_products(requests: list[Recorded]) -> dict[str, Json]:
    return {p["id"]: p for r in requests if r.status == 200 for p in r.body["products"]}


# --------------------------------------------------------------------------- the client


class TestClient:
    async def test_create_and_read_a_feed_with_the_spec_headers(self, receiver: FeedReceiver) -> None:
        async with client(receiver) as feeds:
            created = await feeds.create_feed("US")
            read = await feeds.get_feed(created.id)
        assert (created.id, created.target_country) == ("feed_1", "US")
        assert read == created
        assert receiver.violations == []
        post, get = receiver.requests
        assert (post.method, post.path, post.status, post.body) == (
            "POST",
            "/feeds",
            201,
            {"target_country": "US"},
        )
        assert (get.method, get.path, get.status) == ("GET", "/feeds/feed_1", 200)
        for request in (post, get):
            assert request.headers["authorization"] == f"Bearer {TOKEN}"
            assert request.headers["api-version"] == "2026-04-17"
        assert post.headers["content-type"] == "application/json"
        assert post.key
        assert "idempotency-key" not in get.headers
        assert "content-type" not in get.headers

    async def test_the_receiver_flags_missing_headers(self, receiver: FeedReceiver) -> None:
        receiver.add_feed("feed_x")
        async with httpx.AsyncClient() as raw:
            answer = await raw.patch(
                f"{receiver.url}/feeds/feed_x/products",
                content=orjson.dumps({"products": [acp_product(1)]}),
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
        assert answer.status_code == 400
        flagged = " ".join(receiver.violations)
        for header in ("API-Version", "Request-Id", "Timestamp", "Content-Type", "Idempotency-Key"):
            assert header in flagged

    async def test_a_product_the_schema_refuses_is_caught_by_the_receiver(
        self, receiver: FeedReceiver
    ) -> None:
        receiver.add_feed("feed_x")
        async with client(receiver) as feeds:
            with pytest.raises(FeedApiError) as caught:
                await feeds.upsert_products("feed_x", [{"id": "p", "variants": [{"id": "v"}]}])
        assert caught.value.status == 400
        assert caught.value.attempts == 1
        assert any("'title' is a required property" in v for v in receiver.violations)

    async def test_429_then_500_are_retried_with_the_same_key_and_bytes(self, receiver: FeedReceiver) -> None:
        receiver.add_feed("feed_x")
        receiver.fail_next("PATCH", Fault.error(429, "rate_limited", retry_after="7"), Fault.error(500))
        sleeps = Sleeps()
        async with client(receiver, sleep=sleeps, backoff_base=0.25) as feeds:
            result = await feeds.upsert_products("feed_x", [acp_product(1)])
        assert result.feed_id == "feed_x"
        attempts = receiver.of("PATCH")
        assert [r.status for r in attempts] == [429, 500, 200]
        assert len({r.key for r in attempts}) == 1
        assert len({r.raw for r in attempts}) == 1
        assert len({r.headers["request-id"] for r in attempts}) == 1
        assert attempts[0].key == derive_idempotency_key("upsert", "feed_x", {"products": [acp_product(1)]})
        assert sleeps.delays[0] == 7.0  # Retry-After honoured
        assert 0.25 <= sleeps.delays[1] <= 0.5  # second attempt: base * 2, jittered down to half
        assert receiver.violations == []

    async def test_timeout_and_dropped_connection_are_retried(self, receiver: FeedReceiver) -> None:
        receiver.add_feed("feed_x")
        receiver.fail_next("PATCH", Fault.slow(1.0), Fault.dropped())
        async with client(receiver, timeout=0.2) as feeds:
            await feeds.upsert_products("feed_x", [acp_product(1)])
        attempts = receiver.of("PATCH")
        assert len(attempts) == 3
        assert len({r.key for r in attempts}) == 1
        assert receiver.products["feed_x"]["prod_001"] == acp_product(1)
        assert receiver.violations == []

    async def test_409_in_flight_is_retried(self, receiver: FeedReceiver) -> None:
        receiver.add_feed("feed_x")
        receiver.fail_next("PATCH", Fault.error(409, "idempotency_in_flight", retry_after="0"))
        async with client(receiver) as feeds:
            await feeds.upsert_products("feed_x", [acp_product(1)])
        assert [r.status for r in receiver.of("PATCH")] == [409, 200]

    @pytest.mark.parametrize(
        ("fault", "status", "code"),
        [
            (Fault.error(400, "invalid_product_payload"), 400, "invalid_product_payload"),
            (None, 401, "unauthorized"),  # the wrong token
            (Fault.error(409, "idempotency_conflict"), 409, "idempotency_conflict"),
            (Fault.error(422, "idempotency_conflict"), 422, "idempotency_conflict"),
        ],
    )
    async def test_permanent_errors_fail_at_once(
        self, receiver: FeedReceiver, fault: Fault | None, status: int, code: str
    ) -> None:
        receiver.add_feed("feed_x")
        if fault is not None:
            receiver.fail_next("PATCH", fault)
        sleeps = Sleeps()
        token = TOKEN if fault is not None else "wrong-token"
        async with client(receiver, token=token, sleep=sleeps) as feeds:
            with pytest.raises(FeedApiError) as caught:
                await feeds.upsert_products("feed_x", [acp_product(1)])
        error = caught.value
        assert (error.status, error.code, error.attempts) == (status, code, 1)
        assert f"PATCH /feeds/feed_x/products answered HTTP {status} after 1 attempt" in str(error)
        assert (status == 401) == ("check the Feed API token" in str(error))
        assert len(receiver.of("PATCH")) == 1
        assert sleeps.delays == []

    async def test_retries_are_bounded(self, receiver: FeedReceiver) -> None:
        receiver.add_feed("feed_x")
        receiver.fail_next("PATCH", *[Fault.error(503)] * 3)
        async with client(receiver, max_attempts=3) as feeds:
            with pytest.raises(FeedApiError, match=r"after 3 attempts.*retries exhausted") as caught:
                await feeds.upsert_products("feed_x", [acp_product(1)])
        assert caught.value.status == 503
        assert len(receiver.of("PATCH")) == 3

    async def test_a_long_retry_after_fails_instead_of_blocking(self, receiver: FeedReceiver) -> None:
        receiver.add_feed("feed_x")
        receiver.fail_next("PATCH", Fault.error(429, retry_after="3600"))
        async with client(receiver, max_retry_after=60) as feeds:
            with pytest.raises(FeedApiError, match="Retry-After 3600 s is too long"):
                await feeds.upsert_products("feed_x", [acp_product(1)])
        assert len(receiver.of("PATCH")) == 1

    async def test_an_unreachable_api_fails_after_the_retries(self) -> None:
        url = f"http://127.0.0.1:{free_port()}"  # nothing listens: the connection is refused
        async with FeedClient(url, TOKEN, max_attempts=2, backoff_base=0.001, allow_private=True) as feeds:
            with pytest.raises(FeedApiError, match="could not be reached after 2 attempts") as caught:
                await feeds.get_feed("feed_x")
        assert caught.value.status is None

    async def test_accepted_false_is_an_error(self, receiver: FeedReceiver) -> None:
        receiver.add_feed("feed_x")
        receiver.fail_next("PATCH", Fault(status=200, body={"id": "feed_x", "accepted": False}))
        async with client(receiver) as feeds:
            with pytest.raises(FeedApiError, match="not_accepted"):
                await feeds.upsert_products("feed_x", [acp_product(1)])

    def test_configuration_is_checked(self) -> None:
        with pytest.raises(FeedConfigError, match="http"):
            FeedClient("ftp://agent.example", TOKEN)
        with pytest.raises(FeedConfigError, match="token"):
            FeedClient("https://agent.example", "")
        with pytest.raises(FeedConfigError, match="MERCHANT_FEED_PUBLISH_URL"):
            FeedClient.from_settings(Settings(feed_publish_token=TOKEN))

    def test_idempotency_keys_are_deterministic(self) -> None:
        body = {"products": [acp_product(1)]}
        key = derive_idempotency_key("upsert", "feed_x", body, "run_1")
        assert key == derive_idempotency_key("upsert", "feed_x", orjson.loads(orjson.dumps(body)), "run_1")
        reordered = {"products": [dict(reversed(list(acp_product(1).items())))]}
        assert key == derive_idempotency_key("upsert", "feed_x", reordered, "run_1")  # JCS
        assert key != derive_idempotency_key("upsert", "feed_x", {"products": [acp_product(2)]}, "run_1")
        assert key != derive_idempotency_key("upsert", "feed_y", body, "run_1")
        assert key != derive_idempotency_key("upsert", "feed_x", body, "run_2")
        assert 1 <= len(key) <= 255

    def test_retry_after_forms(self) -> None:
        from datetime import UTC, datetime

        now = datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)
        assert parse_retry_after("5") == 5.0
        assert parse_retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now=now) == 30.0
        assert parse_retry_after("Wed, 31 Dec 2025 00:00:00 GMT", now=now) == 0.0
        assert parse_retry_after("soon") is None
        assert parse_retry_after(None) is None


# --------------------------------------------------------------------------- publication


class TestPublish:
    async def test_the_catalog_goes_out_in_valid_batches(
        self, receiver: FeedReceiver, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
    ) -> None:
        catalog = [acp_product(i) for i in range(7)]
        await ingest_path(sessions, write_acp(tmp_path / "feed", catalog))
        batches: list[tuple[int, int, int]] = []
        async with sessions() as session, client(receiver) as feeds:
            result = await publish_catalog(
                session,
                feeds,
                feed_id=None,
                target_country="US",
                batch_size=3,
                on_batch=lambda *progress: batches.append(progress),
            )
        assert receiver.violations == []
        assert (result.feed_id, result.feed_created) == ("feed_1", True)
        assert receiver.feeds["feed_1"]["target_country"] == "US"
        patches = receiver.of("PATCH")
        assert result.batches == len(patches) == math.ceil(7 / 3)
        assert [len(r.body["products"]) for r in patches] == [3, 3, 1]
        assert batches == [(1, 3, 3), (2, 6, 6), (3, 7, 7)]
        assert (result.products, result.variants, result.discontinued_products) == (7, 7, 0)
        assert len({r.key for r in patches}) == 3
        # What the agent holds is exactly the catalog that was imported.
        assert receiver.products["feed_1"] == {p["id"]: p for p in catalog}

    async def test_every_feed_format_publishes_schema_valid_products(
        self, receiver: FeedReceiver, sessions: async_sessionmaker[AsyncSession]
    ) -> None:
        await ingest_path(sessions, FEEDS / "openai.csv")
        await ingest_path(sessions, FEEDS / "google.xml")
        await ingest_path(sessions, FEEDS / "acp")
        receiver.add_feed("feed_mix")
        async with sessions() as session:
            variants = (
                await session.execute(text("SELECT count(*) FROM catalog_variant WHERE delisted_at IS NULL"))
            ).scalar_one()
            products = (
                await session.execute(
                    text("SELECT count(DISTINCT product_id) FROM catalog_variant WHERE delisted_at IS NULL")
                )
            ).scalar_one()
            async with client(receiver) as feeds:
                result = await publish_catalog(session, feeds, feed_id="feed_mix", batch_size=2)
        assert receiver.violations == []
        assert [r.method for r in receiver.requests] == ["GET"] + ["PATCH"] * math.ceil(products / 2)
        assert (result.products, result.variants, result.batches) == (
            products,
            variants,
            math.ceil(products / 2),
        )
        tee = receiver.products["feed_mix"]["tee"]
        assert [v["id"] for v in tee["variants"]] == ["tee-red-m", "tee-red-s"]

    async def test_retried_batches_keep_their_key(
        self, receiver: FeedReceiver, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
    ) -> None:
        await ingest_path(sessions, write_acp(tmp_path / "feed", [acp_product(i) for i in range(4)]))
        receiver.add_feed("feed_x")
        receiver.fail_next("PATCH", Fault.error(429, retry_after="0"), Fault.error(500), Fault.error(502))
        async with sessions() as session, client(receiver) as feeds:
            result = await publish_catalog(session, feeds, feed_id="feed_x", batch_size=2, run_id="run_1")
        patches = receiver.of("PATCH")
        assert [r.status for r in patches] == [429, 500, 502, 200, 200]
        first, second = patches[3].body, patches[4].body
        assert [r.key for r in patches] == [
            derive_idempotency_key("upsert", "feed_x", first, "run_1")
        ] * 4 + [derive_idempotency_key("upsert", "feed_x", second, "run_1")]
        assert result.batches == 2
        assert len(receiver.products["feed_x"]) == 4
        assert receiver.violations == []

    async def test_delisted_products_are_sent_as_discontinued(
        self, receiver: FeedReceiver, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
    ) -> None:
        await ingest_path(sessions, FEEDS / "acp", FeedMode.SNAPSHOT)
        tee = orjson.loads((FEEDS / "acp" / "products.jsonl").read_text().splitlines()[0])
        tee["variants"] = tee["variants"][:1]  # acp-tee-m leaves; prod_yen and prod_bad leave entirely
        await ingest_path(sessions, write_acp(tmp_path / "next", [tee]), FeedMode.SNAPSHOT)
        receiver.add_feed("feed_x")
        async with sessions() as session, client(receiver) as feeds:
            result = await publish_catalog(session, feeds, feed_id="feed_x", batch_size=10)
        assert receiver.violations == []
        products = receiver.products["feed_x"]
        assert products["prod_tee"] == tee  # sent complete, without the delisted variant
        for gone in ("prod_yen", "prod_bad"):
            availability = [v.get("availability") for v in products[gone]["variants"]]
            assert availability == [{"available": False, "status": "discontinued"}]
        assert (result.products, result.discontinued_products, result.discontinued_variants) == (3, 2, 2)

        async with sessions() as session, client(receiver) as feeds:
            quiet = await publish_catalog(session, feeds, feed_id="feed_x", discontinued=False)
        assert (quiet.products, quiet.discontinued_products) == (1, 0)
        assert [p["id"] for p in receiver.of("PATCH")[-1].body["products"]] == ["prod_tee"]

    async def test_an_unknown_feed_fails_before_sending(
        self, receiver: FeedReceiver, sessions: async_sessionmaker[AsyncSession]
    ) -> None:
        await ingest_path(sessions, FEEDS / "acp")
        async with sessions() as session, client(receiver) as feeds:
            with pytest.raises(FeedApiError, match=r"404.*feed_not_found"):
                await publish_catalog(session, feeds, feed_id="feed_missing")
        assert [r.method for r in receiver.requests] == ["GET"]

    async def test_an_empty_catalog_sends_no_batch(
        self, receiver: FeedReceiver, sessions: async_sessionmaker[AsyncSession]
    ) -> None:
        async with sessions() as session, client(receiver) as feeds:
            result = await publish_catalog(session, feeds, feed_id=None)
        assert (result.feed_created, result.batches, result.products) == (True, 0, 0)
        assert [r.method for r in receiver.requests] == ["POST"]


# --------------------------------------------------------------------------- CLI and job


@pytest.mark.slow
class TestCommand:
    async def test_publish_end_to_end(
        self, receiver: FeedReceiver, committed: AsyncEngine, cli_env: dict[str, str]
    ) -> None:
        await ingest_path(create_sessionmaker(committed), FEEDS / "acp")
        args = ("catalog", "publish", "--url", receiver.url, "--token", TOKEN, "--batch-size", "2")
        created = run_cli(*args, env=cli_env)
        assert created.returncode == 0, created.stderr
        assert "Created feed feed_1" in created.stderr
        assert "MERCHANT_FEED_PUBLISH_ID=feed_1" in created.stderr
        assert (
            "Published 3 products (4 variants, 0 discontinued) to feed feed_1 in 2 batches" in created.stdout
        )
        assert [r.method for r in receiver.requests] == ["POST", "PATCH", "PATCH"]
        assert set(receiver.products["feed_1"]) == {"prod_tee", "prod_yen", "prod_bad"}

        # Settings as defaults: the same publication configured through the environment.
        env = {
            **cli_env,
            "MERCHANT_FEED_PUBLISH_URL": receiver.url,
            "MERCHANT_FEED_PUBLISH_TOKEN": TOKEN,
            "MERCHANT_FEED_PUBLISH_ID": "feed_1",
        }
        again = run_cli("catalog", "publish", env=env)
        assert again.returncode == 0, again.stderr
        assert "in 1 batches" in again.stdout
        assert [r.method for r in receiver.requests[3:]] == ["GET", "PATCH"]
        assert receiver.violations == []

    def test_no_url_exits_1(self, cli_env: dict[str, str]) -> None:
        result = run_cli("catalog", "publish", "--token", TOKEN, env=cli_env)
        assert result.returncode == 1
        assert "no Feed API URL: set MERCHANT_FEED_PUBLISH_URL or pass --url" in result.stderr

    def test_no_token_exits_1(self, cli_env: dict[str, str]) -> None:
        result = run_cli("catalog", "publish", "--url", "http://127.0.0.1:9", env=cli_env)
        assert result.returncode == 1
        assert "no Feed API token" in result.stderr

    async def test_a_failed_publication_exits_1(
        self, receiver: FeedReceiver, committed: AsyncEngine, cli_env: dict[str, str]
    ) -> None:
        await ingest_path(create_sessionmaker(committed), FEEDS / "acp")
        receiver.add_feed("feed_x")
        wrong = run_cli(
            "catalog", "publish", "--url", receiver.url, "--token", "wrong", "--feed-id", "feed_x",
            env=cli_env,
        )  # fmt: skip
        assert wrong.returncode == 1
        assert "publication failed: GET /feeds/feed_x answered HTTP 401" in wrong.stderr
        assert "check the Feed API token" in wrong.stderr

        receiver.fail_next("PATCH", *[Fault.error(500)] * 2)
        env = {
            **cli_env,
            "MERCHANT_FEED_PUBLISH_MAX_ATTEMPTS": "2",
            "MERCHANT_FEED_PUBLISH_BACKOFF": "0",
        }
        down = run_cli(
            "catalog", "publish", "--url", receiver.url, "--token", TOKEN, "--feed-id", "feed_x", env=env
        )
        assert down.returncode == 1
        assert "HTTP 500 after 2 attempts" in down.stderr
        assert "Traceback" not in down.stderr


@pytest.fixture
def cli_env(subprocess_env: dict[str, str]) -> dict[str, str]:
    return {**subprocess_env, "MERCHANT_OUTBOUND_ALLOW_PRIVATE": "true"}  # the receiver is on 127.0.0.1


@pytest.fixture
def publish_settings(monkeypatch: pytest.MonkeyPatch, receiver: FeedReceiver) -> Iterator[None]:
    """The worker reads ``get_settings()``: point it at the receiver for this test."""
    monkeypatch.setenv("MERCHANT_FEED_PUBLISH_URL", receiver.url)
    monkeypatch.setenv("MERCHANT_FEED_PUBLISH_TOKEN", TOKEN)
    monkeypatch.setenv("MERCHANT_FEED_PUBLISH_BATCH_SIZE", "2")
    monkeypatch.setenv("MERCHANT_OUTBOUND_ALLOW_PRIVATE", "true")  # the receiver is on 127.0.0.1
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


class TestJob:
    async def _run(self, engine: AsyncEngine, settings: Settings, **kwargs: Any) -> tuple[int, str]:
        async with transaction(create_sessionmaker(engine)) as session:
            job_id = await defer(session, catalog_tasks.publish_feed, **kwargs)
        await run_worker(settings.database_url or "", settings, concurrency=1, queues=["catalog"], wait=False)
        async with engine.connect() as connection:
            status = await connection.scalar(
                text("SELECT status::text FROM procrastinate_jobs WHERE id = :id"), {"id": job_id}
            )
        return job_id, str(status)

    async def test_the_job_publishes_with_job_scoped_keys(
        self,
        receiver: FeedReceiver,
        publish_settings: None,
        committed: AsyncEngine,
        settings: Settings,
    ) -> None:
        await ingest_path(create_sessionmaker(committed), FEEDS / "acp")
        receiver.add_feed("feed_job")
        job_id, status = await self._run(committed, settings, feed_id="feed_job")
        assert status == "succeeded"
        patches = receiver.of("PATCH")
        assert [r.key for r in patches] == [
            derive_idempotency_key("upsert", "feed_job", r.body, f"job_{job_id}") for r in patches
        ]
        assert len(patches) == 2
        assert set(receiver.products["feed_job"]) == {"prod_tee", "prod_yen", "prod_bad"}
        assert receiver.violations == []

    async def test_the_job_needs_a_feed_id(
        self,
        receiver: FeedReceiver,
        publish_settings: None,
        committed: AsyncEngine,
        settings: Settings,
    ) -> None:
        _, status = await self._run(committed, settings)
        assert status == "failed"
        assert receiver.requests == []  # never creates a feed
