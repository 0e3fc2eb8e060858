"""How far threads in one process go: ``-n 0`` with N connections against its own floor.

Three configurations, alternated round by round in this process, each N connections (default 2)
for ``--seconds`` on pgbench's select-only statement (``pgbench -i`` data in a throwaway
database):

* **flakebench -n 0**: the plugin's path (control plane, controller, worker, engine), as
  ``loop_cost.py`` runs it, with N connections in N threads;
* **floor loop**: the same path with the engine's load loop replaced by ``loop_cost.floor_loop``,
  which does only what no benchmark loop can skip: draw a key, the round trip, two clock reads
  and the recording (the engine's own ``Tally``, under the thread's lock), so the run still
  reports its figures. No mix, no pacing, no phase or count checks, no retries. What it reaches
  bounds what any trimming of the engine's loop could win;
* **plain pq loop**: ``PGconn.exec_prepared`` on a statement prepared once, in N threads.

Each prints its throughput, the load threads' CPU per operation and the machine's context
switches per operation (``/proc/stat``, within the load). Threads of one process share the
interpreter: every thread back from the server waits for it while another holds it, and on a
machine with as many busy processes as CPUs that wait is a sleep and a wake-up. The longer each
operation holds the interpreter, the more often that happens, which is why a few tenths of a
microsecond of Python per operation move throughput here far more than at one connection.

    python benchmarks/threads_ceiling.py [--dsn DSN] [--connections 2] [--seconds 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from loop_cost import DEFAULT_DSN, QUERY, floor_loop, pgbench_database, point_lookups

import pytest_flakebench.engine.runner as runner
from tests.inprocess import run_in_process


@dataclass(slots=True)
class Figure:
    """One run of one configuration."""

    qps: float
    cpu_us: float  # the load threads' CPU per operation
    switches: float  # the machine's context switches per operation, within the load


def _switches() -> int:
    """Context switches on the whole machine since boot."""
    found = re.search(r"^ctxt (\d+)$", Path("/proc/stat").read_text(), re.MULTILINE)
    return int(found.group(1)) if found else 0


class _Load:
    """What the load threads of one run add up: their CPU, their operations, and the
    machine's context switches from the first thread's start to the last one's end."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.cpu_s = 0.0
        self.ops = 0
        self.running = 0
        self.switches = 0

    def enter(self) -> float:
        with self.lock:
            if self.running == 0:
                self.switches -= _switches()
            self.running += 1
        return time.thread_time()

    def leave(self, cpu0: float, ops: int) -> None:
        with self.lock:
            self.cpu_s += time.thread_time() - cpu0
            self.ops += ops
            self.running -= 1
            if self.running == 0:
                self.switches += _switches()

    def figure(self, qps: float) -> Figure:
        ops = max(self.ops, 1)
        return Figure(qps, self.cpu_s * 1e6 / ops, self.switches / ops)


def plugin(url: str, seconds: float, connections: int, *, floor: bool) -> Figure:
    """One ``-n 0`` run with ``connections`` threads: the engine's loop or the floor loop."""
    load = _Load()
    loop = floor_loop if floor else runner.load_loop  # type: ignore[attr-defined]
    real = runner.load_loop  # type: ignore[attr-defined]

    def counted(engine: Any, index: int, conn: Any) -> None:
        cpu0 = load.enter()
        try:
            loop(engine, index, conn)
        finally:
            load.leave(cpu0, engine.recorders[index].sent)

    runner.load_loop = counted  # type: ignore[attr-defined]
    try:
        result = run_in_process(Path(tempfile.mkdtemp()),
                                point_lookups(url, seconds, connections))
    finally:
        runner.load_loop = real  # type: ignore[attr-defined]
    return load.figure(result.overall.qps)


def plain(url: str, seconds: float, connections: int) -> Figure:
    """The bare ``exec_prepared`` loop, one connection per thread."""
    load = _Load()
    ready = threading.Barrier(connections)

    def one(seed: int) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            pg = conn.pgconn
            pg.prepare(b"s", QUERY.encode(), None)
            draw, send = random.Random(seed).random, pg.exec_prepared
            ready.wait()
            cpu0 = load.enter()
            ops, end = 0, time.perf_counter() + seconds
            while time.perf_counter() < end:
                send(b"s", [b"%d" % (1 + int(draw() * 100_000))]).ntuples  # noqa: B018
                ops += 1
            load.leave(cpu0, ops)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return load.figure(load.ops / seconds)


def main() -> int:
    """Alternate the three configurations; print the median of each figure."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dsn", default=DEFAULT_DSN, help="libpq URL of a server (admin database)")
    ap.add_argument("--connections", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if args.connections < 1 or args.seconds <= 0 or args.rounds < 1:
        ap.error("--connections and --rounds must be >= 1, --seconds > 0")
    n, secs = args.connections, args.seconds
    configurations: dict[str, Callable[[str], Figure]] = {
        "flakebench -n 0": lambda url: plugin(url, secs, n, floor=False),
        "floor loop": lambda url: plugin(url, secs, n, floor=True),
        "plain pq loop": lambda url: plain(url, secs, n),
    }
    figures: dict[str, list[Figure]] = {name: [] for name in configurations}
    with pgbench_database(args.dsn, "fb_threads") as url:
        for r in range(args.rounds):
            for name, measure in configurations.items():
                fig = measure(url)
                figures[name].append(fig)
                print(f"round {r + 1}/{args.rounds} {name}: {fig.qps:,.0f} qps, "
                      f"{fig.cpu_us:.2f} µs CPU/op, {fig.switches:.2f} switches/op", flush=True)
    print(f"\n{n} connection(s) in one process, median of the rounds "
          f"(ratio: to the plain loop of the same round):")
    plain_qps = [f.qps for f in figures["plain pq loop"]]
    for name, runs in figures.items():
        ratios = [f.qps / p for f, p in zip(runs, plain_qps, strict=True)]
        print(f"  {name:<16} {statistics.median(f.qps for f in runs):>9,.0f} qps  "
              f"ratio {statistics.median(ratios):.3f} ({' '.join(f'{x:.2f}' for x in ratios)})  "
              f"{statistics.median(f.cpu_us for f in runs):5.2f} µs CPU/op  "
              f"{statistics.median(f.switches for f in runs):.2f} switches/op")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
