"""Control-plane lag: from an event written by the controller to its application by each worker.

Runs a generated benchmark file under ``pytest --flakebench -n WORKERS`` (real xdist workers)
against a SQLite target, once with the embedded SQLite store and once with a PostgreSQL store,
then reads ``RUN_EVENT_APPLIED.LAG_MS`` for every event of every run and prints percentiles.
The baseline in the same run is the poll interval the workers use (``POLL_S``): a lag near it
means the store adds little on top of the polling itself.

    python benchmarks/control_lag.py [--workers 2] [--benchmarks 4] [--dsn DSN]
                                     [--snowflake-store]

``--snowflake-store`` adds a third case: the results store on a local fakesnow server (real
connector), where the control plane defaults to a private SQLite file; its lags are read from
each run's ``control.lag_ms`` in the JSON (per-run p99 and max; the file is gone by then).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pytest_flakebench.distributed.follower import POLL_S

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.pgstore import throwaway_store

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
console = Console()

TEST_FILE = """
import pytest

@pytest.mark.flakebench(target="sqlite:///target.db", table="kv", mix={{"point_lookup": 100}},
                        concurrency=2, duration="2s", warmup="0.5s")
@pytest.mark.parametrize("n", range({benchmarks}))
def test_lag(n):
    pass
"""


def make_target(folder: Path) -> None:
    conn = sqlite3.connect(folder / "target.db")
    conn.execute("CREATE TABLE kv (id INTEGER PRIMARY KEY, v TEXT)")
    conn.executemany("INSERT INTO kv VALUES (?, ?)", [(i, "x") for i in range(1, 10_001)])
    conn.commit()
    conn.close()


def run_pytest(folder: Path, workers: int, store: str, *extra: str) -> None:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--flakebench",
           "-n", str(workers), f"--flakebench-store={store}", *extra]
    done = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        console.print(done.stdout[-3000:])
        raise SystemExit(f"pytest failed with exit code {done.returncode}")


def lags_sqlite(db: Path) -> list[float]:
    conn = sqlite3.connect(db)
    try:
        return [float(r[0]) for r in conn.execute("SELECT LAG_MS FROM RUN_EVENT_APPLIED")]
    finally:
        conn.close()


def lags_postgres(url: str) -> list[float]:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT lag_ms FROM flakebench.run_event_applied").fetchall()
    return [float(r[0]) for r in rows]


def run_snowflake_store(folder: Path, workers: int) -> list[dict[str, float]]:
    """The runs' ``control.lag_ms`` with a Snowflake store served by a local fakesnow."""
    import json
    import signal
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-c", "import sys; from fakesnow.cli import main; sys.exit(main())",
         "-s", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        url = (f"snowflake://fake:snow@fakesnow/LAGDB/RESULTS?host=127.0.0.1&port={port}"
               "&protocol=http")
        subprocess.run([sys.executable, "-m", "pytest_flakebench.cli.main", "store", "init",
                        url, "--no-hybrid"], check=True, capture_output=True)
        run_pytest(folder, workers, url, "--flakebench-json=lag.json")
        runs = json.loads((folder / "lag.json").read_text())["runs"]
        return [r["control"]["lag_ms"] for r in runs]
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=10)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--benchmarks", type=int, default=4)
    parser.add_argument("--dsn", default=os.environ.get("FLAKEBENCH_TEST_PG_DSN", DEFAULT_DSN))
    parser.add_argument("--snowflake-store", action="store_true",
                        help="also run with a Snowflake store on a local fakesnow server")
    args = parser.parse_args()
    snowflake_runs: list[dict[str, float]] = []
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="flakebench-lag-") as tmp:
        folder = Path(tmp)
        make_target(folder)
        (folder / "test_lag.py").write_text(TEST_FILE.format(benchmarks=args.benchmarks))
        run_pytest(folder, args.workers, "sqlite:///store.db")
        results["sqlite store"] = lags_sqlite(folder / "store.db")
        try:
            with throwaway_store(args.dsn, "fb_lag") as url:
                run_pytest(folder, args.workers, url)
                results["postgresql store"] = lags_postgres(url)
        except Exception as exc:  # no server: report the SQLite figures alone
            console.print(f"[yellow]PostgreSQL store skipped: {exc}[/yellow]")
        if args.snowflake_store:
            snowflake_runs = run_snowflake_store(folder, args.workers)
    table = Table(title=f"control-plane lag, {args.workers} xdist workers, "
                        f"{args.benchmarks} runs (event written -> applied)")
    for column in ("store", "events", "p50 ms", "p99 ms", "max ms", "p50 / poll interval"):
        table.add_column(column, justify="left" if column == "store" else "right")
    for store, values in results.items():
        table.add_row(store, str(len(values)), f"{pct(values, 0.5):.1f}",
                      f"{pct(values, 0.99):.1f}", f"{max(values):.1f}",
                      f"{statistics.median(values) / (POLL_S * 1000):.2f}")
    console.print(table)
    if snowflake_runs:
        worst = max(r["p99_ms"] for r in snowflake_runs)
        events = sum(int(r["count"]) for r in snowflake_runs)
        p50 = statistics.median(r["p50_ms"] for r in snowflake_runs)
        console.print(f"snowflake store (fakesnow), control plane a private SQLite file: "
                      f"{len(snowflake_runs)} runs, {events} events; per-run p50 {p50:.1f} ms, "
                      f"worst per-run p99 {worst:.1f} ms (target <= 50 ms)")
    console.print(f"worker poll interval (baseline): {POLL_S * 1000:.0f} ms; "
                  f"target p99 <= 500 ms with the local store")
    return 0


if __name__ == "__main__":
    sys.exit(main())
