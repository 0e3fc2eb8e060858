"""The engine's own CPU per operation: the hot loop with the database taken out.

Four configurations, alternated round by round in this process, each one connection for
``--seconds`` on pgbench's select-only statement (``pgbench -i`` data in a throwaway database):

* **harness alone**: the plugin's path (control plane, controller, worker, engine, ``-n 0``)
  with every bound statement replaced by one that returns a row count at once: parameters,
  clock reads, recording, ticker, everything but the round trip;
* **floor loop alone**: the same, with the engine's load loop replaced by ``floor_loop``: a key,
  the call, two clock reads and the recording into the engine's own tallies, and nothing else
  (no mix, pacing, phase or count checks, retries). ``harness alone`` minus this is what the
  engine's loop could at most lose by trimming;
* **harness + lean path**: the plugin's path with the real round trip (``psycopg.pq``);
* **plain pq loop**: ``PGconn.exec_prepared`` on a statement prepared once, in a bare loop.

The figure is the load thread's own CPU (``time.thread_time``) over the operations it sent,
which the machine's other load moves far less than throughput (a busy 2-core VM changes
pgbench's tps by 30% from one round to the next). ``harness + lean path`` minus ``plain pq
loop`` is what the harness adds to a round trip; ``harness alone`` is its floor.

    python benchmarks/loop_cost.py [--dsn DSN] [--seconds 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pytest_flakebench.engine.loops as loops
import pytest_flakebench.engine.runner as runner
from pytest_flakebench.engine.recorder import Tally
from tests.inprocess import run_in_process

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
QUERY = "SELECT abalance FROM pgbench_accounts WHERE aid = $1"


def _with_db(admin: str, name: str) -> str:
    base, _, _ = admin.rpartition("/")
    return f"{base}/{name}"


@contextmanager
def pgbench_database(dsn: str, prefix: str) -> Iterator[str]:
    """A throwaway database filled by ``pgbench -i`` (scale 1): its URL; dropped at the end."""
    db = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db}"')
    url = _with_db(dsn, db)
    try:
        subprocess.run(["pgbench", "-i", "-q", url], check=True, capture_output=True)
        yield url
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def _thread_cpu(fn: Callable[[], int]) -> tuple[int, float]:
    """Run ``fn`` (it returns the operations it sent); its thread's CPU µs per operation."""
    c0 = time.thread_time()
    ops = fn()
    return ops, (time.thread_time() - c0) * 1e6 / max(ops, 1)


def point_lookups(url: str, seconds: float, connections: int) -> dict[str, Any]:
    """The template every configuration runs: pgbench's select, uniform keys, no warmup."""
    return {"target": url, "table": "public.pgbench_accounts", "mix": {"point_lookup": 100},
            "sql": {"point_lookup": "SELECT abalance FROM {table} WHERE aid = ?"},
            "concurrency": connections, "duration": f"{seconds:g}s", "warmup": "0s"}


def floor_loop(engine: Any, index: int, conn: Any) -> None:
    """Key, call, two clock reads, recording: the least a measuring loop does. (The recording
    is ``ThreadRecorder.ok`` written out: a method call is the kind of cost left out here.)"""
    shared, clock = engine.shared, engine.clock
    run = loops._bind(conn, engine.config.plans)[0]
    draw = random.Random(index).random
    rec = engine.recorders[index]
    acquire, release = rec.lock.acquire, rec.lock.release
    sent = 0
    while not shared.stop:
        t0 = clock()
        if t0 >= shared.end_ns:
            break
        rows = run((1 + int(draw() * 100_000),))
        t1 = clock()
        sent += 1
        us = (t1 - t0) // 1000
        slot = 0 if t0 < shared.measure_ns else 1
        acquire()
        try:
            tally = rec.cells[slot]
            if tally is None:
                tally = rec.cells[slot] = Tally()
            latencies = tally.latencies
            latencies[us] = latencies.get(us, 0) + 1
            tally.ops += 1
            tally.rows += rows
            tally.ok_last = t1
            if not tally.ok_first:
                tally.ok_first = t1
        finally:
            release()
    rec.sent = sent


def harness(url: str, seconds: float, *, io: bool,
            loop: Callable[[Any, int, Any], None] | None = None) -> tuple[int, float]:
    """One ``-n 0`` run of the plugin's path (``loop``: instead of the engine's load loop);
    the load thread's ops and CPU µs per op."""
    seen: dict[str, float] = {}
    real_loop, real_bind = runner.load_loop, loops.bind_statement  # type: ignore[attr-defined]
    chosen = loop or real_loop

    def measured_loop(engine: Any, index: int, conn: Any) -> None:
        ops, per_op = _thread_cpu(lambda: (chosen(engine, index, conn),
                                           engine.recorders[index].sent)[1])
        seen.update(ops=ops, per_op=per_op)

    def no_io(conn: Any, sql: str) -> Callable[[Sequence[object]], int]:
        return lambda params: 1

    runner.load_loop = measured_loop  # type: ignore[attr-defined]
    if not io:
        loops.bind_statement = no_io  # type: ignore[attr-defined]
    try:
        run_in_process(Path(tempfile.mkdtemp()), point_lookups(url, seconds, 1))
    finally:
        runner.load_loop, loops.bind_statement = real_loop, real_bind  # type: ignore[attr-defined]
    return int(seen["ops"]), seen["per_op"]


def plain(url: str, seconds: float) -> tuple[int, float]:
    """The bare ``exec_prepared`` loop on one connection."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT count(*) FROM pgbench_accounts").fetchone()
        n_rows = int(rows[0]) if rows else 1
        pg = conn.pgconn
        pg.prepare(b"s", QUERY.encode(), None)
        draw, send = random.Random(1).random, pg.exec_prepared

        def loop() -> int:
            ops, end = 0, time.perf_counter() + seconds
            while time.perf_counter() < end:
                send(b"s", [b"%d" % (1 + int(draw() * n_rows))]).ntuples  # noqa: B018
                ops += 1
            return ops

        return _thread_cpu(loop)


def main() -> int:
    """Alternate the four configurations; print the median CPU µs per operation of each."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dsn", default=DEFAULT_DSN, help="libpq URL of a server (admin database)")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with pgbench_database(args.dsn, "fb_loop_cost") as url:
        configurations: dict[str, Callable[[], tuple[int, float]]] = {
            "harness alone": lambda: harness(url, args.seconds, io=False),
            "floor loop alone": lambda: harness(url, args.seconds, io=False, loop=floor_loop),
            "harness + lean path": lambda: harness(url, args.seconds, io=True),
            "plain pq loop": lambda: plain(url, args.seconds),
        }
        figures: dict[str, list[float]] = {name: [] for name in configurations}
        for r in range(args.rounds):
            for name, run in configurations.items():
                ops, per_op = run()
                figures[name].append(per_op)
                print(f"round {r + 1}/{args.rounds} {name}: {ops:,} ops, {per_op:.2f} µs CPU/op",
                      flush=True)
        print("\nload thread CPU µs per operation, median of the rounds:")
        for name, values in figures.items():
            print(f"  {name:<20} {statistics.median(values):6.2f}  "
                  f"({' '.join(f'{v:.2f}' for v in values)})")
        added = [h - p for h, p in zip(figures["harness + lean path"], figures["plain pq loop"],
                                       strict=True)]
        print(f"  harness over the plain loop, same round: "
              f"{' '.join(f'{a:+.2f}' for a in added)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
