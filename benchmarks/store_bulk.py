"""How fast each results store takes a run with 100k snapshot rows (``save_run``, one transaction).

    python benchmarks/store_bulk.py [--rows 100000] [--pg postgresql://postgres@127.0.0.1:5432/test]

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
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_flakebench.results import RunResult
from pytest_flakebench.stores import open_store
from tests.integration.factories import make_run


def big_run(rows: int) -> RunResult:
    """A run whose snapshot list holds ``rows`` rows (the one-second snapshot, repeated)."""
    run = make_run(snapshots_per_worker=1)
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
    args = parser.parse_args()
    results: list[tuple[str, float | str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(("sqlite", timed_save(f"sqlite:///{tmp}/bulk.db", big_run(args.rows))))
    try:
        import psycopg

        name = f"fb_bulk_{uuid.uuid4().hex[:8]}"  # a throwaway database, dropped after
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        try:
            url = urlunsplit(urlsplit(args.pg)._replace(path=f"/{name}"))
            results.append(("postgresql", timed_save(url, big_run(args.rows))))
        finally:
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name}")
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
            results.append(("snowflake (fakesnow)", timed_save(url, big_run(args.rows))))
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait()
    base = results[0][1]
    print(f"save_run of one run with {args.rows:,} snapshot rows (one transaction)")
    print(f"{'store':<22} {'seconds':>9} {'rows/s':>12} {'vs sqlite':>10}")
    for name, value in results:
        if isinstance(value, str):
            print(f"{name:<22} {value}")
            continue
        ratio = f"{value / base:.1f}x" if isinstance(base, float) else "-"
        print(f"{name:<22} {value:>9.2f} {args.rows / value:>12,.0f} {ratio:>10}")


if __name__ == "__main__":
    main()
