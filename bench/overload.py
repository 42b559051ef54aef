"""Overload benchmark: checkout create at twice the saturating load, with and without admission control.

    python bench/overload.py [--limits 100000,32,8,4] [--seconds 15] [--factor 2.0] [--rate R] [--workers 2]
                             [--server postgresql://postgres@127.0.0.1:5432/postgres]

For each admission limit (``MERCHANT_MAX_INFLIGHT_REQUESTS``; 100000 = effectively none, the
behaviour before load shedding) it recreates the database ``merchant_bench``, loads the test
catalog, creates an agent key and starts ``merchant serve --workers N``. Then:

  1. saturation (first limit listed only, unless ``--rate``): a closed loop of 32 keep-alive
     connections sends creates for ``--seconds``; the 2xx rate is the saturating throughput S;
  2. overload: an open loop offers ``--factor`` x S creates per second (S of the first limit
     listed, so every limit gets the same load; or ``--rate``) for ``--seconds`` (arrivals
     on a fixed schedule, whatever the answers: a real crowd of agents does not slow down because
     we are slow), each on an idle keep-alive connection or a new one (at most 512), with a 5 s
     client timeout.

Every create is a full one (two catalog lines and an address: shipping, tax, idempotency record),
each with its own Idempotency-Key. Reported per phase: offered and answered rates, the 2xx latency
p50/p99, the 503 count and their p99, client timeouts and other errors. The load generator is a
minimal HTTP/1.1 client on asyncio streams (about 50 us of CPU a request), in its own process.
Prints a Markdown table for bench/RESULTS.md; drops the database at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "merchant_bench"
BODY = (
    b'{"currency":"usd","line_items":[{"id":"mug","quantity":2},{"id":"tee-red-s","quantity":1}],'
    b'"fulfillment_details":{"address":{"name":"B","line_one":"1 Main St","city":"NYC","state":"NY",'
    b'"country":"US","postal_code":"10001"}},"capabilities":{}}'
)
CLIENT_TIMEOUT = 5.0
MAX_CONNECTIONS = 512


@dataclass
class Tally:
    ok: list[float] = field(default_factory=list)
    shed: list[float] = field(default_factory=list)
    other: dict[int, int] = field(default_factory=dict)
    timeouts: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)

    def row(self, seconds: float) -> dict[str, Any]:
        return {
            "ok_per_s": len(self.ok) / seconds,
            "ok_p50_ms": percentile(self.ok, 50) * 1000,
            "ok_p99_ms": percentile(self.ok, 99) * 1000,
            "shed": len(self.shed),
            "shed_p50_ms": percentile(self.shed, 50) * 1000,
            "shed_p99_ms": percentile(self.shed, 99) * 1000,
            "other": sum(self.other.values()),
            "timeouts": self.timeouts,
            "errors": self.errors,
            "error_kinds": str(self.error_kinds),
        }


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


class Connection:
    """One keep-alive HTTP/1.1 connection sending pre-built POSTs."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    def _request(self) -> bytes:
        head = (
            f"POST /checkout_sessions HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Authorization: Bearer {self.token}\r\nAPI-Version: 2026-04-17\r\n"
            f"Content-Type: application/json\r\nIdempotency-Key: {secrets.token_hex(12)}\r\n"
            f"Content-Length: {len(BODY)}\r\n\r\n"
        )
        return head.encode() + BODY

    async def send(self) -> int:
        reused = self.writer is not None
        try:
            return await self._send()
        except asyncio.IncompleteReadError as exc:
            if not reused or exc.partial:
                raise
        # The server closed this idle keep-alive connection (uvicorn: after 5 s) before our request
        # reached it; like any HTTP client, send again on a new one (the request was not read).
        self.close()
        return await self._send()

    async def _send(self) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(self._request())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def timed(connection: Connection, tally: Tally) -> bool:
    """One create on ``connection``; False when the connection is no longer usable."""
    started = time.perf_counter()
    try:
        status = await asyncio.wait_for(connection.send(), CLIENT_TIMEOUT)
    except TimeoutError:
        tally.timeouts += 1
        connection.close()
        return False
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        tally.errors += 1
        kind = type(exc).__name__
        tally.error_kinds[kind] = tally.error_kinds.get(kind, 0) + 1
        connection.close()
        return False
    elapsed = time.perf_counter() - started
    if 200 <= status < 300:
        tally.ok.append(elapsed)
    elif status == 503:
        tally.shed.append(elapsed)
    else:
        tally.other[status] = tally.other.get(status, 0) + 1
    return True


async def closed_loop(port: int, token: str, connections: int, seconds: float) -> Tally:
    tally = Tally()
    deadline = time.perf_counter() + seconds

    async def loop() -> None:
        connection = Connection(port, token)
        while time.perf_counter() < deadline:
            shed = len(tally.shed)
            if not await timed(connection, tally):
                connection = Connection(port, token)
            elif len(tally.shed) > shed:  # a 503: wait its Retry-After (1 s), as a good client does
                await asyncio.sleep(1.0)
        connection.close()

    await asyncio.gather(*(loop() for _ in range(connections)))
    return tally


async def open_loop(port: int, token: str, rate: float, seconds: float) -> tuple[Tally, int]:
    """Arrivals every 1/rate s for ``seconds``; returns the tally and the requests not sent
    because every allowed connection was busy (counted as refused by the client)."""
    tally = Tally()
    idle: list[Connection] = []
    busy = 0
    dropped = 0
    tasks: set[asyncio.Task[None]] = set()

    async def one(connection: Connection) -> None:
        nonlocal busy
        try:
            if await timed(connection, tally):
                idle.append(connection)
        finally:
            busy -= 1

    start = time.perf_counter()
    total = int(rate * seconds)
    for n in range(total):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if not idle and busy >= MAX_CONNECTIONS:
            dropped += 1
            continue
        connection = idle.pop() if idle else Connection(port, token)
        busy += 1
        task = asyncio.create_task(one(connection))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    for connection in idle:
        connection.close()
    return tally, dropped


def recreate_database(server: str) -> str:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    return server.rsplit("/", 1)[0] + "/" + DATABASE


def drop_database(server: str) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))


def merchant(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(["merchant", *args], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def wait_ready(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as answer,
        ):
            if answer.status == 200:
                return
        time.sleep(0.2)
    raise SystemExit("merchant serve never became ready")


def run_limit(args: argparse.Namespace, limit: int, rate: float | None) -> dict[str, dict[str, Any]]:
    """Both phases on a fresh server; ``rate`` None: ``--factor`` x this run's saturating rate."""
    url = recreate_database(args.server)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MERCHANT_")}
    env.update(
        MERCHANT_DATABASE_URL=url,
        MERCHANT_LOG_LEVEL="WARNING",
        MERCHANT_MAX_INFLIGHT_REQUESTS=str(limit),
    )
    merchant(env, "db", "upgrade")
    merchant(env, "catalog", "import", "tests/catalog/feeds/openai.csv")
    token = merchant(env, "keys", "create", "--role", "agent", "--name", "bench").splitlines()[-1]
    server = subprocess.Popen(
        ["merchant", "serve", "--port", str(args.port), "--workers", str(args.workers)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(args.port)
        asyncio.run(closed_loop(args.port, token, 32, 3))  # warm-up
        result: dict[str, dict[str, Any]] = {}
        if rate is None:  # the first limit only: a closed loop that waits out 503s measures nothing
            saturation = asyncio.run(closed_loop(args.port, token, 32, args.seconds))
            result["saturation"] = saturation.row(args.seconds)
            rate = args.factor * len(saturation.ok) / args.seconds
        overload, dropped = asyncio.run(open_loop(args.port, token, rate, args.seconds))
        result["overload"] = overload.row(args.seconds)
        result["overload"].update(offered_per_s=rate, client_dropped=dropped)
        return result
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limits", default="100000,32,8,4")
    parser.add_argument("--rate", type=float, default=None, help="offered creates/s (default: measured)")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--factor", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8813)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    results = {}
    try:
        rate: float | None = args.rate
        for limit in (int(x) for x in args.limits.split(",")):
            results[limit] = run_limit(args, limit, rate)
            rate = float(results[limit]["overload"]["offered_per_s"])  # the same load for every limit
            print(f"limit {limit}: {results[limit]}", file=sys.stderr, flush=True)
    finally:
        drop_database(args.server)
    print(
        "| limit | phase | offered/s | 2xx/s | 2xx p50 | 2xx p99 | 503 | 503 p50 / p99 | timeouts | errors |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for limit, phases in results.items():
        for phase, row in phases.items():
            offered = f"{row['offered_per_s']:.0f}" if "offered_per_s" in row else "closed, 32 conn"
            print(
                f"| {limit} | {phase} | {offered} | {row['ok_per_s']:.0f} | {row['ok_p50_ms']:.1f} ms"
                f" | {row['ok_p99_ms']:.1f} ms | {row['shed']}"
                f" | {row['shed_p50_ms']:.1f} / {row['shed_p99_ms']:.1f} ms"
                f" | {row['timeouts']} | {row['errors'] + row['other']} |"
            )


if __name__ == "__main__":
    main()
