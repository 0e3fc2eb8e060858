"""Faults during a distributed run: a worker killed, the controller interrupted, targets moved."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.inprocess import run_in_process

pytestmark = pytest.mark.postgres

BENCH = """
import pytest

@pytest.mark.flakebench(target="{dsn}", table="public.{table}",
                        mix={{"point_lookup": 90, "insert": 10}}, concurrency=4,
                        duration="{duration}", warmup="0.5s")
def test_long():
    pass
"""


def _query(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if not db.exists():
        return []
    conn = sqlite3.connect(db, timeout=30)
    try:
        return list(conn.execute(sql, params).fetchall())
    except sqlite3.OperationalError:
        return []  # tables not created yet
    finally:
        conn.close()


# Sets SIGINT's disposition, then becomes the command (same pid): a process inherits an ignored
# SIGINT from a shell's background job (``cmd &`` in a script), and these tests must not depend
# on how the suite itself was started.
_BOOT = ("import os, signal, sys; "
         "signal.signal(signal.SIGINT, signal.SIG_IGN if sys.argv[1] == 'ignored' "
         "else signal.SIG_DFL); os.execv(sys.executable, [sys.executable, *sys.argv[2:]])")


def spawn(path: Path, args: list[str], *, sigint: str = "default") -> subprocess.Popen[str]:
    """``python ARGS`` in ``path``, SIGINT ``"default"`` or ``"ignored"`` as it starts."""
    return subprocess.Popen([sys.executable, "-c", _BOOT, sigint, *args], cwd=path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _start(path: Path, *args: str) -> subprocess.Popen[str]:
    return spawn(path, ["-m", "pytest", "-p", "no:cacheprovider", "--flakebench",
                        "--flakebench-json=out.json", *args])


def _wait_measuring(db: Path, proc: subprocess.Popen[str], workers: int) -> dict[str, int]:
    """Wait until the run measures on every worker; return worker id -> pid."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        running = _query(db, "SELECT RUN_ID FROM RUN_STATUS WHERE STATUS = 'RUNNING' "
                             "AND PHASE = 'MEASUREMENT'")
        if running:
            beats = _query(db, "SELECT WORKER_ID, PID FROM WORKER_HEARTBEATS WHERE RUN_ID = ? "
                               "AND STATUS = 'RUNNING'", (running[0][0],))
            if len(beats) == workers:
                time.sleep(1.0)  # let some measurement happen
                return {str(w): int(p) for w, p in beats}
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the run never reached MEASUREMENT on every worker")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); look at its state
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("partial", ["fail", "warn"])
def test_worker_killed_mid_run_gives_a_partial_run(pytester: pytest.Pytester, pg_dsn: str,
                                                   pg_orders: str, partial: str) -> None:
    pytester.makepyfile(BENCH.format(dsn=pg_dsn, table=pg_orders, duration="6s"))
    db = pytester.path / ".flakebench" / "flakebench.db"
    proc = _start(pytester.path, "-n", "2", "--flakebench-dead-after=2",
                  f"--flakebench-partial={partial}")
    pids = _wait_measuring(db, proc, workers=2)
    (leader,) = _query(db, "SELECT LEADER FROM RUN_STATUS")[0]
    victim = next(w for w in pids if w != leader)
    os.kill(pids[victim], signal.SIGKILL)
    out, _ = proc.communicate(timeout=120)  # the session ends by itself
    assert proc.returncode == (1 if partial == "fail" else 0), out
    assert f"worker {victim}" in out
    assert "went down" in out
    assert "PARTIAL" in out
    (run,) = json.loads((pytester.path / "out.json").read_text())["runs"]
    assert run["status"] == "PARTIAL"
    assert run["verdict"] == ("FAILED" if partial == "fail" else "PASSED")
    if partial == "warn":  # passes, but never quietly
        assert "FlakebenchPartialWarning" in out
        assert "passes because --flakebench-partial=warn" in out
    survivors = [w for w in run["workers"] if w["worker_id"] == leader]
    assert survivors
    assert survivors[0]["ops"] > 0
    assert run["control"]["dead"] == [victim]
    stored = _query(db, "SELECT STATUS, TOTAL_OPS FROM TEST_RESULTS WHERE RUN_ID = ?",
                    (run["run_id"],))
    assert stored == [("PARTIAL", run["overall"]["ops"])]


def test_sigint_to_the_controller_cancels_and_stores(pytester: pytest.Pytester, pg_dsn: str,
                                                     pg_orders: str) -> None:
    pytester.makepyfile(BENCH.format(dsn=pg_dsn, table=pg_orders, duration="60s"))
    db = pytester.path / ".flakebench" / "flakebench.db"
    drain_s = 5.0
    proc = _start(pytester.path, "-n", "2", f"--flakebench-drain-timeout={drain_s}")
    pids = _wait_measuring(db, proc, workers=2)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    deadline = sent + drain_s + 20
    while any(_alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    workers_gone = time.monotonic() - sent
    out, _ = proc.communicate(timeout=60)
    assert not any(_alive(pid) for pid in pids.values()), out
    assert workers_gone < drain_s + 20, out
    (status,) = _query(db, "SELECT STATUS, CANCELLATION_REASON FROM RUN_STATUS")
    assert status[0] == "CANCELLED", out
    assert "interrupted" in status[1]
    (stored,) = _query(db, "SELECT STATUS, TOTAL_OPS, MEASUREMENT_S FROM TEST_RESULTS "
                           "WHERE PARENT_RUN_ID IS NULL")
    assert stored[0] == "CANCELLED"
    assert stored[1] > 0  # what was measured before the interrupt is kept
    assert 0.5 < stored[2] < 30



def _wait_for_lookups(dsn: str, table: str, timeout_s: float = 30.0) -> None:
    """Return once a session on the server has run the benchmark's point lookup on ``table``
    (the tag and the table's unique name: other tests share the server)."""
    import psycopg

    deadline = time.monotonic() + timeout_s
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s "
                               "AND query LIKE %s AND pid <> pg_backend_pid()",
                               ("%flakebench:point_lookup%", f"%{table}%")).fetchone()
            if row and row[0] > 0:
                return
            time.sleep(0.05)
    raise AssertionError(f"no point lookup on {table} within {timeout_s} s")


def test_set_worker_target_parks_and_wakes_connections(tmp_path: Path, pg_dsn: str,
                                                      pg_orders: str) -> None:
    from pytest_flakebench.distributed.coordinator import Coordinator

    def retarget(coordinator: Coordinator) -> None:
        # from the load's start, not the run's: connecting and profiling the table took over
        # 1.5 s on a busy machine, and the first snapshot then already showed the new target
        _wait_for_lookups(pg_dsn, pg_orders)
        time.sleep(1.5)
        coordinator.set_worker_target("main", 1)
        time.sleep(1.0)
        coordinator.set_worker_target("main", 3)

    # the controller's copy of the result carries the per-second snapshots
    result = run_in_process(tmp_path, {
        "target": pg_dsn, "table": f"public.{pg_orders}", "mix": {"point_lookup": 100},
        "concurrency": 4, "duration": "3s", "warmup": "0s",
    }, retarget)
    actives = [s.active_connections for s in result.snapshots]
    assert actives[0] == 4
    assert 1 in actives
    assert actives[-1] == 3
    low = [s for s in result.snapshots if s.active_connections == 1]
    # the interval is cut the moment the target changes: operations already in flight on the
    # parked connections end in the first low interval, after that only one connection works
    assert all(s.in_flight <= 1 for s in low[1:])
    assert result.control["lag_ms"]["count"] >= 4  # 2 targets + START + SET_PHASE… applied
