"""Control-plane cost against the number of workers, by simulation (no database load).

N simulated workers (threads spread over a few processes) speak the real worker protocol
through the real code: each opens its own ``ControlPlane``, joins the run, beats once a second
(with a snapshot of the size real workers send) and follows the controller's events with the
real event follower (``distributed.follower.EventFollower``, on an engine that only records what it
is told), which marks each event applied (``RUN_EVENT_APPLIED`` and its lag). The controller
(``RunBook``, as the run driver uses it) reads every heartbeat 4 times a second and sends over
~20 s: one SET_WORKER_TARGET per worker, START, SET_PHASE, a load step of one SET_WORKER_TARGET
per worker every 3 s, STOP.

Measured over the steady part of the run (from START + 1 s to just before STOP), against a
throwaway database on a PostgreSQL cluster of its own (tests/pgcluster.py: 400+ connections
do not fit in the shared server's max_connections=100) or ``--dsn``:

- store queries/s: ``pg_stat_statements`` calls in that database (every statement, polls,
  writes and LISTEN/UNLISTEN alike) — per kind and per worker;
- heartbeat writes/s: the ``HEARTBEAT_COUNT`` increase over the window;
- event lag p50/p99/max: ``RUN_EVENT_APPLIED.LAG_MS`` of every event and worker (p99 also
  apart for events to every worker, which wake all of them at once, and events to one);
- the machine's 1-minute load average at the end of the run (the machine may be shared).

Each N runs twice: ``listen`` (the default: LISTEN/NOTIFY with a 1 s fallback poll) and
``poll`` (``FLAKEBENCH_CONTROL_NOTIFY=0``: the 20 ms polling workers used before).

    python benchmarks/control_scale.py [--workers 50,100,200] [--modes listen,poll]
                                       [--seconds 20] [--processes 8] [--dsn URL]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, cast

HERE = Path(__file__).resolve().parent
SNAPSHOT_BYTES = 1500  # about what a real worker's SNAPSHOT_JSON holds (4 one-second snapshots)
STEP_S = 3.0


class RecordingEngine:
    """The engine the follower drives: records, loads nothing."""

    def __init__(self) -> None:
        self.active = 0
        self.measuring = False
        self.done = threading.Event()

    def begin_measurement(self) -> None:
        self.measuring = True

    def set_active(self, n: int) -> None:
        self.active = n

    def request_tick(self) -> None:
        pass

    def finish(self, planned: bool = False) -> None:
        self.done.set()

    def stop(self) -> None:
        self.done.set()


# -- a process of simulated workers -----------------------------------------------------------


def simulated_worker(url: str, run_id: str, worker_id: str, joined: threading.Barrier) -> None:
    """One worker: join, follow events, beat once a second until STOP, report DONE."""
    from pytest_flakebench.control.plane import open_control_plane
    from pytest_flakebench.distributed.follower import EventFollower
    from pytest_flakebench.distributed.worker_context import WorkerContext

    plane = open_control_plane(url)
    try:
        plane.join(run_id, worker_id, socket.gethostname(), "READY")
        ctx = WorkerContext(plane=plane, session_id="scale", worker_id=worker_id,
                            base_dir=Path("."), duration_scale=1.0, join_timeout_s=120,
                            drain_timeout_s=60, store_outage_s=60)
        follower = EventFollower(ctx, run_id, 0)
        engine = RecordingEngine()
        follower.start(cast(Any, engine))
        joined.wait()
        snapshot = json.dumps([{"ops": 0, "pad": "x" * (SNAPSHOT_BYTES // 4)}] * 4)
        next_beat = time.monotonic() + random.uniform(0, 1.0)  # engines start apart
        while not follower.stopped.wait(max(0.0, next_beat - time.monotonic())):
            plane.heartbeat(run_id, worker_id, status="RUNNING", active=engine.active,
                            last_event_seq=follower.last_seq, snapshot_json=snapshot,
                            retry=False)
            next_beat += 1.0
        follower.join()
        plane.heartbeat(run_id, worker_id, status="DONE")
    finally:
        plane.close()


def child(url: str, run_id: str, workers: list[str]) -> int:
    joined = threading.Barrier(len(workers) + 1)
    threads = [threading.Thread(target=simulated_worker, args=(url, run_id, w, joined),
                                daemon=True) for w in workers]
    for t in threads:
        t.start()
    joined.wait(timeout=120)
    print("joined", flush=True)
    for t in threads:
        t.join(timeout=120)
    return 0


# -- the controller and the measurements ------------------------------------------------------


def stat_calls(admin: Any) -> dict[str, int]:
    """pg_stat_statements calls in this database, by kind of statement."""
    kinds = {"event polls": "%from flakebench.run_control_events%where%",
             "events applied": "insert into flakebench.run_event_applied%",
             "heartbeat writes": "update flakebench.worker_heartbeats%",
             "heartbeat reads": "select%from flakebench.worker_heartbeats%",
             "event inserts": "with added as%",
             "listen/unlisten": "%listen%"}
    rows = admin.execute("SELECT lower(query), calls FROM pg_stat_statements s JOIN "
                         "pg_database d ON d.oid = s.dbid WHERE d.datname = current_database()"
                         ).fetchall()
    out = dict.fromkeys([*kinds, "other", "total"], 0)
    for query, calls in rows:
        if "pg_stat_statements" in query:
            continue  # the benchmark's own reads
        kind = next((k for k, pattern in kinds.items() if _like(query, pattern)), "other")
        out[kind] += int(calls)
        out["total"] += int(calls)
    return out


def _like(text: str, pattern: str) -> bool:
    import fnmatch

    return fnmatch.fnmatchcase(text, pattern.replace("%", "*"))


def heartbeat_total(admin: Any, run_id: str) -> int:
    row = admin.execute("SELECT coalesce(sum(heartbeat_count), 0) FROM "
                        "flakebench.worker_heartbeats WHERE run_id = %s", (run_id,)).fetchone()
    return int(row[0])


def measure(url: str, n: int, mode: str, seconds: float, processes: int) -> dict[str, Any]:
    """One run of ``n`` simulated workers; the figures of its steady part."""
    import psycopg

    from pytest_flakebench.control.plane import open_control_plane
    from pytest_flakebench.distributed.run_book import RunBook

    plane = open_control_plane(url)
    run_id = uuid.uuid4().hex
    workers = [f"sim{i:03d}" for i in range(n)]
    plane.create_run(run_id=run_id, session_id=uuid.uuid4().hex, test_id="scale::x",
                     participants=workers)
    env = {**os.environ, "FLAKEBENCH_CONTROL_NOTIFY": "1" if mode == "listen" else "0"}
    procs = [subprocess.Popen([sys.executable, __file__, "--child", url, run_id,
                               ",".join(workers[i::processes])], env=env,
                              stdout=subprocess.PIPE, text=True)
             for i in range(processes) if workers[i::processes]]
    admin = psycopg.connect(url, autocommit=True)
    try:
        for proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "joined":
                raise SystemExit(f"a worker process failed (rc {proc.wait()})")
        book = RunBook(plane, run_id)
        stop_reading = threading.Event()

        def read_beats() -> None:  # as the run driver does (control/polling: 4 per second)
            while not stop_reading.wait(0.25):
                book.heartbeats()

        reader = threading.Thread(target=read_beats, daemon=True)
        reader.start()
        t0 = time.monotonic()
        for w in workers:
            book.emit("SET_WORKER_TARGET", {"connections": 4}, target=w)
        time.sleep(1.0)
        book.emit("START", {"phase": "WARMUP"})
        time.sleep(1.0)
        calls0, beats0, w0 = stat_calls(admin), heartbeat_total(admin, run_id), time.monotonic()
        time.sleep(1.0)
        book.emit("SET_PHASE", {"phase": "MEASUREMENT"})
        step = 1
        while time.monotonic() - t0 < seconds - 1.0:
            time.sleep(STEP_S)
            step += 1
            for w in workers:
                book.emit("SET_WORKER_TARGET", {"connections": 4 + step % 3}, target=w)
        time.sleep(0.5)
        calls1, beats1, w1 = stat_calls(admin), heartbeat_total(admin, run_id), time.monotonic()
        book.emit("STOP", {"planned": True})
        for proc in procs:
            proc.wait(timeout=120)
        stop_reading.set()
        reader.join()
        lags = sorted(plane.lags_ms(run_id))
        events = book.seq
        split = admin.execute(
            "SELECT e.target_worker IS NULL, a.lag_ms FROM flakebench.run_event_applied a "
            "JOIN flakebench.run_control_events e ON e.run_id = a.run_id AND "
            "e.sequence_id = a.sequence_id WHERE a.run_id = %s", (run_id,)).fetchall()
        to_all = sorted(float(lag) for everyone, lag in split if everyone)
        to_one = sorted(float(lag) for everyone, lag in split if not everyone)
        load = os.getloadavg()[0]
    finally:
        admin.close()
        plane.close()
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    window = w1 - w0
    rates = {k: (calls1[k] - calls0[k]) / window for k in calls0}
    expected = 3 * n + (events - 3)  # START, SET_PHASE, STOP to all; the rest to one each
    return {"workers": n, "mode": mode, "window_s": window, "events": events,
            "applied": len(lags), "expected_applied": expected,
            "queries_per_s": rates["total"], "per_worker_qps": rates["total"] / n,
            "by_kind_per_s": rates, "heartbeats_per_s": (beats1 - beats0) / window,
            "lag_p50_ms": pct(lags, 0.5), "lag_p99_ms": pct(lags, 0.99),
            "lag_max_ms": lags[-1] if lags else float("nan"),
            "lag_p99_broadcast_ms": pct(to_all, 0.99), "lag_p99_targeted_ms": pct(to_one, 0.99),
            "load_average_1m": load}


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def with_statement_counts(url: str) -> None:
    """pg_stat_statements in the store's database (the queries/s figure reads it)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return child(sys.argv[2], sys.argv[3], sys.argv[4].split(","))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--workers", default="50,100,200")
    parser.add_argument("--modes", default="listen,poll")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--dsn", help="an existing server (pg_stat_statements preloaded, room "
                                      "for 2 connections per worker); default: a cluster of "
                                      "its own")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent))  # tests/: the throwaway store, the owned cluster
    from tests.pgstore import throwaway_store

    cluster = None
    if args.dsn:
        base = args.dsn
    else:
        from tests.pgcluster import PgCluster, find_binaries

        binaries = find_binaries()
        if binaries is None:
            raise SystemExit("no PostgreSQL server binaries: install postgresql or pass --dsn")
        cluster = PgCluster(binaries)
        cluster.start()
        base = cluster.dsn()
    figures: list[dict[str, Any]] = []
    try:
        for n in (int(x) for x in args.workers.split(",")):
            for mode in args.modes.split(","):
                with throwaway_store(base, "fb_scale") as url:
                    with_statement_counts(url)
                    fig = measure(url, n, mode, args.seconds, args.processes)
                figures.append(fig)
                print(json.dumps(fig), flush=True)
    finally:
        if cluster is not None:
            cluster.destroy()
    report(figures)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


def report(figures: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    from pytest_flakebench.control.polling import FAST, SNOWFLAKE

    table = Table(title="control plane on PostgreSQL, simulated workers (no database load)")
    for column in ("workers", "mode", "store q/s", "q/s per worker", "event polls/s",
                   "heartbeat writes/s", "events", "applied", "lag p50 ms", "lag p99 ms",
                   "p99 to all / to one", "lag max ms", "load 1m"):
        table.add_column(column, justify="left" if column == "mode" else "right")
    for f in figures:
        table.add_row(str(f["workers"]), f["mode"], f"{f['queries_per_s']:,.0f}",
                      f"{f['per_worker_qps']:.2f}", f"{f['by_kind_per_s']['event polls']:,.0f}",
                      f"{f['heartbeats_per_s']:,.0f}", str(f["events"]),
                      f"{f['applied']}/{f['expected_applied']}", f"{f['lag_p50_ms']:.1f}",
                      f"{f['lag_p99_ms']:.1f}",
                      f"{f['lag_p99_broadcast_ms']:.0f} / {f['lag_p99_targeted_ms']:.0f}",
                      f"{f['lag_max_ms']:.1f}", f"{f['load_average_1m']:.0f}")
    console = Console(width=160)
    console.print(table)
    console.print(f"quiet-run arithmetic per worker (control/polling): SQLite "
                  f"{FAST.queries_per_s(1) - 1 / FAST.beats_s:.0f} q/s (50 polls + 1 heartbeat), "
                  f"Snowflake {SNOWFLAKE.queries_per_s(1) - 1 / SNOWFLAKE.beats_s:.0f} q/s "
                  f"(1 backed-off poll + 1 heartbeat); the controller adds "
                  f"{1 / FAST.beats_s:.0f} (SQLite, PostgreSQL) or {1 / SNOWFLAKE.beats_s:.0f} "
                  f"(Snowflake) heartbeat reads/s whatever the number of workers")


if __name__ == "__main__":
    sys.exit(main())
