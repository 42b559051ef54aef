"""Feed ingest benchmark: `merchant catalog import` end to end beside a plain COPY of the same file.

    python bench/feed_ingest.py 10000 100000 1000000 [--server postgresql://postgres@127.0.0.1:5432/postgres]

For each size: generate a synthetic OpenAI CSV (bench/feed_generate.py), recreate the database
``merchant_bench`` and migrate it, then measure
  * ``copy``: ``psql \\copy`` of the file into a plain 23 text-column table (the floor: no parsing
    beyond CSV, no validation, no merge);
  * ``import``: ``merchant catalog import FILE --mode snapshot`` into the empty catalog, in a
    subprocess under ``/usr/bin/time -v`` (wall time and peak RSS of the whole CLI process);
  * ``re-import``: the same file again (every row compared, nothing changes).
Prints a Markdown table for bench/RESULTS.md, with the run's own phase timings.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg
from psycopg import sql

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from feed_generate import COLUMNS, write  # noqa: E402

DATABASE = "merchant_bench"


def database_url(server: str, name: str) -> str:
    base, _, _ = server.rpartition("/")
    return f"{base}/{name}"


def recreate(server: str) -> str:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    url = database_url(server, DATABASE)
    subprocess.run(["merchant", "db", "upgrade"], env=env_for(url), check=True, capture_output=True)
    return url


def env_for(url: str) -> dict[str, str]:
    return {**os.environ, "MERCHANT_DATABASE_URL": url, "MERCHANT_LOG_LEVEL": "WARNING"}


def plain_copy(url: str, path: Path) -> float:
    columns = ", ".join(f"{name} text" for name in COLUMNS)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS bench_copy; CREATE TABLE bench_copy ({columns})")
    started = time.perf_counter()
    subprocess.run(
        [
            "psql",
            url,
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            f"\\copy bench_copy FROM '{path}' WITH (FORMAT csv, HEADER)",
        ],
        check=True,
        capture_output=True,
    )
    elapsed = time.perf_counter() - started
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE bench_copy")
    return elapsed


def timed_import(url: str, path: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one `merchant catalog import` process."""
    started = time.perf_counter()
    done = subprocess.run(
        [
            "/usr/bin/time",
            "-v",
            "merchant",
            "catalog",
            "import",
            str(path),
            "--mode",
            "snapshot",
            "--errors",
            "0",
        ],
        env=env_for(url),
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"import failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    assert match, done.stderr
    return elapsed, int(match.group(1))


def last_run(url: str) -> dict[str, object]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT rows_total, rows_accepted, rows_rejected, variants_created, variants_updated,"
            " variants_unchanged, timings FROM catalog_feed_run ORDER BY created_at DESC LIMIT 1"
        ).fetchone()
    assert row is not None
    keys = ("rows", "accepted", "rejected", "created", "updated", "unchanged", "timings")
    return dict(zip(keys, row, strict=True))


@dataclass
class Measurement:
    rows: int
    megabytes: float
    copy_s: float
    import_s: float
    import_rss_mb: float  # the CLI process; the mapper processes are reported in the run's timings
    reimport_s: float
    reimport_rss_mb: float
    first: dict[str, object]
    second: dict[str, object]


def measure(server: str, rows: int, workdir: Path) -> Measurement:
    path = workdir / f"feed-{rows}.csv"
    if not path.exists():
        write(path, rows, seed=7, gzipped=False)
    url = recreate(server)
    copy_s = plain_copy(url, path)
    import_s, import_rss = timed_import(url, path)
    first = last_run(url)
    again_s, again_rss = timed_import(url, path)
    return Measurement(
        rows=rows,
        megabytes=path.stat().st_size / 1e6,
        copy_s=copy_s,
        import_s=import_s,
        import_rss_mb=import_rss / 1024,
        reimport_s=again_s,
        reimport_rss_mb=again_rss / 1024,
        first=first,
        second=last_run(url),
    )


def _rss(cli_mb: float, run: dict[str, object]) -> str:
    timings = run["timings"]
    reader = timings.get("mapper_peak_rss_mb") if isinstance(timings, dict) else None
    if reader is None:
        return f"{cli_mb:.0f} MB"
    return f"{cli_mb:.0f} + 2 x {float(reader):.0f} MB"


def report(results: list[Measurement]) -> str:
    lines = [
        "| rows | file | plain COPY | import (empty catalog) | rows/s | peak RSS (CLI + 2 mappers) "
        "| re-import (unchanged) | peak RSS (CLI + 2 mappers) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.rows:,} | {r.megabytes:.0f} MB | {r.copy_s:.2f} s | {r.import_s:.2f} s "
            f"| {r.rows / r.import_s:,.0f} | {_rss(r.import_rss_mb, r.first)} "
            f"| {r.reimport_s:.2f} s | {_rss(r.reimport_rss_mb, r.second)} |"
        )
    lines.append("")
    for r in results:
        lines.append(f"- {r.rows:,} rows, first run: {json.dumps(r.first, default=str)}")
        lines.append(f"- {r.rows:,} rows, re-import: {json.dumps(r.second, default=str)}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sizes", type=int, nargs="+")
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "merchant-bench")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for rows in args.sizes:
        result = measure(args.server, rows, args.workdir)
        print(json.dumps(asdict(result), default=str), file=sys.stderr)
        results.append(result)
    print(report(results))


if __name__ == "__main__":
    main()
