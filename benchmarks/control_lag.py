"""Control-plane lag: from an event written by the controller to its application by each worker.

Runs a generated benchmark file under ``pytest --flakebench -n WORKERS`` (real xdist workers)
against a SQLite target, once with the embedded SQLite store and once with a PostgreSQL store,
then reads ``RUN_EVENT_APPLIED.LAG_MS`` for every event of every run and prints percentiles.
The baseline in the same run is the poll interval the workers use (``POLL_S``): a lag near it
means the store adds little on top of the polling itself.

    python benchmarks/control_lag.py [--workers 2] [--benchmarks 4] [--dsn DSN]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pytest_flakebench.distributed.worker import POLL_S

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


def run_pytest(folder: Path, workers: int, store: str) -> None:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--flakebench",
           "-n", str(workers), f"--flakebench-store={store}"]
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


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--benchmarks", type=int, default=4)
    parser.add_argument("--dsn", default=os.environ.get("FLAKEBENCH_TEST_PG_DSN", DEFAULT_DSN))
    args = parser.parse_args()
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="flakebench-lag-") as tmp:
        folder = Path(tmp)
        make_target(folder)
        (folder / "test_lag.py").write_text(TEST_FILE.format(benchmarks=args.benchmarks))
        run_pytest(folder, args.workers, "sqlite:///store.db")
        results["sqlite store"] = lags_sqlite(folder / "store.db")
        try:
            import psycopg

            name = f"fb_lag_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(args.dsn, autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {name}")
            url = args.dsn.rsplit("/", 1)[0] + f"/{name}"
            try:
                subprocess.run([sys.executable, "-m", "pytest_flakebench.cli.main", "store",
                                "init", url], check=True, capture_output=True)
                run_pytest(folder, args.workers, url)
                results["postgresql store"] = lags_postgres(url)
            finally:
                with psycopg.connect(args.dsn, autocommit=True) as conn:
                    conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        except Exception as exc:  # no server: report the SQLite figures alone
            console.print(f"[yellow]PostgreSQL store skipped: {exc}[/yellow]")
    table = Table(title=f"control-plane lag, {args.workers} xdist workers, "
                        f"{args.benchmarks} runs (event written -> applied)")
    for column in ("store", "events", "p50 ms", "p99 ms", "max ms", "p50 / poll interval"):
        table.add_column(column, justify="left" if column == "store" else "right")
    for store, values in results.items():
        table.add_row(store, str(len(values)), f"{pct(values, 0.5):.1f}",
                      f"{pct(values, 0.99):.1f}", f"{max(values):.1f}",
                      f"{statistics.median(values) / (POLL_S * 1000):.2f}")
    console.print(table)
    console.print(f"worker poll interval (baseline): {POLL_S * 1000:.0f} ms; "
                  f"target p99 <= 500 ms with the local store")
    return 0


if __name__ == "__main__":
    sys.exit(main())
