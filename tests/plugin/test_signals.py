"""Signals and crashes of the controlling process: SIGTERM cancels like Ctrl-C (STOP, drain,
CANCELLED stored, reports written); after a SIGKILL the next session recovers the run from the
workers' final measurements as ABANDONED."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.plugin.test_faults import _alive, _query, _wait_measuring, spawn
from tests.plugin.test_sqlite_benchmarks import make_orders_db

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

BENCH = """
import pytest

@pytest.mark.flakebench(target="sqlite:///demo.db", table="orders",
                        mix={{"point_lookup": 100}}, concurrency=2,
                        duration="{duration}", warmup="0.3s")
def test_long():
    pass
"""


def _start(path: Path, *args: str, sigint: str = "default") -> subprocess.Popen[str]:
    return spawn(path, ["-m", "pytest", "-p", "no:cacheprovider", "--flakebench",
                        "--flakebench-json=out.json", "--junitxml=junit.xml", *args],
                 sigint=sigint)


@pytest.fixture
def project(pytester: pytest.Pytester) -> Path:
    make_orders_db(pytester.path / "demo.db", rows=2000)
    pytester.makepyfile(BENCH.format(duration="60s"))
    return pytester.path


def test_sigterm_to_the_controller_cancels_stores_and_reports(project: Path) -> None:
    db = project / ".flakebench" / "flakebench.db"
    proc = _start(project, "-n", "2", "--flakebench-drain-timeout=5")
    pids = _wait_measuring(db, proc, workers=2)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0, out
    assert "INTERNALERROR" not in out
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids.values()), out  # no worker process left
    ((status, reason),) = _query(db, "SELECT STATUS, CANCELLATION_REASON FROM RUN_STATUS")
    assert status == "CANCELLED", out
    assert "SIGTERM" in reason
    ((stored, ops),) = _query(db, "SELECT STATUS, TOTAL_OPS FROM TEST_RESULTS "
                                  "WHERE PARENT_RUN_ID IS NULL")
    assert stored == "CANCELLED"
    assert ops > 0  # what was measured before the signal is kept
    (run,) = json.loads((project / "out.json").read_text())["runs"]
    assert run["status"] == "CANCELLED"
    assert run["overall"]["ops"] == ops
    assert (project / "junit.xml").exists()


def test_sigkill_of_the_controller_is_recovered_as_abandoned_by_the_next_session(
        project: Path, pytester: pytest.Pytester) -> None:
    db = project / ".flakebench" / "flakebench.db"
    # started as from a script's background job (SIGINT ignored, inherited by the workers):
    # execnet interrupts a worker whose controller is gone with SIGINT, and it must still post
    proc = _start(project, "-n", "2", "--flakebench-drain-timeout=2", sigint="ignored")
    pids = _wait_measuring(db, proc, workers=2)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    deadline = time.monotonic() + 60
    while any(_alive(p) for p in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids.values())
    ((killed, status),) = _query(db, "SELECT RUN_ID, STATUS FROM RUN_STATUS")
    assert status == "RUNNING"  # what the dead controller left
    posted = _query(db, "SELECT WORKER_ID FROM WORKER_HEARTBEATS WHERE RESULT_JSON IS NOT NULL "
                        "AND RUN_ID = ?", (killed,))
    assert len(posted) == 2  # the workers' final measurements sit in their heartbeats
    # the next session recovers runs quiet for --flakebench-recover-after (1 s here): start it
    # once the run's last sign of life is that old, or it rightly leaves the run alone
    ((last,),) = _query(db, "SELECT MAX(LAST_HEARTBEAT) FROM WORKER_HEARTBEATS WHERE RUN_ID = ?",
                        (killed,))
    ((updated,),) = _query(db, "SELECT UPDATED_AT FROM RUN_STATUS WHERE RUN_ID = ?", (killed,))
    time.sleep(max(0.0, max(float(last), float(updated)) + 1.5 - time.time()))
    # the next session (a short benchmark of its own) finds the run and says so
    pytester.makepyfile(BENCH.format(duration="0.5s"))
    nxt = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--flakebench",
         "--flakebench-recover-after=1"],
        cwd=project, capture_output=True, text=True, timeout=120)
    assert nxt.returncode == 0, nxt.stdout + nxt.stderr
    assert f"recovered run {killed[:8]}" in nxt.stdout
    assert "ABANDONED" in nxt.stdout
    assert _query(db, "SELECT STATUS FROM RUN_STATUS WHERE RUN_ID = ?", (killed,)) == \
        [("ABANDONED",)]
    ((verdict, ops, measured_s),) = _query(
        db, "SELECT VERDICT, TOTAL_OPS, MEASUREMENT_S FROM TEST_RESULTS WHERE RUN_ID = ? "
            "AND STATUS = 'ABANDONED' AND PARENT_RUN_ID IS NULL", (killed,))
    assert verdict == "FAILED"
    assert ops > 0  # both workers' measurements, merged
    assert measured_s > 0.5
    workers = _query(db, "SELECT COUNT(*) FROM TEST_RESULTS WHERE PARENT_RUN_ID = ?", (killed,))
    assert workers == [(2,)]
    # nothing left to recover; the CLI agrees
    again = subprocess.run([sys.executable, "-m", "pytest_flakebench.cli.main", "recover",
                            "--quiet-for", "0"], cwd=project, capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 0, again.stderr
    assert "no abandoned runs" in again.stdout
