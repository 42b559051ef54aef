"""Staff order lists on a seeded orders table: list, filter, search and review-queue latency.

    python bench/orders_admin.py [--orders 1000000] [--runs 200] [--server postgresql://...] [--export]

Recreates the database ``bench_orders`` and migrates it (``merchant db upgrade``), seeds N orders
with one ``INSERT ... SELECT`` over ``generate_series`` (created_at spread over the last 365 days,
order numbers in created_at order, realistic status / fraud / total / buyer distributions, all NOT
NULL columns filled), runs ``VACUUM ANALYZE``, then times every scenario R times (after 20
warm-up runs, with the table and its indexes read by ``pg_prewarm`` before each scenario: warm-cache
figures), parameters drawn afresh per run, twice:

  * ``service``: ``merchant.orders.admin.list_orders`` / ``review_queue`` on a fresh AsyncSession
    (pool checkout, the SELECT, the ORM load, rollback);
  * ``http``: ``GET /admin/v1/orders`` / ``/admin/v1/reviews`` on the real app (lifespan,
    middleware, viewer-key auth, response model) through ``httpx.ASGITransport``, one request at a time.

Prints a Markdown table (p50 / p95 / p99 / max per scenario; warm cache) and drops the database
unless ``--keep``. ``--reuse`` skips recreate + seed when ``bench_orders`` already holds N orders.
``--export`` also streams the whole ``/admin/v1/orders.csv`` once (time, rows/s, slowest chunk, RSS).
The schema (statistics target of ``buyer_name``) and the app's lifespan (``gc.freeze()`` after
start-up) are the service's own; the bench adds nothing to them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import uvicorn
from psycopg import sql
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from merchant.app import create_app
from merchant.config import Environment, LogFormat, Settings
from merchant.identity import service as identity
from merchant.identity.roles import Role
from merchant.orders import admin
from merchant.orders.admin import OrderFilters, OrderPage, OrderSort

DATABASE = "bench_orders"
PAGE = 50
WALK_PAGES = 20
BUYERS = 200_000
STATUSES = ("manual_review", "canceled", "processing", "confirmed", "shipped", "completed")
_FIRST_NAMES = (  # most common first: the seed picks early names more often
    "james mary john patricia robert jennifer michael linda william elizabeth david barbara"
    " richard susan joseph jessica thomas sarah charles karen christopher lisa daniel nancy"
    " matthew betty anthony margaret mark sandra donald ashley steven kimberly paul emily andrew"
    " donna joshua michelle kenneth carol kevin amanda brian dorothy george melissa timothy"
    " deborah maria marco martin jose jordan joan marcus mariana josephine jonas"
)
_LAST_NAMES = (
    "smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez"
    " gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson white harris"
    " sanchez clark ramirez lewis robinson walker young allen king wright scott torres nguyen hill"
    " flores green adams nelson baker hall rivera campbell mitchell carter roberts"
)
FIRST_NAMES, LAST_NAMES = _FIRST_NAMES.split(), _LAST_NAMES.split()
DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "example.com")
PLATFORMS = (  # (platform id, its agent key, share of orders)
    ("plat_0a1b2c3d4e5f6071", "key_1a2b3c4d5e6f7081", 0.45),
    ("plat_1b2c3d4e5f607182", "key_2b3c4d5e6f708192", 0.25),
    ("plat_2c3d4e5f60718293", "key_3c4d5e6f708192a3", 0.15),
    ("plat_3d4e5f6071829304", "key_4d5e6f708192a3b4", 0.10),
    ("plat_4e5f607182930415", "key_5e6f708192a3b4c5", 0.05),
)


def _array(values: tuple[str, ...] | list[str]) -> str:
    return "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]"


def _platform_case(column: str) -> str:
    """SQL choosing a platform (index 0..4) from a uniform random column, by share."""
    parts, edge = [], 0.0
    for index, (_, _, share) in enumerate(PLATFORMS[:-1]):
        edge += share
        parts.append(f"WHEN {column} < {edge:.4f} THEN {index + 1}")
    return f"CASE {' '.join(parts)} ELSE {len(PLATFORMS)} END"


def seed_sql(orders: int) -> list[str]:
    platform_ids = _array([p[0] for p in PLATFORMS])
    owners = _array([p[1] for p in PLATFORMS])
    firsts, lasts, domains = _array(FIRST_NAMES), _array(LAST_NAMES), _array(DOMAINS)
    # Uniform random draws per order, materialized once (no volatile expression is evaluated twice).
    raw = f"""
        CREATE UNLOGGED TABLE bench_raw AS
        SELECT i, random() AS r_status, random() AS r_fraud, random() AS r_score, random() AS r_total,
               1 + floor(random() * {BUYERS})::int AS buyer, random() AS r_platform, random() AS r_time,
               random() AS r_misc
        FROM generate_series(1, {orders}) AS i
    """
    # Per order: its buyer's identity (a buyer always has the same name and email), then the rest.
    insert = f"""
        INSERT INTO orders (
            id, number, checkout_session_id, owner, platform_id, permalink_url, status, currency, email,
            buyer_name, buyer_display_name, buyer, fulfillment_details, fulfillment_option, totals, total,
            amount_refunded,
            order_notes, permalink_token, payment_id, capture_method, fraud_decision, fraud_score,
            created_at, updated_at)
        SELECT
            'ord_' || substr(md5(i || ':o'), 1, 24), 1000 + i, 'cs_' || substr(md5(i || ':c'), 1, 24),
            ({owners})[p], ({platform_ids})[p],
            'https://shop.example/acp/order-status/' || token, status, 'USD', email,
            first_name || ' ' || last_name, initcap(first_name) || ' ' || initcap(last_name),
            jsonb_build_object('first_name', initcap(first_name), 'last_name', initcap(last_name),
                               'email', email, 'phone_number', '+1555' || lpad(buyer::text, 7, '0')),
            jsonb_build_object('name', initcap(first_name || ' ' || last_name), 'email', email,
                               'address', jsonb_build_object(
                                   'name', initcap(first_name || ' ' || last_name),
                                   'line_one', (buyer % 997 + 1) || ' Main St', 'city', 'Springfield',
                                   'state', 'IL', 'country', 'US', 'postal_code', '62701')),
            jsonb_build_object('id', 'standard', 'type', 'shipping', 'title', 'Standard shipping',
                               'amount', fulfillment, 'carrier', 'usps', 'min_days', 3, 'max_days', 5),
            jsonb_build_object('items_base_amount', total - fulfillment - tax, 'items_discount', 0,
                               'subtotal', total - fulfillment - tax, 'discount', 0,
                               'fulfillment', fulfillment, 'tax', tax, 'total', total,
                               'tax_inclusive', false,
                               'tax_breakdown', jsonb_build_array(jsonb_build_array('Sales tax', tax))),
            total,
            CASE WHEN status = 'completed' AND r_misc < 0.03 THEN total / 2 ELSE 0 END,
            CASE WHEN r_misc > 0.95 THEN 'Leave it at the door, please.' END,
            token, 'pay_' || substr(md5(i || ':p'), 1, 24),
            CASE WHEN r_misc > 0.9 THEN 'automatic' ELSE 'manual' END,
            fraud_decision,
            CASE fraud_decision
                WHEN 'review' THEN 50 + floor(r_score * 51)::int
                WHEN 'approve' THEN floor(70 * power(r_score, 2.5))::int
            END,
            created_at, created_at + (r_misc * interval '3 days')
        FROM (
            SELECT *,
                   floor(total * 0.07)::bigint AS tax,
                   CASE WHEN total BETWEEN 1000 AND 4999 THEN 500 ELSE 0 END AS fulfillment
            FROM (
                SELECT i, r_score, r_misc, buyer,
                       {_platform_case("r_platform")} AS p,
                       substr(md5(i || ':t'), 1, 32) AS token,
                       status,
                       CASE
                           WHEN status = 'manual_review' THEN 'review'
                           WHEN r_fraud < 0.02 THEN NULL
                           WHEN r_fraud < 0.071 THEN 'review'
                           ELSE 'approve'
                       END AS fraud_decision,
                       (500 + floor(49500 * power(r_total, 2)))::bigint AS total,
                       ({firsts})[1 + floor({len(FIRST_NAMES)} * power(h1, 2))::int] AS first_name,
                       ({lasts})[1 + floor({len(LAST_NAMES)} * power(h2, 1.5))::int] AS last_name,
                       ({firsts})[1 + floor({len(FIRST_NAMES)} * power(h1, 2))::int] || '.'
                           || ({lasts})[1 + floor({len(LAST_NAMES)} * power(h2, 1.5))::int]
                           || buyer || '@' || ({domains})[1 + (hashint4(buyer + 7) & 2147483647) % 5]
                           AS email,
                       now() - interval '365 days' + (i - r_time) * (interval '365 days' / {orders})
                           AS created_at
                FROM (
                    SELECT *,
                           (hashint4(buyer) & 2147483647) / 2147483648.0 AS h1,
                           (hashint4(buyer + 1000003) & 2147483647) / 2147483648.0 AS h2,
                           CASE
                               WHEN r_status < 0.03 THEN 'manual_review'
                               WHEN r_status < 0.08 THEN 'canceled'
                               WHEN r_status < 0.20 THEN 'processing'
                               WHEN r_status < 0.40 THEN 'confirmed'
                               WHEN r_status < 0.65 THEN 'shipped'
                               ELSE 'completed'
                           END AS status
                    FROM bench_raw
                ) AS drawn
            ) AS picked
        ) AS priced
    """
    return [
        raw,
        insert,
        f"SELECT setval('order_number_seq', {1000 + orders})",
        "DROP TABLE bench_raw",
    ]


def database_url(server: str, name: str) -> str:
    base, _, _ = server.rpartition("/")
    return f"{base}/{name}"


def env_for(url: str) -> dict[str, str]:
    return {**os.environ, "MERCHANT_DATABASE_URL": url, "MERCHANT_LOG_LEVEL": "WARNING"}


def recreate(server: str) -> str:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    url = database_url(server, DATABASE)
    subprocess.run(["merchant", "db", "upgrade"], env=env_for(url), check=True, capture_output=True)
    return url


def drop(server: str) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))


def existing_orders(server: str) -> int:
    try:
        with psycopg.connect(database_url(server, DATABASE)) as conn:
            row = conn.execute("SELECT count(*) FROM orders").fetchone()
    except psycopg.Error:
        return -1
    return int(row[0]) if row else -1


@dataclass
class Seeded:
    insert_s: float
    analyze_s: float
    table_mb: float
    indexes_mb: float


def seed(url: str, orders: int) -> Seeded:
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        for statement in seed_sql(orders):
            conn.execute(statement.encode())
        inserted = time.perf_counter()
        conn.execute("VACUUM ANALYZE orders")
        analyzed = time.perf_counter()
    return Seeded(inserted - started, analyzed - inserted, *sizes(url))


def sizes(url: str) -> tuple[float, float]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_table_size('orders'), pg_indexes_size('orders')").fetchone()
    assert row is not None
    return row[0] / 2**20, row[1] / 2**20


def prewarm(url: str) -> None:
    """Every page of the table and its indexes read once (the OS cache keeps them: warm figures)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        conn.execute(
            "SELECT pg_prewarm(c.oid::regclass, 'read') FROM pg_class c"
            " WHERE c.oid = 'orders'::regclass"
            " OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'orders'::regclass)"
        )


@dataclass
class Samples:
    """Parameters to draw from: values that exist in the seeded table."""

    emails: list[str]
    newest: datetime
    oldest: datetime
    first_number: int
    last_number: int
    review_oldest: datetime
    review_newest: datetime


def samples(url: str) -> Samples:
    with psycopg.connect(url) as conn:
        emails = [r[0] for r in conn.execute("SELECT email FROM orders TABLESAMPLE SYSTEM (1) LIMIT 5000")]
        row = conn.execute("SELECT min(created_at), max(created_at), min(number), max(number) FROM orders")
        oldest, newest, first, last = row.fetchone() or (None, None, 0, 0)
        review = conn.execute(
            "SELECT min(created_at), max(created_at) FROM orders WHERE status = 'manual_review'"
        ).fetchone()
    assert review is not None
    assert oldest is not None
    assert newest is not None
    return Samples(emails, newest, oldest, first, last, review[0], review[1])


def make_cursor(sort: OrderSort, value: Any, order_id: str) -> str:
    """A cursor as merchant.orders.admin.encode_cursor writes it, for a page at a chosen depth."""
    raw = json.dumps([sort.value, value, order_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True)
class Request:
    filters: OrderFilters = field(default_factory=OrderFilters)
    sort: OrderSort = OrderSort.newest
    cursor: str | None = None
    review_queue: bool = False


@dataclass(frozen=True)
class Scenario:
    name: str
    draw: Callable[[random.Random, Samples], Request]
    pages: int = 1  # > 1: follow next_cursor; every page after the first is one sample


def _between(rng: random.Random, low: datetime, high: datetime) -> datetime:
    return low + (high - low) * rng.random()


def _week(rng: random.Random, s: Samples) -> tuple[datetime, datetime]:
    start = _between(rng, s.oldest, s.newest - timedelta(days=7))
    return start, start + timedelta(days=7)


def _totals(rng: random.Random) -> tuple[int, int]:
    low = rng.randrange(500, 45_000)
    return low, low + rng.randrange(1_000, 5_001)


def _platform(rng: random.Random) -> str:
    return rng.choice(PLATFORMS)[0]


def _deep_created(rng: random.Random, s: Samples, sort: OrderSort) -> str:
    at = _between(rng, s.oldest, s.newest)
    return make_cursor(sort, at.isoformat(), "ord_" + "f" * 24)


def scenarios() -> list[Scenario]:
    f = OrderFilters
    largest = OrderSort.largest
    return [
        Scenario("default list (newest, 50)", lambda r, s: Request()),
        Scenario(f"cursor walk, pages 2-{WALK_PAGES} (newest)", lambda r, s: Request(), pages=WALK_PAGES),
        Scenario(
            "page at a random depth (newest)",
            lambda r, s: Request(cursor=_deep_created(r, s, OrderSort.newest)),
        ),
        Scenario("status=manual_review", lambda r, s: Request(f(status="manual_review"))),
        Scenario("fraud_decision=review", lambda r, s: Request(f(fraud_decision="review"))),
        Scenario("score 70-100", lambda r, s: Request(f(score_min=70, score_max=100))),
        Scenario(
            "created: random 7-day window",
            lambda r, s: Request(f(created_from=(w := _week(r, s))[0], created_to=w[1])),
        ),
        Scenario("email=<existing>", lambda r, s: Request(f(email=r.choice(s.emails)))),
        Scenario(
            "total: random range (1k-5k wide)",
            lambda r, s: Request(f(total_min=(t := _totals(r))[0], total_max=t[1])),
        ),
        Scenario("platform_id (5, 45 %..5 %)", lambda r, s: Request(f(platform_id=_platform(r)))),
        Scenario(
            "status (random) + 7-day window",
            lambda r, s: Request(
                f(status=r.choice(STATUSES), created_from=(w := _week(r, s))[0], created_to=w[1])
            ),
        ),
        Scenario(
            "platform + total range",
            lambda r, s: Request(f(platform_id=_platform(r), total_min=(t := _totals(r))[0], total_max=t[1])),
        ),
        Scenario(
            "q: order number",
            lambda r, s: Request(f(q=str(r.randint(s.first_number, s.last_number)))),
        ),
        Scenario("q: email (any case)", lambda r, s: Request(f(q=r.choice(s.emails).upper()))),
        Scenario('q: name prefix "mar"', lambda r, s: Request(f(q="mar"))),
        Scenario('q: name prefix "jo"', lambda r, s: Request(f(q="jo"))),
        Scenario(
            'q: "first l" (random name + initial)',
            lambda r, s: Request(f(q=f"{r.choice(FIRST_NAMES)} {r.choice(LAST_NAMES)[0]}")),
        ),
        Scenario(
            'q: "first last" (random full name)',
            lambda r, s: Request(f(q=f"{r.choice(FIRST_NAMES)} {r.choice(LAST_NAMES)}")),
        ),
        Scenario("sort largest, first page", lambda r, s: Request(sort=largest)),
        Scenario(
            "sort largest, page at a random depth",
            lambda r, s: Request(
                sort=largest, cursor=make_cursor(largest, r.randrange(500, 50_000), "ord_" + "f" * 24)
            ),
        ),
        Scenario(
            f"sort largest, cursor walk pages 2-{WALK_PAGES}",
            lambda r, s: Request(sort=largest),
            pages=WALK_PAGES,
        ),
        Scenario("review queue (oldest first)", lambda r, s: Request(review_queue=True)),
        Scenario(
            "review queue, page at a random depth",
            lambda r, s: Request(
                review_queue=True,
                cursor=make_cursor(
                    OrderSort.oldest,
                    _between(r, s.review_oldest, s.review_newest).isoformat(),
                    "ord_",
                ),
            ),
        ),
    ]


def http_params(request: Request) -> dict[str, str]:
    params: dict[str, str] = {"limit": str(PAGE)}
    if request.cursor is not None:
        params["starting_after"] = request.cursor
    if request.review_queue:
        return params
    params["sort"] = request.sort.value
    for name in OrderFilters.__dataclass_fields__:
        value = getattr(request.filters, name)
        if value is not None:
            params[name] = value.isoformat() if isinstance(value, datetime) else str(value)
    return params


PageCall = Callable[[Request], Awaitable[tuple[int, str | None]]]


def service_call(sessions: async_sessionmaker[AsyncSession]) -> PageCall:
    async def call(request: Request) -> tuple[int, str | None]:
        async with sessions() as session:
            page: OrderPage
            if request.review_queue:
                page = await admin.review_queue(session, starting_after=request.cursor, limit=PAGE)
            else:
                page = await admin.list_orders(
                    session, request.filters, sort=request.sort, starting_after=request.cursor, limit=PAGE
                )
        return len(page.items), page.next_cursor

    return call


def http_call(client: httpx.AsyncClient) -> PageCall:
    async def call(request: Request) -> tuple[int, str | None]:
        path = "/admin/v1/reviews" if request.review_queue else "/admin/v1/orders"
        response = await client.get(path, params=http_params(request))
        if response.status_code != 200:
            raise SystemExit(f"GET {path} {http_params(request)}: {response.status_code} {response.text}")
        body = response.json()
        return len(body["data"]), body["next_cursor"]

    return call


@dataclass
class Timing:
    times_ms: list[float] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)

    def quantile(self, q: float) -> float:
        ordered = sorted(self.times_ms)
        return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))]


async def run_scenario(
    scenario: Scenario, call: PageCall, runs: int, rng: random.Random, found: Samples, warmup: int
) -> Timing:
    timing = Timing()
    for run in range(warmup + runs):
        request = scenario.draw(rng, found)
        for page in range(scenario.pages):
            started = time.perf_counter()
            rows, cursor = await call(request)
            elapsed = (time.perf_counter() - started) * 1000
            if run >= warmup and (scenario.pages == 1 or page > 0):
                timing.times_ms.append(elapsed)
                timing.rows.append(rows)
            if cursor is None:
                break
            request = replace(request, cursor=cursor)
    return timing


async def measure(
    url: str, runs: int, seed_value: int, only: str | None, export: bool
) -> tuple[list[tuple[Scenario, Timing, Timing]], str | None]:
    settings = Settings(
        env=Environment.test,
        database_url=url,
        log_level="WARNING",
        log_format=LogFormat.json,
        db_pool_size=4,
        jobs_pool_size=1,
    )
    app = create_app(settings)
    found = samples(url)
    results = []
    async with app.router.lifespan_context(app):
        sessions: async_sessionmaker[AsyncSession] = app.state.sessions
        async with sessions() as session:
            token = (await identity.create_key(session, role=Role.viewer, name="bench")).token
            await session.commit()
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://merchant.test", headers=headers
        ) as client:
            for scenario in scenarios():
                if only and only not in scenario.name:
                    continue
                prewarm(url)  # cheap (~0.5 s): no scenario pays for pages another one evicted
                warmup = min(20, runs)
                service = await run_scenario(
                    scenario, service_call(sessions), runs, random.Random(seed_value), found, warmup
                )
                http = await run_scenario(
                    scenario, http_call(client), runs, random.Random(seed_value + 1), found, warmup
                )
                print(
                    f"{scenario.name}: service p99 {service.quantile(0.99):.1f} ms,"
                    f" http p99 {http.quantile(0.99):.1f} ms",
                    file=sys.stderr,
                )
                results.append((scenario, service, http))
            exported = await export_csv(app, headers) if export else None
    return results, exported


async def export_csv(app: Any, headers: dict[str, str]) -> str:
    """Stream the whole ``/admin/v1/orders.csv`` once over a real socket (ASGITransport would buffer
    it): rows, time, first byte, slowest gap between chunks, RSS growth of this process (server and
    client)."""
    sock = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False))
    serving = asyncio.create_task(server.serve(sockets=[sock]))  # the socket already listens
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rows, size, slowest_ms, first_ms = 0, 0, 0.0, None
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
            start = last = time.perf_counter()
            async with client.stream("GET", "/admin/v1/orders.csv") as response:
                response.raise_for_status()
                async for chunk in response.aiter_bytes():
                    now = time.perf_counter()
                    first_ms = (now - start) * 1000 if first_ms is None else first_ms
                    slowest_ms = max(slowest_ms, (now - last) * 1000)
                    last = now
                    rows += chunk.count(b"\n")
                    size += len(chunk)
            seconds = time.perf_counter() - start
    finally:
        server.should_exit = True
        await serving
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    return (
        f"CSV export of {rows - 1:,} orders ({size / 1e6:,.0f} MB): {seconds:.1f} s"
        f" ({(rows - 1) / seconds:,.0f} rows/s), first byte {first_ms or 0:.0f} ms,"
        f" slowest gap between chunks {slowest_ms:.0f} ms, peak RSS +{grown_mb:.0f} MB"
    )


def table(results: list[tuple[Scenario, Timing, Timing]]) -> str:
    lines = [
        "| Scenario | rows/page (mean) | service p50 | p95 | p99 | max | HTTP p50 | p95 | p99 | max |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario, service, http in results:
        cells = [scenario.name, f"{statistics.fmean(service.rows):.0f}"]
        for timing in (service, http):
            figures = [timing.quantile(q) for q in (0.5, 0.95, 0.99)] + [max(timing.times_ms)]
            cells += [f"**{v:.1f}**" if q == 2 and v > 50 else f"{v:.1f}" for q, v in enumerate(figures)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the per-run parameters")
    parser.add_argument("--only", help="run only the scenarios whose name contains this")
    parser.add_argument("--reuse", action="store_true", help="keep an already seeded bench_orders")
    parser.add_argument("--keep", action="store_true", help="do not drop bench_orders at the end")
    parser.add_argument("--export", action="store_true", help="also stream the whole CSV export once")
    args = parser.parse_args()

    url = database_url(args.server, DATABASE)
    if args.reuse and existing_orders(args.server) == args.orders:
        print(f"reusing {DATABASE} ({args.orders:,} orders)", file=sys.stderr)
    else:
        url = recreate(args.server)
        seeded = seed(url, args.orders)
        print(
            f"seeded {args.orders:,} orders: INSERT ... SELECT {seeded.insert_s:.1f} s,"
            f" VACUUM ANALYZE {seeded.analyze_s:.1f} s; table {seeded.table_mb:,.0f} MB,"
            f" indexes {seeded.indexes_mb:,.0f} MB",
            file=sys.stderr,
        )
    try:
        results, exported = asyncio.run(measure(url, args.runs, args.seed, args.only, args.export))
    finally:
        if not args.keep:
            drop(args.server)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"\n{args.orders:,} orders, {args.runs} runs per scenario ({stamp}), warm cache:\n")
    print(table(results))
    if exported:
        print(f"\n{exported}")


if __name__ == "__main__":
    main()
