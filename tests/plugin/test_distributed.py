"""``pytest --flakebench -n 2``: one run on every worker, one report, exact merged percentiles."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pytest_flakebench.histogram import LatencyHistogram

pytestmark = pytest.mark.postgres

BENCH = """
import pytest

@pytest.mark.flakebench(
    target="{dsn}", table="public.{table}",
    mix={{"point_lookup": 80, "insert": 20}},
    concurrency=4, duration="{duration}", warmup="0.5s",
    slo={{"p99": "5s", "error_rate": "1%"}},
)
def test_orders(flakebench_result):
    assert flakebench_result.kinds["insert"].errors == 0

@pytest.mark.parametrize("n", range(4))
def test_ordinary(n):
    assert n < 4
"""


def store_rows(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path / ".flakebench" / "flakebench.db")
    try:
        return list(conn.execute(sql, params).fetchall())
    finally:
        conn.close()


def run_file(pytester: pytest.Pytester, dsn: str, table: str, *args: str,
             duration: str = "2s") -> tuple[pytest.RunResult, dict[str, Any]]:
    pytester.makepyfile(test_bench=BENCH.format(dsn=dsn, table=table, duration=duration))
    result = pytester.runpytest_subprocess("--flakebench", "--flakebench-json=out.json",
                                           "--junitxml=junit.xml", "-v", *args)
    (run,) = json.loads((pytester.path / "out.json").read_text())["runs"]
    return result, run


def test_n2_runs_once_on_both_workers_and_merges_exactly(pytester: pytest.Pytester, pg_dsn: str,
                                                        pg_orders: str) -> None:
    result, run = run_file(pytester, pg_dsn, pg_orders, "-n", "2")
    result.assert_outcomes(passed=5)
    # one report line and one JUnit testcase for the benchmark, not one per worker
    verdict_lines = [line for line in result.outlines
                     if line.startswith("[gw") and "test_orders" in line]
    assert len(verdict_lines) == 1, verdict_lines
    junit = (pytester.path / "junit.xml").read_text()
    assert junit.count('name="test_orders"') == 1
    assert sorted(w["worker_id"] for w in run["workers"]) == ["gw0", "gw1"]
    assert all(w["ops"] > 0 for w in run["workers"])
    assert run["control"]["split"] == {"gw0": 2, "gw1": 2}
    # the merged percentiles are those of the union of the workers' histograms
    union = LatencyHistogram()
    for worker in run["workers"]:
        union.add_encoded(worker["histogram"])
    assert union.count == run["overall"]["ops"]
    for name, pct in (("p50_us", 50.0), ("p95_us", 95.0), ("p99_us", 99.0)):
        assert run["overall"][name] == union.percentile_us(pct)
    # both workers' rows are stored, and the control tables show the whole lifecycle
    run_id = run["run_id"]
    children = store_rows(pytester.path, "SELECT WORKER_ID, TOTAL_OPS FROM TEST_RESULTS WHERE "
                                         "PARENT_RUN_ID = ? ORDER BY WORKER_ID", (run_id,))
    assert [c[0] for c in children] == ["gw0", "gw1"]
    assert all(c[1] > 0 for c in children)
    (status,) = store_rows(pytester.path, "SELECT STATUS, PHASE, LEADER, START_TIME, WARMUP_END, "
                                          "END_TIME FROM RUN_STATUS WHERE RUN_ID = ?", (run_id,))
    assert status[0] == "COMPLETED"
    assert status[1] == "COOLDOWN"
    assert status[2] in ("gw0", "gw1")
    assert status[3] < status[4] < status[5]
    events = store_rows(pytester.path, "SELECT EVENT_TYPE, TARGET_WORKER FROM RUN_CONTROL_EVENTS "
                                       "WHERE RUN_ID = ? ORDER BY SEQUENCE_ID", (run_id,))
    assert [e[0] for e in events] == ["SET_WORKER_TARGET", "SET_WORKER_TARGET", "START",
                                      "SET_PHASE", "SET_PHASE", "STOP"]
    applied = store_rows(pytester.path, "SELECT WORKER_ID, count(*) FROM RUN_EVENT_APPLIED "
                                        "WHERE RUN_ID = ? GROUP BY WORKER_ID", (run_id,))
    assert dict(applied) == {"gw0": 5, "gw1": 5}  # own target + START + 2 SET_PHASE + STOP
    beats = store_rows(pytester.path, "SELECT WORKER_ID, STATUS FROM WORKER_HEARTBEATS WHERE "
                                      "RUN_ID = ? ORDER BY WORKER_ID", (run_id,))
    assert beats == [("gw0", "DONE"), ("gw1", "DONE")]
    assert run["control"]["lag_ms"]["count"] == 10


# Keys whose contents depend on what happened (which errors, how many lags, which workers,
# which wait events were sampled).
_FREE_FORM = ("split", "histogram", "error_classes", "lag_ms", "dead", "waits")


def shape(value: Any) -> Any:
    """The structure of a JSON value: dict keys and element shapes, without the values."""
    if isinstance(value, dict):
        return {k: _keyed_by_worker(v) if k == "workers" and isinstance(v, dict)
                else shape(v) if k not in _FREE_FORM else type(v).__name__
                for k, v in value.items()}
    if isinstance(value, list):
        # lists of records (runs, kinds, slo, workers, snapshots) by their first element;
        # lists of strings (messages, samples) only as lists
        return [shape(value[0])] if value and isinstance(value[0], dict) else "list"
    return "number" if isinstance(value, int | float) and not isinstance(value, bool) else \
        type(value).__name__


def _keyed_by_worker(value: dict[str, Any]) -> Any:
    """Per-worker records keyed by worker id (``main`` or ``gw0``…): the shape of one."""
    return {"<worker>": shape(next(iter(value.values())))} if value else {}


def test_n0_and_n2_give_the_same_shape(pytester: pytest.Pytester, pg_dsn: str,
                                       pg_orders: str) -> None:
    single, run0 = run_file(pytester, pg_dsn, pg_orders, "-p", "no:xdist", duration="1s")
    single.assert_outcomes(passed=5)
    double, run2 = run_file(pytester, pg_dsn, pg_orders, "-n", "2", duration="1s")
    double.assert_outcomes(passed=5)
    assert shape(run0) == shape(run2)
    for result in (single, double):
        result.stdout.fnmatch_lines(["*flakebench results*", "*concurrency*PASSED*"])
    rows = store_rows(pytester.path, "SELECT PARENT_RUN_ID, count(*) FROM TEST_RESULTS WHERE "
                                     "PARENT_RUN_ID IS NOT NULL GROUP BY PARENT_RUN_ID")
    assert dict(rows) == {run0["run_id"]: 1, run2["run_id"]: 2}


def test_workers_mode_fixed_needing_more_workers_fails_clearly(pytester: pytest.Pytester,
                                                               pg_dsn: str,
                                                               pg_orders: str) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.flakebench(target="{pg_dsn}", table="public.{pg_orders}",
                                mix={{"point_lookup": 100}}, duration="1s", warmup="0s",
                                workers={{"mode": "fixed", "min_workers": 3,
                                          "min_connections": 1}})
        def test_fixed():
            pass
        """
    )
    result = pytester.runpytest_subprocess("--flakebench", "-n", "2")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*workers mode 'fixed' needs 3 workers but 2 are available*"])
