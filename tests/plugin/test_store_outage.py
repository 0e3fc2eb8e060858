"""Nothing measured is lost when the results store (and so the control plane) blips or goes
away mid-run. The store is a PostgreSQL database on the tests' own cluster (``owned_pg_ctl``),
restarted or stopped under a real ``pytest --flakebench`` session; the target is a SQLite
file, so only the store is hurt."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.pgcluster import PgCluster
from tests.pgstore import init_store
from tests.plugin.test_sqlite_benchmarks import make_orders_db

pytestmark = [pytest.mark.postgres,
              pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")]

BENCH = """
import pytest

@pytest.mark.flakebench(target="sqlite:///demo.db", table="orders",
                        mix={{"point_lookup": 100}}, concurrency=2,
                        duration="{duration}", warmup="0.5s", slo={{"min_qps": 10}})
def test_blip():
    pass
"""


def _store(cluster: PgCluster) -> str:
    """A fresh, initialised store database on the cluster."""
    url = cluster.dsn(f"fb_store_{uuid.uuid4().hex[:8]}")
    init_store(url)
    return url


def _rows(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=2) as conn:
            return list(conn.execute(sql, params).fetchall())
    except psycopg.Error:
        return []


def _start(path: Path, url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--flakebench",
         f"--flakebench-store={url}", "--flakebench-json=out.json", "-rA", *args],
        cwd=path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")})


def _wait_measuring(url: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stdout.read() if proc.stdout else "exited")
        if _rows(url, "SELECT 1 FROM flakebench.RUN_STATUS WHERE STATUS = 'RUNNING' "
                      "AND PHASE = 'MEASUREMENT'"):
            time.sleep(0.5)  # some measurement before the blip
            return
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the run never reached MEASUREMENT")


@pytest.fixture
def project(pytester: pytest.Pytester) -> Path:
    make_orders_db(pytester.path / "demo.db", rows=2000)
    pytester.makepyfile(BENCH.format(duration="3s"))
    return pytester.path


@pytest.mark.parametrize("workers", ["0", "2"])
def test_store_restarted_mid_run_keeps_the_whole_run(project: Path, owned_pg_ctl: PgCluster,
                                                     workers: str) -> None:
    url = _store(owned_pg_ctl)
    proc = _start(project, url, "-n", workers)
    _wait_measuring(url, proc)
    owned_pg_ctl.restart(down_s=1.0)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "spooled" not in out, out
    assert "INTERNALERROR" not in out
    (run,) = json.loads((project / "out.json").read_text())["runs"]
    assert run["status"] == "COMPLETED", out
    assert run["verdict"] == "PASSED", out
    # all of it: the full measurement window, every worker's share
    assert run["measurement_s"] >= 2.9
    assert len(run["workers"]) == max(1, int(workers))
    assert all(w["ops"] > 0 for w in run["workers"])
    assert run["control"]["store_outage_s"] > 0.5  # the blip is reported, not hidden
    stored = _rows(url, "SELECT STATUS, TOTAL_OPS FROM flakebench.TEST_RESULTS "
                        "WHERE PARENT_RUN_ID IS NULL")
    assert stored == [("COMPLETED", run["overall"]["ops"])]
    assert _rows(url, "SELECT STATUS FROM flakebench.RUN_STATUS") == [("COMPLETED",)]


@pytest.mark.parametrize("workers", ["2"])  # -n 0 takes the same path in one process
def test_store_gone_for_the_rest_of_the_run_is_spooled_then_uploaded(
        project: Path, owned_pg_ctl: PgCluster, workers: str) -> None:
    url = _store(owned_pg_ctl)
    secret = f"pw-{uuid.uuid4().hex[:12]}"  # trust auth accepts it; it must never be written
    with_password = url.replace("postgres@", f"postgres:{secret}@")
    proc = _start(project, with_password, "-n", workers, "--flakebench-store-outage=2")
    _wait_measuring(url, proc)
    owned_pg_ctl.stop()
    try:
        out, _ = proc.communicate(timeout=120)
    finally:
        owned_pg_ctl.start()
    assert "INTERNALERROR" not in out
    assert proc.returncode == 0, out  # the run's own verdict: it passed
    assert "(no load was sent)" not in out
    (run,) = json.loads((project / "out.json").read_text())["runs"]
    assert run["verdict"] == "PASSED", out
    assert run["overall"]["ops"] > 0
    spooled = list((project / ".flakebench" / "spool").glob("*.json"))
    assert len(spooled) == 1
    line = f"spooled to {spooled[0]}"
    assert line in out.replace("\n", "")  # wrapped or not, one line says it
    assert "flakebench upload" in out
    assert "stored in" not in out
    assert stat.S_IMODE(spooled[0].stat().st_mode) == 0o600
    body = spooled[0].read_text()
    assert json.loads(body)["destination"] == {"url": url, "secret_removed": True}
    assert secret not in body
    assert secret not in out
    # upload: to the recorded destination by default, once
    upload = [sys.executable, "-m", "pytest_flakebench.cli.main", "upload"]
    done = subprocess.run(upload, cwd=project, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"to {url}" in done.stdout.replace("\n", "")  # where it was going, no password
    again = subprocess.run(upload, cwd=project, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stdout + again.stderr
    stored = _rows(url, "SELECT RUN_ID, TOTAL_OPS FROM flakebench.TEST_RESULTS "
                        "WHERE PARENT_RUN_ID IS NULL")
    assert stored == [(run["run_id"], run["overall"]["ops"])]
    assert not (project / ".flakebench" / "flakebench.db").exists()  # never a silent SQLite
