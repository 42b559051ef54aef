"""Staff webhook-event lists on a seeded order_event table: ``merchant.webhooks.admin.list_events``.

    python bench/webhook_events_admin.py [--orders 400000] [--runs 100] [--server postgresql://...]

Recreates the database ``bench_events``, migrates it (``merchant db upgrade``), seeds 5 platforms,
N orders (created over the last 365 days) and 5 events per order (status 2 % dead, ~1 % pending,
the rest delivered), ``VACUUM ANALYZE``s, then times each scenario R times (after 5 warm-up runs)
through ``list_events`` on a fresh AsyncSession (pool checkout, the SELECTs, the ORM load), pages
of 50. Prints a Markdown table (p50 / p99 / max, milliseconds) and drops the database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from merchant.config import Environment, LogFormat, Settings
from merchant.db import create_engine, create_sessionmaker
from merchant.webhooks.admin import EventFilters, list_events

DATABASE = "bench_events"
EVENTS_PER_ORDER = 5


def seed_sql(orders: int) -> list[str]:
    spacing = 365 * 24 * 3600 // orders  # seconds between orders
    return [
        "INSERT INTO agent_platform (id, name, webhook_url, signing_secret, acp_version)"
        " SELECT 'plat_' || i, 'platform ' || i, 'https://p' || i || '.example/hook', 'whsec_x',"
        " '2026-04-17' FROM generate_series(1, 5) i",
        "INSERT INTO orders (id, checkout_session_id, owner, platform_id, status, currency, totals, total,"
        " permalink_token, capture_method, created_at)"
        " SELECT 'ord_' || lpad(to_hex(i), 24, '0'), 'cs_' || i, 'key_bench', 'plat_' || (1 + i % 5),"
        " 'confirmed', 'usd', '{}'::jsonb, 1000, 'tok_' || i, 'automatic',"
        f" now() - make_interval(secs => ({orders} - i) * {spacing}) FROM generate_series(1, {orders}) i",
        "INSERT INTO order_event (id, order_id, platform_id, type, sequence, acp_version, payload, status,"
        " attempts, created_at)"
        f" SELECT 'evt_' || lpad(to_hex(i * {EVENTS_PER_ORDER} + s), 24, '0'),"
        " 'ord_' || lpad(to_hex(i), 24, '0'), 'plat_' || (1 + i % 5),"
        " CASE WHEN s = 1 THEN 'order_create' ELSE 'order_update' END, s, '2026-04-17',"
        """ '{"type": "order_update", "data": {"id": "x", "status": "confirmed"}}'::jsonb,"""
        " CASE WHEN random() < 0.02 THEN 'dead' WHEN random() < 0.01 THEN 'pending' ELSE 'delivered' END,"
        f" 1, now() - make_interval(secs => ({orders} - i) * {spacing} - s * 3600)"
        f" FROM generate_series(1, {orders}) i, generate_series(1, {EVENTS_PER_ORDER}) s",
    ]


def prepare(server: str, orders: int) -> str:
    base = server.rpartition("/")[0]
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    url = f"{base}/{DATABASE}"
    env = {**os.environ, "MERCHANT_DATABASE_URL": url, "MERCHANT_LOG_LEVEL": "WARNING"}
    subprocess.run(["merchant", "db", "upgrade"], env=env, check=True, capture_output=True)
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in seed_sql(orders):
            conn.execute(statement.encode())
        conn.execute("VACUUM ANALYZE order_event")
    seconds = time.perf_counter() - started
    print(f"seeded {orders * EVENTS_PER_ORDER:,} events in {seconds:.1f} s", file=sys.stderr)
    return url


def middle_event(url: str) -> str:
    with psycopg.connect(url) as conn:
        half = "(SELECT count(*) / 2 FROM order_event)"
        query = f"SELECT id FROM order_event ORDER BY created_at, id OFFSET {half} LIMIT 1"
        row = conn.execute(query).fetchone()
    assert row is not None
    return str(row[0])


Call = Callable[[AsyncSession], Any]


def scenarios(middle: str) -> dict[str, Call]:
    def page(filters: EventFilters, after: str | None = None) -> Call:
        return lambda session: list_events(session, filters, starting_after=after, limit=50)

    return {
        "newest, no filter": page(EventFilters()),
        "status=dead": page(EventFilters(status="dead")),
        "status=pending": page(EventFilters(status="pending")),
        "platform_id": page(EventFilters(platform_id="plat_3")),
        "platform_id + status=dead": page(EventFilters(platform_id="plat_3", status="dead")),
        "page after a mid-table event": page(EventFilters(), middle),
        "status=dead, after a mid-table event": page(EventFilters(status="dead"), middle),
        "order_id": page(EventFilters(order_id="ord_" + format(12345, "024x"))),
    }


async def measure(url: str, runs: int) -> list[str]:
    settings = Settings(
        env=Environment.test, database_url=url, log_level="WARNING", log_format=LogFormat.json
    )
    engine = create_engine(url, settings)
    sessions: async_sessionmaker[AsyncSession] = create_sessionmaker(engine)
    lines = ["| Scenario | rows | p50 | p99 | max |", "|---|---:|---:|---:|---:|"]
    try:
        for name, call in scenarios(middle_event(url)).items():
            times, rows = [], 0
            for run in range(runs + 5):
                started = time.perf_counter()
                async with sessions() as session:
                    rows = len((await call(session)).items)
                if run >= 5:
                    times.append((time.perf_counter() - started) * 1000)
            p99 = statistics.quantiles(times, n=100, method="inclusive")[98]
            figures = " | ".join(f"{v:.1f}" for v in (statistics.median(times), p99, max(times)))
            lines.append(f"| {name} | {rows} | {figures} |")
    finally:
        await engine.dispose()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=400_000)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    url = prepare(args.server, args.orders)
    try:
        lines = asyncio.run(measure(url, args.runs))
    finally:
        with psycopg.connect(args.server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
    print(f"\n{args.orders * EVENTS_PER_ORDER:,} events, {args.runs} runs per scenario:\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
