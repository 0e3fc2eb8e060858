"""pgbench against ``pytest --flakebench`` on the same query, round by round, in one run.

A DBA runs ``pgbench -S -M prepared`` next to this plugin and compares: this script does that
comparison the way a user would see it. It creates a throwaway database, fills it with
``pgbench -i``, then in each round runs, one after the other:

* ``pgbench -S -M prepared`` with ``-c1``, ``-c2 -j2`` and ``-c2 -j1``;
* ``pytest --flakebench`` in a subprocess on a generated test file whose only kind is
  ``point_lookup`` with pgbench's own statement (``SELECT abalance FROM pgbench_accounts WHERE
  aid = ?``, uniform keys): ``-n 0`` with 1 and 2 connections, and ``-n 2`` with 2 connections;
* a plain psycopg loop (one connection, ``cursor.execute(..., prepare=True)`` + ``fetchall()``),
  and a plain ``psycopg.pq`` loop (``exec_prepared``) in 1 and 2 threads of one process, and in
  2 processes side by side (one connection each, as ``-n 2`` runs).

Figures: pgbench's tps, the plugin's measured qps (``overall.qps`` of the run's JSON), the best
of the rounds for each, their ratios, and the client CPU per operation. The plugin's client CPU
comes from ``getrusage`` sampled inside every process of the pytest subprocess (controller and
xdist workers) by a generated ``conftest.py``, over the middle of the measurement window, so
pytest's start-up and the preflight are not charged to the operations; every thread of every
process counts (load threads, ticker, controller, live display) but the sampler's own, and
the split by thread is printed. The whole-subprocess figure (``RUSAGE_CHILDREN``, start-up included)
is printed beside it. pgbench's CPU is its ``RUSAGE_CHILDREN``.

Every figure is checked against the server's own count (``vs_pgbench_probes.ServerCounter``):
the transactions ``pg_stat_database`` counted in the benchmark database over the run against
those the client says it sent (exact: nothing else uses that database), and the server's rate
within the measurement window against the client's. Disagreements are printed as failures.

Usage::

    flock /work/bench.lock python benchmarks/vs_pgbench.py [--dsn URL] [--seconds 10]
        [--warmup 2] [--rounds 3] [--scale 1] [--json PATH]

``--seconds`` and ``--warmup`` are whole seconds (pgbench's ``-T`` takes nothing else).

The database is created on the server of ``--dsn`` (default ``$FLAKEBENCH_TEST_PG_DSN`` or
``postgresql://postgres@127.0.0.1:5432/test``) and dropped at the end, also on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from vs_pgbench_probes import (
    CONFTEST,
    PQ_LOOP,
    PSYCOPG_LOOP,
    RATE_TOLERANCE,
    Figure,
    Series,
    ServerCounter,
    cpu_at,
    cross_check,
    run_plain_loop,
    thread_group,
)

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
QUERY = "SELECT abalance FROM {table} WHERE aid = ?"  # pgbench -S, builtin select-only
PAUSE_S = 1.0

TARGETS: dict[str, tuple[str, str, float]] = {
    # name: (plugin config, pgbench config, minimum ratio)
    "-n 0, 1 conn vs pgbench -c1": ("n0_c1", "pgb_c1", 0.85),
    "-n 2, 2 conns vs pgbench -c2 -j2": ("n2_c2", "pgb_c2_j2", 0.75),
    "-n 0, 2 conns vs pgbench -c2 -j2": ("n0_c2", "pgb_c2_j2", 0.65),
}
CPU_TARGET_US = 20.0
SCALING_TARGET = 2.0

TEST_FILE = '''
import pytest

@pytest.mark.flakebench(
    target="{url}", table="public.pgbench_accounts",
    mix={{"point_lookup": 100}}, sql={{"point_lookup": "{query}"}},
    concurrency={connections}, duration="{seconds}s", warmup="{warmup}s",
)
def test_select_only(flakebench_result):
    pass
'''

# --------------------------------------------------------------------------------------------
# Runners
#
# Each runs one configuration inside a ServerCounter on the benchmark database (nothing else
# uses it) and returns the client's figures beside the server's. The window is the same for
# both: the client's measurement window less 1 s at each end.


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_pgbench(admin: str, url: str, db: str, clients: int, jobs: int, seconds: int
                ) -> Figure:
    """``pgbench -S -M prepared -c C -j J -T S``: tps and client CPU per transaction.

    pgbench gets the benchmark database's full URL (libpq expands a URI given as the database
    name), so it reaches the very server, user and options the plugin does.
    """
    cpu0 = _children_cpu()
    with ServerCounter(admin, db) as server:
        launched = time.time()
        out = subprocess.run(["pgbench", "-S", "-M", "prepared", "-c", str(clients),
                              "-j", str(jobs), "-T", str(seconds), "-n", url],
                             capture_output=True, text=True, check=True).stdout
        ended = time.time()
    cpu = _children_cpu() - cpu0
    tps = float(_field(r"^tps = ([\d.]+)", out))
    done = int(_field(r"^number of transactions actually processed: (\d+)", out))
    failed = _field(r"^number of failed transactions: (\d+)", out, "0")
    # pgbench runs -T seconds after its connections are open (milliseconds here)
    start, end = launched + 1.0, ended - 1.0
    return Figure(qps=tps, cpu_us=cpu * 1e6 / max(done, 1), errors=int(failed),
                  server_qps=server.rate(start, end),
                  server_total=server.total, client_total=done + int(failed),
                  machine=server.machine(start, end, tps * (end - start)))


def _field(pattern: str, text: str, default: str | None = None) -> str:
    found = re.search(pattern, text, re.MULTILINE)
    if found is None:
        if default is not None:
            return default
        raise RuntimeError(f"pgbench printed no {pattern!r}:\n{text}")
    return found.group(1)


def run_plugin(admin: str, db: str, workdir: Path, url: str, connections: int, workers: int,
               seconds: int, warmup: int) -> Figure:
    """``pytest --flakebench -n W`` on a generated file; measured qps and client CPU per op."""
    run_dir = workdir / f"run-{uuid.uuid4().hex[:8]}"
    cpu_dir = run_dir / "cpu"
    cpu_dir.mkdir(parents=True)
    (run_dir / "conftest.py").write_text(CONFTEST)
    (run_dir / "test_select_only.py").write_text(TEST_FILE.format(
        url=url, query=QUERY, connections=connections, seconds=seconds, warmup=warmup))
    env = {**os.environ, "FB_CPU_DIR": str(cpu_dir)}
    cpu0 = _children_cpu()
    with ServerCounter(admin, db) as server:
        proc = subprocess.run([sys.executable, "-m", "pytest", "--flakebench", "-q",
                               "-p", "no:cacheprovider", "--flakebench-json=out.json",
                               "-n", str(workers), "test_select_only.py"],
                              cwd=run_dir, env=env, capture_output=True, text=True)
    whole = _children_cpu() - cpu0
    if proc.returncode != 0:
        raise RuntimeError(f"pytest --flakebench failed:\n{proc.stdout[-3000:]}\n"
                           f"{proc.stderr[-2000:]}")
    (run,) = json.loads((run_dir / "out.json").read_text())["runs"]
    overall = run["overall"]
    # The middle of the measurement window (1 s trimmed at each end): no start-up, no drain.
    start = run["started_at"] + run["warmup_s"] + 1.0
    end = run["started_at"] + run["warmup_s"] + run["measurement_s"] - 1.0
    window_cpu = 0.0
    by_thread: dict[str, float] = {}
    files = list(cpu_dir.glob("cpu-*.json"))
    for path in files:
        samples = json.loads(path.read_text())
        window_cpu += (cpu_at([(s[0], s[1]) for s in samples], end)
                       - cpu_at([(s[0], s[1]) for s in samples], start))
        names = {n for s in samples for n in s[2]}
        loads = any(thread_group(n) == "load threads" for n in names)
        role = "" if len(files) == 1 else "worker: " if loads else "controller: "
        for name in names:
            series = [(s[0], s[2][name]) for s in samples if name in s[2]]
            group = role + thread_group(name)
            by_thread[group] = by_thread.get(group, 0.0) + (cpu_at(series, end)
                                                            - cpu_at(series, start))
    # The sampler is this benchmark's instrument, not the harness: its CPU is left out.
    window_cpu -= sum(v for k, v in by_thread.items() if k.endswith("cpu-sampler"))
    ops_in_window = overall["qps"] * max(end - start, 1e-9)
    total_ops = overall["ops"] + overall["warmup_ops"]
    shutil.rmtree(run_dir, ignore_errors=True)
    per_op = 1e6 / max(ops_in_window, 1.0)
    return Figure(machine=server.machine(start, end, ops_in_window), qps=overall["qps"],
                  cpu_us=window_cpu * per_op,
                  cpu_us_whole=whole * 1e6 / max(total_ops, 1), p50_us=overall["p50_us"],
                  p99_us=overall["p99_us"], errors=overall["errors"],
                  server_qps=server.rate(start, end), server_total=server.total,
                  client_total=total_ops + overall["errors"] + overall.get("warmup_errors", 0),
                  threads={k: round(v * per_op, 2) for k, v in sorted(by_thread.items())})


# --------------------------------------------------------------------------------------------
# Setup, context, report


def _with_db(url: str, db: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


def machine_context(url: str) -> dict[str, Any]:
    """What the figures were measured on."""
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with psycopg.connect(url) as conn:
        server = conn.execute("SHOW server_version").fetchone()
    pgbench = subprocess.run(["pgbench", "--version"], capture_output=True, text=True).stdout
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "psycopg": psycopg.__version__, "psycopg_impl": psycopg.pq.__impl__,
            "libpq": psycopg.pq.version(), "server": server[0] if server else "?",
            "pgbench": pgbench.strip(), "loadavg_start": [round(x, 2) for x in os.getloadavg()]}


def render(series: dict[str, Series], context: dict[str, Any], args: argparse.Namespace
           ) -> dict[str, Any]:
    """Print the table, the cross-checks and the target checks; return them for ``--json``."""
    print()
    print(f"machine: {context['cpus']} CPUs ({context['cpu_model']}), Python "
          f"{context['python']}, psycopg {context['psycopg']} ({context['psycopg_impl']}, "
          f"libpq {context['libpq']}), PostgreSQL {context['server']}, {context['pgbench']}")
    print(f"load average: {context['loadavg_start']} at start, "
          f"{[round(x, 2) for x in os.getloadavg()]} at end")
    print(f"runs: {args.seconds} s each (plugin: + {args.warmup} s warmup), {args.rounds} "
          f"rounds, best of the rounds; scale {args.scale}")
    print()
    header = ("configuration", "best qps", "server qps", "server/client txns", "rounds",
              "client CPU µs/op", "p50/p99 µs")
    rows = []
    for s in series.values():
        b = s.best()
        cpu_cell = f"{b.cpu_us:.1f}"
        if b.cpu_us_whole is not None:
            cpu_cell += f" (whole {b.cpu_us_whole:.1f})"
        lat = f"{b.p50_us}/{b.p99_us}" if b.p50_us is not None else ""
        server_cell = f"{b.server_qps:,.0f}" if b.server_qps is not None else "?"
        txns = f"{b.server_total:,}/{b.client_total:,}"
        rows.append((s.label, f"{b.qps:,.0f}", server_cell, txns,
                     " ".join(f"{f.qps / 1000:.1f}k" for f in s.runs), cpu_cell, lat))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    print()
    failed = [f"{s.label}, round {i}: {p}" for s in series.values()
              for i, f in enumerate(s.runs, 1) for p in cross_check(f)]
    print(f"server cross-check (pg_stat_database xact_commit + xact_rollback of the benchmark "
          f"database; rate: least-squares slope over the window, tolerance "
          f"{RATE_TOLERANCE:.0%}): " + ("every run agrees" if not failed else "FAILED"))
    for line in failed:
        print(f"  {line}")
    print("where the CPUs went, within each best run's window (machine busy: share of every "
          "CPU; server: the benchmark database's backends, CPU µs/op; switches: the machine's "
          "context switches per op):")
    for s in series.values():
        b = s.best()
        if b.machine is not None:
            print(f"  {s.label}: machine busy {b.machine.busy:.0%}, server "
                  f"{b.machine.server_cpu_us:.1f} µs/op, client {b.cpu_us:.1f} µs/op, "
                  f"switches {b.machine.switches_per_op:.2f}/op")
    for key in ("n0_c1", "n0_c2", "n2_c2"):
        b = series[key].best()
        if b.threads:
            print(f"client CPU µs/op by thread, {series[key].label}: " + ", ".join(
                f"{k} {v:.1f}" for k, v in sorted(b.threads.items(), key=lambda kv: -kv[1])
                if v >= 0.05))
    print()
    checks: list[dict[str, Any]] = []
    for name, (plugin, pgb, minimum) in TARGETS.items():
        p, g = series[plugin].best(), series[pgb].best()
        ratio = p.qps / g.qps
        server = (round(p.server_qps / g.server_qps, 3)
                  if p.server_qps and g.server_qps else None)
        rounds = [round(a.qps / b.qps, 3) for a, b in
                  zip(series[plugin].runs, series[pgb].runs, strict=True)]
        checks.append({"target": name, "value": round(ratio, 3), "min": minimum,
                       "met": ratio >= minimum, "server_side": server, "per_round": rounds})
    cpu = series["n0_c1"].best().cpu_us
    checks.append({"target": "client CPU per op, -n 0 1 conn (µs)", "value": round(cpu, 1),
                   "max": CPU_TARGET_US, "met": cpu <= CPU_TARGET_US})
    cpu2 = series["n2_c2"].best().cpu_us
    checks.append({"target": "client CPU per op, -n 2 (µs)", "value": round(cpu2, 1),
                   "max": CPU_TARGET_US, "met": cpu2 <= CPU_TARGET_US})
    scaling = series["n0_c2"].best().qps / series["n0_c1"].best().qps
    checks.append({"target": "in-process concurrency 2/1 (-n 0)", "value": round(scaling, 3),
                   "min": SCALING_TARGET, "met": scaling >= SCALING_TARGET})
    pgb_scaling = series["pgb_c2_j1"].best().qps / series["pgb_c1"].best().qps
    checks.append({"target": "(reference) pgbench -c2 -j1 / -c1", "value": round(pgb_scaling, 3)})
    for plugin, pq, name in (("n0_c1", "pq_c1", "1"), ("n0_c2", "pq_c2", "2")):
        same = [round(a.qps / b.qps, 3) for a, b in
                zip(series[plugin].runs, series[pq].runs, strict=True)]
        checks.append({"target": f"(reference) flakebench -n 0 / plain pq loop, {name} "
                                  f"connection(s), same round", "value": same})
    same = [round(a.qps / b.qps, 3) for a, b in
            zip(series["n2_c2"].runs, series["pq_p2"].runs, strict=True)]
    checks.append({"target": "(reference) flakebench -n 2 / plain pq loop, 2 processes, same "
                             "round", "value": same})
    pq_p2 = series["pq_p2"].best().qps / series["pgb_c2_j2"].best().qps
    checks.append({"target": "(reference) plain pq loop 2 processes / pgbench -c2 -j2",
                   "value": round(pq_p2, 3)})
    pq_scaling = series["pq_c2"].best().qps / series["pq_c1"].best().qps
    checks.append({"target": "(reference) plain pq loop 2 threads / 1", "value":
                   round(pq_scaling, 3)})
    loop = series["loop_c1"].best().qps / series["pgb_c1"].best().qps
    checks.append({"target": "(reference) plain psycopg loop / pgbench -c1",
                   "value": round(loop, 3)})
    for c in checks:
        limit = (f">= {c['min']}" if "min" in c else f"<= {c['max']}" if "max" in c else "")
        met = "" if "met" not in c else ("met" if c["met"] else "NOT met")
        extra = ""
        if "per_round" in c:
            extra = (f" (server-side {c['server_side']}; same round: "
                     f"{' '.join(str(x) for x in c['per_round'])})")
        print(f"{c['target']}: {c['value']} {limit} {met}{extra}".rstrip())
    if failed:
        print("The cross-check failed for some runs: their client figures are not confirmed "
              "by the server.")
    return {"checks": checks, "cross_check_failures": failed}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--dsn", default=os.environ.get("FLAKEBENCH_TEST_PG_DSN", DEFAULT_DSN),
                        help="a libpq URL of the server (its database is only used to create "
                             "and drop the throwaway one, and to read the server's counts)")
    parser.add_argument("--seconds", type=int, default=10,
                        help="per run, whole seconds as pgbench -T takes them (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="plugin warmup (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--scale", type=int, default=1, help="pgbench -i -s (default 1)")
    parser.add_argument("--json", type=Path, default=None, help="also write figures here")
    args = parser.parse_args(argv)
    if args.seconds < 4 or args.rounds < 1 or args.scale < 1 or args.warmup < 0:
        parser.error("--seconds must be >= 4, --rounds and --scale >= 1, --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("pgbench") is None:
        print("pgbench not found: apt-get install postgresql-client (or postgresql-contrib)")
        return 2
    context = machine_context(args.dsn)
    db = f"fb_pgbench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db}"')
    url, dsn = _with_db(args.dsn, db), args.dsn
    series = {name: Series(name, label) for name, label in (
        ("pgb_c1", "pgbench -c1"), ("n0_c1", "flakebench -n 0, 1 conn"),
        ("loop_c1", "plain psycopg loop, 1 conn"), ("pq_c1", "plain pq loop, 1 thread"),
        ("pgb_c2_j2", "pgbench -c2 -j2"), ("n2_c2", "flakebench -n 2, 2 conns"),
        ("pq_p2", "plain pq loop, 2 processes"),
        ("pgb_c2_j1", "pgbench -c2 -j1"), ("n0_c2", "flakebench -n 0, 2 conns"),
        ("pq_c2", "plain pq loop, 2 threads"))}
    secs, warm = args.seconds, args.warmup
    try:
        subprocess.run(["pgbench", "-i", "-s", str(args.scale), "-q", url],
                       check=True, capture_output=True)
        with tempfile.TemporaryDirectory(prefix="fb-vs-pgbench-") as tmp:
            work = Path(tmp)
            # One untimed pass primes the buffer cache and the plugin's imports.
            run_pgbench(dsn, url, db, 1, 1, 3)
            plan: list[tuple[str, Callable[[], Figure]]] = [
                ("pgb_c1", lambda: run_pgbench(dsn, url, db, 1, 1, secs)),
                ("n0_c1", lambda: run_plugin(dsn, db, work, url, 1, 0, secs, warm)),
                ("loop_c1", lambda: run_plain_loop(dsn, db, PSYCOPG_LOOP, url, secs)),
                ("pq_c1", lambda: run_plain_loop(dsn, db, PQ_LOOP, url, secs, 1)),
                ("pgb_c2_j2", lambda: run_pgbench(dsn, url, db, 2, 2, secs)),
                ("n2_c2", lambda: run_plugin(dsn, db, work, url, 2, 2, secs, warm)),
                ("pq_p2", lambda: run_plain_loop(dsn, db, PQ_LOOP, url, secs, 1,
                                                 processes=2)),
                ("pgb_c2_j1", lambda: run_pgbench(dsn, url, db, 2, 1, secs)),
                ("n0_c2", lambda: run_plugin(dsn, db, work, url, 2, 0, secs, warm)),
                ("pq_c2", lambda: run_plain_loop(dsn, db, PQ_LOOP, url, secs, 2)),
            ]
            for r in range(1, args.rounds + 1):
                for name, run in plan:
                    time.sleep(PAUSE_S)
                    fig = run()
                    series[name].runs.append(fig)
                    server = f"{fig.server_qps:,.0f}" if fig.server_qps is not None else "?"
                    print(f"round {r}/{args.rounds} {series[name].label}: {fig.qps:,.0f}/s "
                          f"(server {server}/s; txns {fig.server_total:,} server, "
                          f"{fig.client_total:,} client), {fig.cpu_us:.1f} µs CPU/op",
                          flush=True)
    finally:
        with psycopg.connect(args.dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    report = render(series, context, args)
    if args.json is not None:
        args.json.write_text(json.dumps({
            "command": " ".join(["python", "benchmarks/vs_pgbench.py", *(argv or sys.argv[1:])]),
            "context": context,
            "series": {k: {"label": s.label, "runs": [asdict(f) for f in s.runs]}
                       for k, s in series.items()},
            **report}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
