"""pgbench against ``pytest --flakebench`` on the same query, round by round, in one run.

A DBA runs ``pgbench -S -M prepared`` next to this plugin and compares: this script does that
comparison the way a user would see it. It creates a throwaway database, fills it with
``pgbench -i``, then in each round runs, one after the other:

* ``pgbench -S -M prepared`` with ``-c1``, ``-c2 -j2`` and ``-c2 -j1``;
* ``pytest --flakebench`` in a subprocess on a generated test file whose only kind is
  ``point_lookup`` with pgbench's own statement (``SELECT abalance FROM pgbench_accounts WHERE
  aid = ?``, uniform keys): ``-n 0`` with 1 and 2 connections, and ``-n 2`` with 2 connections;
* a plain psycopg loop (one connection, ``cursor.execute(..., prepare=True)`` + ``fetchall()``).

Figures: pgbench's tps, the plugin's measured qps (``overall.qps`` of the run's JSON), the best
of the rounds for each, their ratios, and the client CPU per operation. The plugin's client CPU
comes from ``getrusage`` sampled inside every process of the pytest subprocess (controller and
xdist workers) by a generated ``conftest.py``, over the middle of the measurement window, so
pytest's start-up and the preflight are not charged to the operations; the whole-subprocess
figure (``RUSAGE_CHILDREN``, start-up included) is printed beside it. pgbench's CPU is its
``RUSAGE_CHILDREN``.

Usage::

    flock /work/bench.lock python benchmarks/vs_pgbench.py [--dsn URL] [--seconds 10]
        [--warmup 2] [--rounds 3] [--scale 1] [--json PATH]

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

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

# Loaded by every process of the pytest subprocess (controller and xdist workers): samples this
# process's CPU time 20 times a second and writes the samples when pytest ends.
CONFTEST = '''
import json, os, resource, threading, time

_samples = []
_stop = threading.Event()


def _sample():
    while True:
        r = resource.getrusage(resource.RUSAGE_SELF)
        _samples.append((time.time(), r.ru_utime + r.ru_stime))
        if _stop.wait(0.05):
            return


def pytest_configure(config):
    threading.Thread(target=_sample, daemon=True, name="cpu-sampler").start()


def pytest_unconfigure(config):
    _stop.set()
    r = resource.getrusage(resource.RUSAGE_SELF)
    _samples.append((time.time(), r.ru_utime + r.ru_stime))
    path = os.path.join(os.environ["FB_CPU_DIR"], f"cpu-{os.getpid()}.json")
    with open(path, "w") as f:
        json.dump(_samples, f)
'''

PSYCOPG_LOOP = '''
import json, random, sys, time
import psycopg
url, seconds, warmup = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
conn = psycopg.connect(url, autocommit=True)
cur = conn.cursor()
rng = random.Random(1)
sql = "SELECT abalance FROM pgbench_accounts WHERE aid = %s"
n_rows = conn.execute("SELECT count(*) FROM pgbench_accounts").fetchone()[0]
execute, fetchall, randint = cur.execute, cur.fetchall, rng.randint
end = time.perf_counter() + warmup
while time.perf_counter() < end:
    execute(sql, (randint(1, n_rows),), prepare=True)
    fetchall()
n = 0
cpu0, t0 = time.process_time(), time.perf_counter()
end = t0 + seconds
while time.perf_counter() < end:
    execute(sql, (randint(1, n_rows),), prepare=True)
    fetchall()
    n += 1
elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
print(json.dumps({"ops": n, "qps": n / elapsed, "cpu_us": cpu * 1e6 / n}))
'''


@dataclass(slots=True)
class Figure:
    """One run of one configuration."""

    qps: float
    cpu_us: float  # client CPU per operation over the measurement window
    cpu_us_whole: float | None = None  # whole subprocess, start-up included
    p50_us: int | None = None
    p99_us: int | None = None
    errors: int = 0


@dataclass(slots=True)
class Series:
    """Every round of one configuration."""

    name: str
    label: str
    runs: list[Figure] = field(default_factory=list)

    def best(self) -> Figure:
        return max(self.runs, key=lambda f: f.qps)


# --------------------------------------------------------------------------------------------
# Runners


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _pg_args(url: str) -> list[str]:
    parts = urlsplit(url)
    args = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432)]
    if parts.username:
        args += ["-U", parts.username]
    return args


def run_pgbench(url: str, db: str, clients: int, jobs: int, seconds: float) -> Figure:
    """``pgbench -S -M prepared -c C -j J -T S``: tps and client CPU per transaction."""
    cpu0 = _children_cpu()
    out = subprocess.run(["pgbench", *_pg_args(url), "-S", "-M", "prepared", "-c", str(clients),
                          "-j", str(jobs), "-T", f"{seconds:g}", "-n", db],
                         capture_output=True, text=True, check=True).stdout
    cpu = _children_cpu() - cpu0
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))  # type: ignore[union-attr]
    done = int(re.search(r"actually processed: (\d+)", out).group(1))  # type: ignore[union-attr]
    return Figure(qps=tps, cpu_us=cpu * 1e6 / done)


def _cpu_at(samples: list[list[float]], when: float) -> float:
    """A process's CPU seconds at ``when``, interpolated between its samples."""
    prev = samples[0]
    for ts, cpu in samples:
        if ts >= when:
            if ts == prev[0]:
                return cpu
            return prev[1] + (cpu - prev[1]) * (when - prev[0]) / (ts - prev[0])
        prev = [ts, cpu]
    return prev[1]


def run_plugin(workdir: Path, url: str, connections: int, workers: int, seconds: float,
               warmup: float) -> Figure:
    """``pytest --flakebench -n W`` on a generated file; measured qps and client CPU per op."""
    run_dir = workdir / f"run-{uuid.uuid4().hex[:8]}"
    cpu_dir = run_dir / "cpu"
    cpu_dir.mkdir(parents=True)
    (run_dir / "conftest.py").write_text(CONFTEST)
    (run_dir / "test_select_only.py").write_text(TEST_FILE.format(
        url=url, query=QUERY, connections=connections, seconds=seconds, warmup=warmup))
    env = {**os.environ, "FB_CPU_DIR": str(cpu_dir)}
    cpu0 = _children_cpu()
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
    for path in cpu_dir.glob("cpu-*.json"):
        samples = json.loads(path.read_text())
        window_cpu += _cpu_at(samples, end) - _cpu_at(samples, start)
    ops_in_window = overall["qps"] * max(end - start, 1e-9)
    total_ops = overall["ops"] + overall["warmup_ops"]
    shutil.rmtree(run_dir, ignore_errors=True)
    return Figure(qps=overall["qps"], cpu_us=window_cpu * 1e6 / max(ops_in_window, 1.0),
                  cpu_us_whole=whole * 1e6 / max(total_ops, 1), p50_us=overall["p50_us"],
                  p99_us=overall["p99_us"], errors=overall["errors"])


def run_psycopg_loop(url: str, seconds: float) -> Figure:
    """The plain psycopg loop, one connection, in its own process."""
    out = subprocess.run([sys.executable, "-c", PSYCOPG_LOOP, url, f"{seconds:g}", "1"],
                         capture_output=True, text=True, check=True).stdout
    data = json.loads(out.strip().splitlines()[-1])
    return Figure(qps=float(data["qps"]), cpu_us=float(data["cpu_us"]))


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
    """Print the table and the target checks; return them for ``--json``."""
    print()
    print(f"machine: {context['cpus']} CPUs ({context['cpu_model']}), Python "
          f"{context['python']}, psycopg {context['psycopg']} ({context['psycopg_impl']}, "
          f"libpq {context['libpq']}), PostgreSQL {context['server']}, {context['pgbench']}")
    print(f"load average: {context['loadavg_start']} at start, "
          f"{[round(x, 2) for x in os.getloadavg()]} at end")
    print(f"runs: {args.seconds:g} s each (plugin: + {args.warmup:g} s warmup), {args.rounds} "
          f"rounds, best of the rounds; scale {args.scale}")
    print()
    header = ("configuration", "best qps", "rounds", "client CPU µs/op", "p50/p99 µs")
    rows = []
    for s in series.values():
        b = s.best()
        cpu = f"{b.cpu_us:.1f}"
        if b.cpu_us_whole is not None:
            cpu += f" (whole {b.cpu_us_whole:.1f})"
        lat = f"{b.p50_us}/{b.p99_us}" if b.p50_us is not None else ""
        rows.append((s.label, f"{b.qps:,.0f}", " ".join(f"{f.qps / 1000:.1f}k" for f in s.runs),
                     cpu, lat))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    print()
    checks: list[dict[str, Any]] = []
    for name, (plugin, pgb, minimum) in TARGETS.items():
        ratio = series[plugin].best().qps / series[pgb].best().qps
        checks.append({"target": name, "value": round(ratio, 3), "min": minimum,
                       "met": ratio >= minimum})
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
    loop = series["loop_c1"].best().qps / series["pgb_c1"].best().qps
    checks.append({"target": "(reference) plain psycopg loop / pgbench -c1",
                   "value": round(loop, 3)})
    for c in checks:
        limit = (f">= {c['min']}" if "min" in c else f"<= {c['max']}" if "max" in c else "")
        met = "" if "met" not in c else ("met" if c["met"] else "NOT met")
        print(f"{c['target']}: {c['value']} {limit} {met}".rstrip())
    return {"checks": checks}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--dsn", default=os.environ.get("FLAKEBENCH_TEST_PG_DSN", DEFAULT_DSN),
                        help="a libpq URL of the server (its database is only used to create "
                             "and drop the throwaway one)")
    parser.add_argument("--seconds", type=float, default=10.0, help="per run (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="plugin warmup (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--scale", type=int, default=1, help="pgbench -i -s (default 1)")
    parser.add_argument("--json", type=Path, default=None, help="also write figures here")
    args = parser.parse_args(argv)
    if args.seconds < 3 or args.rounds < 1 or args.scale < 1 or args.warmup < 0:
        parser.error("--seconds must be >= 3, --rounds and --scale >= 1, --warmup >= 0")
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
    url = _with_db(args.dsn, db)
    series = {name: Series(name, label) for name, label in (
        ("pgb_c1", "pgbench -c1"), ("n0_c1", "flakebench -n 0, 1 conn"),
        ("loop_c1", "plain psycopg loop, 1 conn"),
        ("pgb_c2_j2", "pgbench -c2 -j2"), ("n2_c2", "flakebench -n 2, 2 conns"),
        ("pgb_c2_j1", "pgbench -c2 -j1"), ("n0_c2", "flakebench -n 0, 2 conns"))}
    try:
        subprocess.run(["pgbench", *_pg_args(args.dsn), "-i", "-s", str(args.scale), "-q", db],
                       check=True, capture_output=True)
        with tempfile.TemporaryDirectory(prefix="fb-vs-pgbench-") as tmp:
            work = Path(tmp)
            # One untimed pass primes the buffer cache and the plugin's imports.
            run_pgbench(args.dsn, db, 1, 1, 3)
            for r in range(1, args.rounds + 1):
                plan = [
                    ("pgb_c1", lambda: run_pgbench(args.dsn, db, 1, 1, args.seconds)),
                    ("n0_c1", lambda: run_plugin(work, url, 1, 0, args.seconds, args.warmup)),
                    ("loop_c1", lambda: run_psycopg_loop(url, args.seconds)),
                    ("pgb_c2_j2", lambda: run_pgbench(args.dsn, db, 2, 2, args.seconds)),
                    ("n2_c2", lambda: run_plugin(work, url, 2, 2, args.seconds, args.warmup)),
                    ("pgb_c2_j1", lambda: run_pgbench(args.dsn, db, 2, 1, args.seconds)),
                    ("n0_c2", lambda: run_plugin(work, url, 2, 0, args.seconds, args.warmup)),
                ]
                for name, run in plan:
                    time.sleep(PAUSE_S)
                    fig = run()
                    series[name].runs.append(fig)
                    print(f"round {r}/{args.rounds} {series[name].label}: {fig.qps:,.0f}/s, "
                          f"{fig.cpu_us:.1f} µs CPU/op", flush=True)
    finally:
        with psycopg.connect(args.dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    report = render(series, context, args)
    if args.json is not None:
        args.json.write_text(json.dumps({
            "command": " ".join(["python", "benchmarks/vs_pgbench.py", *(argv or sys.argv[1:])]),
            "context": context,
            "series": {k: {"label": s.label, "runs": [vars(f) if not hasattr(f, "__slots__")
                                                      else {a: getattr(f, a)
                                                            for a in f.__slots__}
                                                      for f in s.runs]}
                       for k, s in series.items()},
            **report}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
