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

from tests.plugin.test_faults import _alive, _query, _wait_measuring
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


def _start(path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--flakebench",
         "--flakebench-json=out.json", "--junitxml=junit.xml", *args],
        cwd=path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


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
