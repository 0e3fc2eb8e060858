"""How fast each results store takes 100k rows in one ``save_run`` (one transaction).

    python benchmarks/store_bulk.py [--rows 100000] [--table snapshots|queries] [--pg URL]

SQLite: a temporary file (``executemany``). PostgreSQL: a throwaway database created next
to the given one and dropped after (pipelined ``executemany``). Snowflake: a ``fakesnow -s``
server started here, real connector over HTTP (one bound JSON array per table, flattened server
side). Prints rows/s, seconds and the ratio to SQLite; an unreachable store is skipped.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_flakebench.judge.results import QueryRecord, RunResult
from pytest_flakebench.stores import open_store
from tests.integration.factories import make_run
from tests.pgstore import throwaway_database


def big_run(rows: int, table: str = "snapshots") -> RunResult:
    """A run with ``rows`` snapshot rows, or ``rows`` sampled QUERY_EXECUTIONS records."""
    run = make_run(snapshots_per_worker=1)
    if table == "queries":
        queries = tuple(QueryRecord(worker_id="gw0", seq=i, kind="point_lookup",
                                    phase="MEASUREMENT", started_at=1.8e9 + i / 1000,
                                    latency_us=100 + i % 900, ok=i % 50 != 0,
                                    error_code=None if i % 50 else "40001")
                        for i in range(rows))
        return dataclasses.replace(run, queries=queries)
    base = run.snapshots[0]
    snaps = tuple(dataclasses.replace(base, seq=i, ts=base.ts + i) for i in range(rows))
    return dataclasses.replace(run, snapshots=snaps)


def timed_save(url: str, run: RunResult) -> float:
    """Seconds ``save_run`` takes on a freshly initialised store (fakesnow: --no-hybrid)."""
    store = open_store(url)
    try:
        init = getattr(store, "init_schema")  # noqa: B009
        init(hybrid=False) if url.startswith("snowflake") else init()
        t0 = time.perf_counter()
        store.save_run(run)
        elapsed = time.perf_counter() - t0
        assert store.get_run(run.run_id) is not None
        return elapsed
    finally:
        store.close()


def fakesnow() -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from fakesnow.cli import main; "
                             "sys.exit(main())", "-s", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    import snowflake.connector

    conn = snowflake.connector.connect(user="fake", password="snow", account="fakesnow",
                                       host="127.0.0.1", port=port, protocol="http")
    conn.cursor().execute("CREATE DATABASE IF NOT EXISTS BULK")
    conn.close()
    return proc, port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--table", choices=("snapshots", "queries"), default="snapshots",
                        help="which rows to bulk load: WORKER_METRICS_SNAPSHOTS or "
                             "QUERY_EXECUTIONS (default snapshots)")
    args = parser.parse_args()
    results: list[tuple[str, float | str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite:///{tmp}/bulk.db"
        results.append(("sqlite", timed_save(sqlite_url, big_run(args.rows, args.table))))
    try:

        with throwaway_database(args.pg, "fb_bulk") as url:
            results.append(("postgresql", timed_save(url, big_run(args.rows, args.table))))
    except Exception as exc:
        results.append(("postgresql", f"skipped: {str(exc).splitlines()[0]}"))
    try:
        proc, port = fakesnow()
    except Exception as exc:
        results.append(("snowflake (fakesnow)", f"skipped: {exc}"))
    else:
        try:
            url = (f"snowflake://fake:snow@fakesnow/BULK/FLAKEBENCH?host=127.0.0.1&port={port}"
                   "&protocol=http")
            run = big_run(args.rows, args.table)
            results.append(("snowflake (fakesnow)", timed_save(url, run)))
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait()
    base = results[0][1]
    what = "snapshot" if args.table == "snapshots" else "QUERY_EXECUTIONS"
    print(f"save_run of one run with {args.rows:,} {what} rows (one transaction)")
    print(f"{'store':<22} {'seconds':>9} {'rows/s':>12} {'vs sqlite':>10}")
    for name, value in results:
        if isinstance(value, str):
            print(f"{name:<22} {value}")
            continue
        ratio = f"{value / base:.1f}x" if isinstance(base, float) else "-"
        print(f"{name:<22} {value:>9.2f} {args.rows / value:>12,.0f} {ratio:>10}")


if __name__ == "__main__":
    main()
