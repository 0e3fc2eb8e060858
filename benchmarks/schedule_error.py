"""The open loop's start error, and the harness with 1,000 connections.

Part 1: ``pytest --flakebench`` (``-n 0``) runs a SQLite point lookup in qps mode at 100, 1,000
and 10,000 operations/s and reads ``client.schedule_error_p50_us`` / ``_p99_us`` from the JSON:
how late, after its intended time, an operation that waited for its time was started (sleep,
then spin the last 400 µs). Beside it, the open loop's p50 against a closed loop (concurrency 1)
of the same lookup, and the client CPU.

Part 2 (``--many``): 1,000 connections over ``-n 2`` for 5 s on a PostgreSQL cluster built
for the purpose (tests/pgcluster.py, max_connections 1,100; needs the server binaries): status,
operations, connections that sent, and each worker's peak RSS.

    flock /work/bench.lock python benchmarks/schedule_error.py [--seconds 5] [--many]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console(width=170)
ROOT = Path(__file__).resolve().parent.parent

RATES = (100, 1_000, 10_000)

PRECISION = """
import pytest

LOOKUP = dict(target="sqlite:///target.db", table="kv", mix={{"point_lookup": 100}},
              duration="{seconds}s", warmup="0.5s")

@pytest.mark.flakebench(**LOOKUP, concurrency=1)
def test_closed():
    pass

@pytest.mark.flakebench(**LOOKUP, concurrency={conns}, mode="qps", qps={rate},
                        slo={{"max_late": "100%"}})
def test_open():
    pass
"""

MANY = """
import pytest

@pytest.mark.flakebench(target="{dsn}", table="public.{table}", mix={{"point_lookup": 100}},
                        concurrency=1000, duration="5s", warmup="0s")
def test_many():
    pass
"""


def make_target(folder: Path) -> None:
    conn = sqlite3.connect(folder / "target.db")
    conn.execute("CREATE TABLE kv (id INTEGER PRIMARY KEY, v TEXT)")
    conn.executemany("INSERT INTO kv VALUES (?, ?)", [(i, "x" * 20) for i in range(1, 10_001)])
    conn.commit()
    conn.close()


def run_file(folder: Path, text: str, *extra: str) -> list[dict[str, Any]]:
    (folder / "test_bench.py").write_text(text)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--flakebench",
           "--flakebench-store=none", "--flakebench-json=out.json", *extra]
    subprocess.run(cmd, cwd=folder, capture_output=True, text=True, check=False, env=env)
    runs: list[dict[str, Any]] = json.loads((folder / "out.json").read_text())["runs"]
    return runs


def precision(seconds: float) -> None:
    table = Table(title="open loop start error (SQLite point lookup, -n 0)")
    for column in ("rate /s", "conns", "schedule error p50", "p99", "open p50", "closed p50",
                   "open p99", "client cpu", "load avg"):
        table.add_column(column, justify="right")
    for rate in RATES:
        conns = 1 if rate < 10_000 else 2
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            make_target(folder)
            runs = {r["test"].rsplit("::", 1)[-1]: r for r in run_file(
                folder, PRECISION.format(seconds=seconds, rate=rate, conns=conns),
                "-p", "no:xdist")}
        opened, closed = runs["test_open"], runs["test_closed"]
        client = opened["client"]
        table.add_row(f"{rate:,}", str(conns), f"{client['schedule_error_p50_us']} µs",
                      f"{client['schedule_error_p99_us']} µs",
                      f"{opened['overall']['p50_us']} µs", f"{closed['overall']['p50_us']} µs",
                      f"{opened['overall']['p99_us']} µs", f"{client['cpu']:.0%}",
                      f"{os.getloadavg()[0]:.1f}")
        console.print(f"rate {rate}: done")
    console.print(table)


def many() -> None:
    sys.path.insert(0, str(ROOT))
    import psycopg

    from tests.pgcluster import PgCluster, find_binaries

    binaries = find_binaries()
    if binaries is None:
        console.print("no PostgreSQL server binaries: --many skipped")
        return
    cluster = PgCluster(binaries)
    cluster.start()
    try:
        dsn = cluster.dsn("fb_many")
        name = f"fb_many_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE {name} (id bigint PRIMARY KEY, customer text NOT NULL)")
            conn.execute(f"INSERT INTO {name} SELECT g, 'c' || g FROM generate_series(1, 1000) g")
        with tempfile.TemporaryDirectory() as tmp:
            (run,) = run_file(Path(tmp), MANY.format(dsn=dsn, table=name), "-n", "2")
        client = run["client"]
        table = Table(title="1,000 connections, -n 2, 5 s (PostgreSQL on the same machine)")
        for column in ("status", "ops", "qps", "p50", "p99", "connections sent", "worker",
                       "cpu", "cpu wait", "peak RSS"):
            table.add_column(column, justify="right")
        for w in client["workers"]:
            table.add_row(run["status"], f"{run['overall']['ops']:,}",
                          f"{run['overall']['qps']:,.0f}", f"{run['overall']['p50_us']:,} µs",
                          f"{run['overall']['p99_us']:,} µs", str(client["connections_sent"]),
                          w["worker_id"], f"{w['cpu']:.0%}", f"{w['cpu_wait']:.0%}",
                          f"{w['rss_mb']:.0f} MB")
        console.print(table)
    finally:
        cluster.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--many", action="store_true", help="also 1,000 connections over -n 2")
    args = parser.parse_args()
    console.print(f"load average before: {os.getloadavg()}")
    precision(args.seconds)
    if args.many:
        many()


if __name__ == "__main__":
    main()
