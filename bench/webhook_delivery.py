"""Order webhook delivery benchmark: drain rate of 1 and 2 worker processes, commit-to-delivery lag.

    python bench/webhook_delivery.py [--events 5000] [--rate 200] [--seconds 20] [--concurrency 8]
                                     [--no-analyze] [--server postgresql://postgres@127.0.0.1:5432/postgres]

Recreates the database ``bench_webhooks``, migrates it, adds one agent platform whose webhook URL
is a ``WebhookReceiver`` (merchant.webhooks.receiver, real HTTP on 127.0.0.1, signatures checked)
running in a process of its own, and seeds ``--events`` orders (one line each). Then:

  * drain: with no worker running, ``webhooks.emit`` one ``order_update`` per order (so no two
    jobs share an order's lock), committed in batches; then start 1 (later 2, on a fresh backlog)
    ``merchant worker --concurrency K --queue webhooks`` processes and wait until the receiver has
    every event. Rate = events / (last arrival - first arrival); also the wall time from spawning
    the workers, CPU per delivery (workers, receiver, the rest of the machine), the commits and
    row writes per delivery (pg_stat deltas) and any event not delivered. The job table is
    ANALYZEd once the backlog is in (``--no-analyze``: not; see RESULTS.md for why it matters).
  * lag: with 1 (then 2) warm workers, emit events at ``--rate`` per second for ``--seconds``, one
    per transaction (lock the order, load it, emit, commit), on a pool of orders; lag = arrival
    time at the receiver - wall time right after the emitting commit returned.

Prints Markdown tables for bench/RESULTS.md (details as JSON on stderr); drops the database at
the end. Workers are stopped with SIGTERM (then killed) also when the run fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any

import psycopg
from psycopg import sql
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from merchant.config import Settings
from merchant.db import create_engine, create_sessionmaker, transaction
from merchant.kit.clock import utc_now
from merchant.orders import service as orders
from merchant.orders.models import Order, OrderLine
from merchant.platforms import service as platforms
from merchant.webhooks import service as webhooks
from merchant.webhooks.receiver import WebhookReceiver

DATABASE = "bench_webhooks"
SECRET = "whsec_bench_receiver"
SEED_BATCH = 1000  # orders per INSERT batch
BACKLOG_BATCH = 250  # events per transaction when building a backlog
LAG_ORDERS = 500  # orders the steady-rate events are spread over
EMITTERS = 4  # concurrent emitting transactions in the lag runs (open loop, on a schedule)
WARMUP_EVENTS = 20
POLL_SECONDS = 0.05
STOP_SECONDS = 15.0  # SIGTERM grace before SIGKILL
STATS_FLUSH_SECONDS = 11.0  # an idle PostgreSQL 15 backend reports its statistics within 10 s
TABLES = ("procrastinate_jobs", "procrastinate_events", "order_event", "webhook_attempt")


# -- database ---------------------------------------------------------------------------------------


def database_url(server: str, name: str) -> str:
    base, _, _ = server.rpartition("/")
    return f"{base}/{name}"


def worker_env(url: str) -> dict[str, str]:
    return {
        **os.environ,
        "MERCHANT_DATABASE_URL": url,
        "MERCHANT_OUTBOUND_ALLOW_PRIVATE": "true",
        "MERCHANT_LOG_LEVEL": "WARNING",
    }


def recreate(server: str) -> str:
    drop(server)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    url = database_url(server, DATABASE)
    command = [sys.executable, "-m", "merchant", "db", "upgrade"]
    subprocess.run(command, env=worker_env(url), check=True, capture_output=True)
    return url


def drop(server: str) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))


def scalar(url: str, query: str) -> Any:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def analyze_jobs(url: str) -> None:
    """Fresh planner statistics of the job table (autovacuum's analyze would get there later)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE procrastinate_jobs")


def counts(url: str, query: str) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        return {str(key): int(value) for key, value in conn.execute(query).fetchall()}


def db_counters(url: str) -> dict[str, int]:
    """Commits, rollbacks and per-table row writes so far (flushed by backends that have exited)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        assert row is not None
        found = {"commits": int(row[0]), "rollbacks": int(row[1])}
        tables = conn.execute(
            "SELECT relname, n_tup_ins, n_tup_upd FROM pg_stat_user_tables WHERE relname = ANY(%s)",
            [list(TABLES)],
        ).fetchall()
    for name, inserted, updated in tables:
        found[f"{name} ins"], found[f"{name} upd"] = int(inserted), int(updated)
    return found


def async_engine(url: str) -> AsyncEngine:
    return create_engine(url, Settings(database_url=url, log_level="WARNING"))


# -- seeding ----------------------------------------------------------------------------------------


async def add_platform(sessions: async_sessionmaker[AsyncSession], webhook_url: str) -> str:
    async with transaction(sessions) as session:
        added = await platforms.add(
            session, name="Bench Agent", webhook_url=webhook_url, signing_secret=SECRET, now=utc_now()
        )
    return added.platform.id


PRICE = 2500  # one mug, no discount, shipping or tax
TOTALS = {"subtotal": PRICE, "discount": 0, "fulfillment": 0, "tax": 0, "total": PRICE}


def order_row(platform_id: str, n: int, now: datetime) -> dict[str, Any]:
    """A confirmed order of the bench platform, every NOT NULL column set."""
    token = secrets.token_urlsafe(24)
    return {
        "id": orders.new_id("ord"),
        "checkout_session_id": f"cs_bench_{n:08d}",
        "owner": "bench",
        "platform_id": platform_id,
        "permalink_url": f"http://127.0.0.1/order-status/{token}",
        "permalink_token": token,
        "status": "confirmed",
        "currency": "usd",
        "totals": {**TOTALS, "tax_inclusive": False, "tax_breakdown": []},
        "total": PRICE,
        "capture_method": "automatic",
        "created_at": now,
        "updated_at": now,
    }


def line_row(order_id: str) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "line_id": "li_1",
        "position": 0,
        "variant_id": "mug",
        "title": "Mug",
        "unit_amount": PRICE,
        "quantity_ordered": 1,
        "quantity_current": 1,
        "quantity_fulfilled": 0,
        "base_amount": PRICE,
        "discount": 0,
        "subtotal": PRICE,
        "tax": 0,
        "total": PRICE,
    }


async def seed(url: str, webhook_url: str, count: int) -> list[str]:
    """One platform receiving events at ``webhook_url`` and ``count`` of its orders; their ids."""
    engine = async_engine(url)
    try:
        sessions = create_sessionmaker(engine)
        platform_id = await add_platform(sessions, webhook_url)
        ids: list[str] = []
        for first in range(0, count, SEED_BATCH):
            now = utc_now()
            rows = [order_row(platform_id, n, now) for n in range(first, min(first + SEED_BATCH, count))]
            async with transaction(sessions) as session:
                await session.execute(insert(Order), rows)
                await session.execute(insert(OrderLine), [line_row(row["id"]) for row in rows])
            ids += [row["id"] for row in rows]
        return ids
    finally:
        await engine.dispose()


# -- emitting ---------------------------------------------------------------------------------------


async def emit_one(session: AsyncSession, order_id: str) -> str:
    """An order change's event, as the order operations write it: lock, load, emit."""
    view = await orders.load(session, order_id, lock=True)
    event = await webhooks.emit(session, view, webhooks.ORDER_UPDATE, now=utc_now())
    assert event is not None, "the bench platform has a webhook URL"
    return event.id


async def emit_backlog(url: str, order_ids: Sequence[str]) -> list[str]:
    """One event per order, ``BACKLOG_BATCH`` per transaction; the event ids."""
    engine = async_engine(url)
    try:
        sessions, ids = create_sessionmaker(engine), []
        for start in range(0, len(order_ids), BACKLOG_BATCH):
            async with transaction(sessions) as session:
                for order_id in order_ids[start : start + BACKLOG_BATCH]:
                    ids.append(await emit_one(session, order_id))
        return ids
    finally:
        await engine.dispose()


@dataclass
class Schedule:
    """Open-loop pacing: event ``i`` is due at ``start + i / rate``; ``None`` when all are taken."""

    rate: float
    total: int
    start: float
    taken: int = 0

    def next_due(self) -> float | None:
        if self.taken >= self.total:
            return None
        self.taken += 1
        return self.start + (self.taken - 1) / self.rate


async def emitter(
    sessions: async_sessionmaker[AsyncSession],
    schedule: Schedule,
    order_ids: Sequence[str],
    commits: dict[str, float],
    rng: random.Random,
) -> None:
    loop = asyncio.get_running_loop()
    while (due := schedule.next_due()) is not None:
        await asyncio.sleep(max(0.0, due - loop.time()))
        async with transaction(sessions) as session:
            event_id = await emit_one(session, rng.choice(order_ids))
        commits[event_id] = time.time()  # the commit has returned


async def emit_steady(url: str, order_ids: Sequence[str], rate: float, seconds: float) -> dict[str, float]:
    """Emit at ``rate``/s for ``seconds``, one event per transaction; event id -> commit wall time."""
    engine, rng = async_engine(url), random.Random(6)
    commits: dict[str, float] = {}
    try:
        sessions = create_sessionmaker(engine)
        schedule = Schedule(rate, max(1, round(rate * seconds)), asyncio.get_running_loop().time())
        await asyncio.gather(*(emitter(sessions, schedule, order_ids, commits, rng) for _ in range(EMITTERS)))
        return commits
    finally:
        await engine.dispose()


# -- the receiver, in a process of its own (no GIL shared with the emitter) -------------------------


def serve_receiver(conn: Connection, secret: str) -> None:
    """Child process: run a WebhookReceiver and answer the parent's questions until ``stop``."""
    receiver = WebhookReceiver(secret)
    conn.send(receiver.start())
    try:
        while (command := conn.recv()) != "stop":
            conn.send(answer(receiver, command))
    finally:
        receiver.stop()


def answer(receiver: WebhookReceiver, command: str) -> object:
    if command == "count":
        return len(receiver.unique_events())
    if command == "arrivals":
        return {event.event_id: event.received_at for event in receiver.unique_events()}
    if command == "requests":
        return {"accepted": len(receiver.accepted), "other": sum(a.status != 200 for a in receiver.attempts)}
    raise ValueError(command)


class ReceiverProcess:
    def __init__(self, secret: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=serve_receiver, args=(child, secret), daemon=True)

    def start(self) -> str:
        self._process.start()
        url: str = self._conn.recv()
        return url

    @property
    def pid(self) -> int:
        assert self._process.pid is not None, "started"
        return self._process.pid

    def ask(self, command: str) -> Any:
        self._conn.send(command)
        return self._conn.recv()

    def stop(self) -> None:
        if self._process.is_alive():
            with suppress(OSError):
                self._conn.send("stop")
            self._process.join(5)
        if self._process.is_alive():
            self._process.kill()

    def wait_for(self, count: int, timeout: float, workers: Sequence[subprocess.Popen[bytes]]) -> None:
        deadline = time.monotonic() + timeout
        while (have := self.ask("count")) < count:
            check_alive(workers)
            if time.monotonic() > deadline:
                raise SystemExit(f"only {have} of {count} events arrived within {timeout:.0f} s")
            time.sleep(POLL_SECONDS)


# -- workers ----------------------------------------------------------------------------------------


@dataclass
class WorkerSet:
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    spawned_at: float = 0.0  # time.time() just before the first spawn


@contextmanager
def running_workers(url: str, count: int, concurrency: int, log: IO[bytes]) -> Iterator[WorkerSet]:
    """``count`` worker processes on the webhooks queue; SIGTERM (then SIGKILL) on the way out."""
    command = [sys.executable, "-m", "merchant", "worker", "--concurrency", str(concurrency)]
    command += ["--queue", "webhooks"]
    started = WorkerSet(spawned_at=time.time())
    try:
        for _ in range(count):
            process = subprocess.Popen(
                command, env=worker_env(url), stdout=log, stderr=log, start_new_session=True
            )
            started.processes.append(process)
        yield started
    finally:
        stop_workers(started.processes)


def stop_workers(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def check_alive(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is not None:
            raise SystemExit(f"a worker exited with {process.returncode}; see its log")


def wait_registered(url: str, workers: WorkerSet, timeout: float = 60.0) -> None:
    """Until every worker has registered (its fetch loop and LISTEN are running)."""
    deadline = time.monotonic() + timeout
    while scalar(url, "SELECT count(*) FROM procrastinate_workers") < len(workers.processes):
        check_alive(workers.processes)
        if time.monotonic() > deadline:
            raise SystemExit("the workers did not register in time")
        time.sleep(POLL_SECONDS)


def wait_settled(url: str, timeout: float = 60.0) -> None:
    """Until no event is pending and no webhook job is waiting or running."""
    query = (
        "SELECT (SELECT count(*) FROM order_event WHERE status = 'pending')"
        " + (SELECT count(*) FROM procrastinate_jobs"
        "    WHERE queue_name = 'webhooks' AND status IN ('todo', 'doing'))"
    )
    deadline = time.monotonic() + timeout
    while scalar(url, query) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS * 4)


def outcomes(url: str) -> dict[str, int]:
    found = counts(url, "SELECT 'event ' || status, count(*) FROM order_event GROUP BY status")
    found |= counts(
        url,
        "SELECT 'job ' || status, count(*) FROM procrastinate_jobs"
        " WHERE queue_name = 'webhooks' GROUP BY status",
    )
    found["attempts"] = int(scalar(url, "SELECT count(*) FROM webhook_attempt"))
    return found


# -- the two measurements ---------------------------------------------------------------------------


@dataclass
class Cpu:
    """CPU seconds used so far: the worker processes, the receiver process, the whole machine."""

    workers: float
    receiver: float
    machine: float

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(self.workers - other.workers, self.receiver - other.receiver, self.machine - other.machine)


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def machine_cpu() -> float:
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


def listen_drops() -> int:
    """SYNs dropped machine-wide because a listen queue was full (the client retries after 1 s)."""
    header, values = (line.split() for line in Path("/proc/net/netstat").read_text().splitlines()[:2])
    return int(dict(zip(header, values, strict=True))["ListenDrops"])


def cpu_now(workers: WorkerSet, receiver: ReceiverProcess) -> Cpu:
    return Cpu(
        sum(process_cpu(process.pid) for process in workers.processes),
        process_cpu(receiver.pid),
        machine_cpu(),
    )


@dataclass
class Drain:
    workers: int
    events: int
    emit_s: float  # building the backlog (one process, batches of BACKLOG_BATCH)
    startup_s: float  # spawning the workers -> first arrival
    span_s: float  # first -> last arrival
    wall_s: float  # spawning the workers -> last arrival
    per_second: float  # events / span
    cpu_ms: dict[str, float]  # CPU per delivery between the first and the last arrival
    listen_drops: int  # connections to the receiver (or anything else) refused for a full queue
    per_delivery: dict[str, float]  # database work per delivery (pg_stat deltas / events)
    outcome: dict[str, int]  # cumulative over the run: event and job statuses, attempts
    requests: dict[str, int]  # cumulative at the receiver


def per_event(before: dict[str, int], after: dict[str, int], events: int) -> dict[str, float]:
    return {key: round((after[key] - before.get(key, 0)) / events, 2) for key in after}


def cpu_per_event(used: Cpu, events: int) -> dict[str, float]:
    others = used.machine - used.workers - used.receiver  # PostgreSQL, this script, anything else
    return {
        "workers": round(used.workers / events * 1000, 2),
        "receiver": round(used.receiver / events * 1000, 2),
        "postgres and rest": round(others / events * 1000, 2),
    }


@dataclass
class DrainRun:
    """What one drain observed: the workers' spawn time, CPU over the drain, database counters."""

    spawned_at: float
    cpu: Cpu
    listen_drops: int
    before: dict[str, int]
    after: dict[str, int]


def drain(
    url: str, receiver: ReceiverProcess, events: int, workers: int, args: argparse.Namespace
) -> DrainRun:
    have, drops = receiver.ask("count"), listen_drops()
    before = db_counters(url)
    with running_workers(url, workers, args.concurrency, args.log) as running:
        receiver.wait_for(have + 1, timeout=120, workers=running.processes)
        first = cpu_now(running, receiver)
        receiver.wait_for(have + events, timeout=1800, workers=running.processes)
        used = cpu_now(running, receiver) - first
        wait_settled(url)
        time.sleep(STATS_FLUSH_SECONDS)  # idle backends flush their statistics; before the workers
        after = db_counters(url)  # unregister (that sets worker_id NULL on every job they ran)
    return DrainRun(running.spawned_at, used, listen_drops() - drops, before, after)


def measure_drain(
    url: str, receiver: ReceiverProcess, order_ids: Sequence[str], workers: int, args: argparse.Namespace
) -> Drain:
    started = time.perf_counter()
    ids = asyncio.run(emit_backlog(url, order_ids))
    emit_s = time.perf_counter() - started
    if args.analyze:
        analyze_jobs(url)
    run = drain(url, receiver, len(ids), workers, args)
    arrivals: dict[str, float] = receiver.ask("arrivals")
    times = sorted(arrivals[event_id] for event_id in ids)
    return Drain(
        workers=workers,
        events=len(ids),
        emit_s=round(emit_s, 2),
        startup_s=round(times[0] - run.spawned_at, 2),
        span_s=round(times[-1] - times[0], 2),
        wall_s=round(times[-1] - run.spawned_at, 2),
        per_second=round(len(ids) / max(times[-1] - times[0], 1e-9), 1),
        cpu_ms=cpu_per_event(run.cpu, len(ids)),
        listen_drops=run.listen_drops,
        per_delivery=per_event(run.before, run.after, len(ids)),
        outcome=outcomes(url),
        requests=receiver.ask("requests"),
    )


@dataclass
class Lag:
    workers: int
    rate: float  # asked
    seconds: float
    events: int
    achieved: float  # events / (last commit - first commit)
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    min_ms: float
    mean_ms: float
    busy: float  # machine CPU in use while emitting, of all cores (1.0: saturated)
    listen_drops: int
    outcome: dict[str, int]
    requests: dict[str, int]


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest rank."""
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def lag_figures(commits: dict[str, float], arrivals: dict[str, float]) -> dict[str, float]:
    lags = sorted((arrivals[event_id] - at) * 1000 for event_id, at in commits.items())
    return {
        "p50_ms": round(percentile(lags, 50), 1),
        "p95_ms": round(percentile(lags, 95), 1),
        "p99_ms": round(percentile(lags, 99), 1),
        "max_ms": round(lags[-1], 1),
        "min_ms": round(lags[0], 1),
        "mean_ms": round(sum(lags) / len(lags), 1),
    }


def emit_and_wait(
    url: str,
    receiver: ReceiverProcess,
    order_ids: Sequence[str],
    rate: float,
    seconds: float,
    running: WorkerSet,
) -> dict[str, float]:
    expected = receiver.ask("count") + max(1, round(rate * seconds))
    commits = asyncio.run(emit_steady(url, order_ids, rate, seconds))
    receiver.wait_for(expected, timeout=seconds + 300, workers=running.processes)
    return commits


def measure_lag(
    url: str, receiver: ReceiverProcess, order_ids: Sequence[str], workers: int, args: argparse.Namespace
) -> Lag:
    with running_workers(url, workers, args.concurrency, args.log) as running:
        wait_registered(url, running)
        emit_and_wait(url, receiver, order_ids, WARMUP_EVENTS, 1.0, running)  # warm pools and clients
        drops, cpu, started = listen_drops(), machine_cpu(), time.time()
        commits = emit_and_wait(url, receiver, order_ids, args.rate, args.seconds, running)
        busy = (machine_cpu() - cpu) / (time.time() - started) / (os.cpu_count() or 1)
        drops = listen_drops() - drops
        wait_settled(url)
    span = max(commits.values()) - min(commits.values())
    return Lag(
        workers=workers,
        rate=args.rate,
        seconds=args.seconds,
        events=len(commits),
        achieved=round((len(commits) - 1) / max(span, 1e-9), 1),
        **lag_figures(commits, receiver.ask("arrivals")),
        busy=round(busy, 2),
        listen_drops=drops,
        outcome=outcomes(url),
        requests=receiver.ask("requests"),
    )


# -- report -----------------------------------------------------------------------------------------


def not_delivered(outcome: dict[str, int]) -> int:
    return sum(
        value for key, value in outcome.items() if key in ("event pending", "event dead", "job failed")
    )


def drain_table(drains: Sequence[Drain], concurrency: int) -> list[str]:
    lines = [
        f"| worker processes (concurrency {concurrency} each) | events | backlog emit | start-up "
        "| drain (first -> last arrival) | events/s | wall from spawn | worker CPU / delivery "
        "| SYN drops | not delivered |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for d in drains:
        lines.append(
            f"| {d.workers} | {d.events:,} | {d.emit_s:.1f} s | {d.startup_s:.2f} s | {d.span_s:.2f} s "
            f"| {d.per_second:,.0f} | {d.wall_s:.2f} s | {d.cpu_ms['workers']:.1f} ms "
            f"| {d.listen_drops} | {not_delivered(d.outcome)} |"
        )
    return lines


def lag_table(lags: Sequence[Lag]) -> list[str]:
    lines = [
        "| worker processes | asked rate | achieved | events | p50 | p95 | p99 | max "
        "| CPU busy | SYN drops | not delivered |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for g in lags:
        lines.append(
            f"| {g.workers} | {g.rate:g}/s x {g.seconds:g} s | {g.achieved:.1f}/s | {g.events:,} "
            f"| {g.p50_ms:.1f} ms | {g.p95_ms:.1f} ms | {g.p99_ms:.1f} ms | {g.max_ms:.1f} ms "
            f"| {g.busy:.0%} | {g.listen_drops} | {not_delivered(g.outcome)} |"
        )
    return lines


def per_delivery_lines(drains: Sequence[Drain]) -> list[str]:
    lines = []
    for d in drains:
        lines.append(f"- {d.workers} worker(s), CPU ms per delivery: {json.dumps(d.cpu_ms)}")
        lines.append(f"- {d.workers} worker(s), database per delivery: {json.dumps(d.per_delivery)}")
    return lines


# -- main -------------------------------------------------------------------------------------------


def run(args: argparse.Namespace, receiver: ReceiverProcess) -> tuple[list[Drain], list[Lag]]:
    url = recreate(args.server)
    order_ids = asyncio.run(seed(url, receiver.start(), args.events))
    drains = [measure_drain(url, receiver, order_ids, workers, args) for workers in (1, 2)]
    for drain in drains:
        print(json.dumps(asdict(drain)), file=sys.stderr)
    lag_orders = order_ids[:LAG_ORDERS]
    lags = [measure_lag(url, receiver, lag_orders, workers, args) for workers in (1, 2)]
    for lag in lags:
        print(json.dumps(asdict(lag)), file=sys.stderr)
    return drains, lags


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000, help="backlog size of each drain run")
    parser.add_argument("--rate", type=float, default=200.0, help="events per second in the lag runs")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each lag run")
    parser.add_argument("--concurrency", type=int, default=8, help="jobs at once per worker process")
    parser.add_argument(
        "--no-analyze",
        dest="analyze",
        action="store_false",
        help="keep the job table's planner statistics from before the backlog (see RESULTS.md)",
    )
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: stop the workers, drop the db
    receiver = ReceiverProcess(SECRET)
    log_path = Path(tempfile.gettempdir()) / "bench-webhook-workers.log"
    try:
        with log_path.open("wb") as args.log:
            drains, lags = run(args, receiver)
    finally:
        receiver.stop()
        drop(args.server)
    print("\n".join([*drain_table(drains, args.concurrency), "", *lag_table(lags), ""]))
    print("\n".join(per_delivery_lines(drains)))
    print(f"(worker logs: {log_path})", file=sys.stderr)


if __name__ == "__main__":
    main()
