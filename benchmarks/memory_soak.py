"""Memory over a long full-speed run: RSS of every process of ``pytest --flakebench -n 2``.

Runs one point-lookup benchmark (``mix={"point_lookup": 100}``, 2 connections, no think time,
so as fast as the server answers) under ``pytest --flakebench -n 2`` for ``--seconds``
(600 for the published figure), and samples the resident set size (``VmRSS`` from
``/proc/PID/status``) of the pytest process and of every descendant (the xdist workers) every
``--every`` seconds. It reports, per process, the RSS at the first sample after ``--settle``
seconds (60 by default: imports, connections, the first histograms and the store are in place by
then) and at the last sample within ``--seconds`` (still under load: the run starts a few seconds
after the process), the growth between them, and the peak (which includes the end of the run:
merging, reporting). Target: growth <= 10 MB per process.

Usage::

    flock /work/bench.lock python benchmarks/memory_soak.py [--seconds 600] [--every 10]
        [--settle 60] [--dsn URL] [--json PATH]

The table (``fb_soak_<hex>``, 100k rows) is created in the ``--dsn`` database and dropped after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
TARGET_MB = 10.0

TEST_FILE = '''
import pytest

@pytest.mark.flakebench(
    target="{dsn}", table="public.{table}", mix={{"point_lookup": 100}},
    concurrency=2, duration="{seconds}s", warmup="0s",
)
def test_soak(flakebench_result):
    pass
'''


def rss_kb(pid: int) -> int | None:
    """VmRSS of ``pid`` in kB, None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def descendants(root: int) -> list[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()[:80]
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--dsn", default=os.environ.get("FLAKEBENCH_TEST_PG_DSN", DEFAULT_DSN))
    parser.add_argument("--seconds", type=float, default=600.0, help="load (default 600)")
    parser.add_argument("--every", type=float, default=10.0, help="sampling (default 10 s)")
    parser.add_argument("--settle", type=float, default=60.0,
                        help="growth is measured from the first sample after this (default 60)")
    parser.add_argument("--json", type=Path, default=None, help="also write samples here")
    args = parser.parse_args(argv)
    if args.seconds <= args.settle or args.every <= 0:
        parser.error("--seconds must exceed --settle, and --every must be > 0")
    table = f"fb_soak_{uuid.uuid4().hex[:8]}"
    load_start = [round(x, 2) for x in os.getloadavg()]
    with psycopg.connect(args.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, val text, n bigint)")
        conn.execute(f"INSERT INTO {table} SELECT g, md5(g::text), g FROM "
                     f"generate_series(1, 100000) g")
        conn.execute(f"VACUUM ANALYZE {table}")
    samples: dict[int, list[tuple[float, int]]] = {}
    names: dict[int, str] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="fb-soak-") as tmp:
            Path(tmp, "test_soak.py").write_text(TEST_FILE.format(dsn=args.dsn, table=table,
                                                                  seconds=args.seconds))
            proc = subprocess.Popen([sys.executable, "-m", "pytest", "--flakebench", "-q", "-n",
                                     "2", "-p", "no:cacheprovider",
                                     "--flakebench-json=out.json", "test_soak.py"],
                                    cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True)
            t0 = time.monotonic()
            while proc.poll() is None:
                elapsed = time.monotonic() - t0
                for pid in descendants(proc.pid):
                    kb = rss_kb(pid)
                    if kb is not None:
                        samples.setdefault(pid, []).append((round(elapsed, 1), kb))
                        names.setdefault(pid, cmdline(pid))
                print(f"{elapsed:6.0f}s  " + "  ".join(
                    f"{pid}:{s[-1][1] / 1024:.1f}MB" for pid, s in samples.items()
                    if s[-1][0] == round(elapsed, 1)), flush=True)
                deadline = t0 + (int(elapsed / args.every) + 1) * args.every
                while proc.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.2)
            output = proc.stdout.read() if proc.stdout else ""
            run = None
            out_json = Path(tmp, "out.json")
            if out_json.exists():
                (run,) = json.loads(out_json.read_text())["runs"]
    finally:
        with psycopg.connect(args.dsn, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
    if proc.returncode != 0 or run is None:
        print(output[-3000:])
        return 1
    print()
    print(f"run: {args.seconds:g} s, {run['overall']['ops']:,} operations, "
          f"{run['overall']['qps']:,.0f} qps, errors {run['overall']['errors']}; RSS every "
          f"{args.every:g} s, growth from the first sample after {args.settle:g} s to the last")
    load_end = [round(x, 2) for x in os.getloadavg()]
    print(f"load average: {load_start} at start, {load_end} at end")
    report = []
    for pid, series in samples.items():
        settled = [kb for t, kb in series if args.settle <= t <= args.seconds]
        if len(settled) < 2:
            continue  # a short-lived helper process (e.g. a shell), not part of the run
        growth_mb = (settled[-1] - settled[0]) / 1024
        peak_mb = max(kb for _, kb in series) / 1024
        report.append({"pid": pid, "process": names[pid], "rss_after_settle_mb":
                       round(settled[0] / 1024, 1), "rss_end_mb": round(settled[-1] / 1024, 1),
                       "peak_mb": round(peak_mb, 1), "growth_mb": round(growth_mb, 1),
                       "met": growth_mb <= TARGET_MB})
        print(f"  {names[pid]:<60} {settled[0] / 1024:7.1f} MB -> {settled[-1] / 1024:7.1f} MB"
              f"  growth {growth_mb:+6.1f} MB  peak {peak_mb:.1f} MB  "
              f"{'met' if growth_mb <= TARGET_MB else 'NOT met'} (<= {TARGET_MB:g} MB)")
    if args.json is not None:
        args.json.write_text(json.dumps({
            "command": " ".join(["python", "benchmarks/memory_soak.py", *(argv or sys.argv[1:])]),
            "load_average": {"start": load_start, "end": load_end},
            "qps": run["overall"]["qps"], "ops": run["overall"]["ops"], "processes": report,
            "samples": {str(pid): s for pid, s in samples.items()}}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
