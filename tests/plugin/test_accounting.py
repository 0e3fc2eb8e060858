"""Issue 9: every operation counted once, in the right phase, window and kind.

The benchmarks here run a Python operation that notes the wall-clock time of each call, so the
phase of every operation is known outside the engine and can be checked against the snapshots.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.postgres

CONNS = 4

BODY = '''
import json, os, time
import pytest

CALLS = []

def op(conn, params):
    CALLS.append(time.time())  # list.append is atomic: no lock needed across threads
    conn.execute("SELECT 1")
    time.sleep(0.0005)  # ~4 x 2,000 calls/s: enough operations, little CPU
    if params.rng.random() < 1 / 13:
        time.sleep(0.02)  # failed operations are slow here: their own histogram shows it
        raise RuntimeError("one call in 13 fails")

def run_and_dump(flakebench, name):
    flakebench.operation("op")(op)
    CALLS.clear()
    flakebench.run()
    me = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(f"calls-{{name}}-{{me}}.json", "w") as f:
        json.dump(CALLS, f)

FIELDS = dict(mix={{"op": 100}}, python={{"op": "read"}}, concurrency={conns}, duration="5s",
              warmup="0.5s", slo={{"error_rate": "20%"}})

@pytest.mark.flakebench(target="sqlite:///acc.db", table="t", **FIELDS)
def test_sqlite(flakebench):
    run_and_dump(flakebench, "sqlite")

@pytest.mark.flakebench(target="{pg}", table="public.{table}", **FIELDS)
def test_pg(flakebench):
    run_and_dump(flakebench, "pg")
'''


def _check_run(run: dict[str, Any], calls_by_worker: dict[str, list[float]]) -> None:
    snaps = run["snapshots"]
    measured = [s for s in snaps if s["phase"] == "MEASUREMENT"]
    # merged: the MEASUREMENT samples sum exactly to the run's measured ops and errors
    assert sum(s["ops"] for s in measured) == run["overall"]["ops"] > 0
    assert sum(s["errors"] for s in measured) == run["overall"]["errors"] > 0
    assert {s["phase"] for s in snaps} <= {"WARMUP", "MEASUREMENT"}
    # failed operations keep their own latencies, apart from the successes'
    for stats in (run["overall"], run["kinds"]["op"]):
        assert 20_000 <= stats["error_p99_us"] <= stats["error_max_us"], stats
        assert stats["p50_us"] < 20_000
    assert abs(run["measurement_s"] - 5.0) < 0.01, run["measurement_s"]
    for worker in run["workers"]:
        w = worker["worker_id"]
        mine = [s for s in measured if s["worker_id"] == w]
        # per worker: exact sums, and a 5 s window has 5 one-second samples
        assert sum(s["ops"] for s in mine) == worker["ops"]
        assert sum(s["errors"] for s in mine) == worker["errors"]
        assert len(mine) == 5, [(s["elapsed_s"], s["span_s"]) for s in mine]
        assert abs(sum(s["span_s"] for s in mine) - 5.0) < 0.01
        assert worker["measurement_s"] == run["measurement_s"]  # one window per run
        # Outside the engine: the op's own timestamps put each call in its phase. The op reads
        # the clock a little after the engine's start instant (microseconds; more when a loaded
        # machine deschedules the thread in between), so a call that began that close to a
        # boundary may fall on the other side: at most one per connection and boundary.
        calls = sorted(calls_by_worker[w])
        slack = worker["connections"]
        m0 = mine[0]["ts"] - mine[0]["span_s"]
        m1 = mine[-1]["ts"]
        inside = sum(1 for t in calls if m0 <= t < m1)
        before = sum(1 for t in calls if t < m0)
        assert abs(inside - (worker["ops"] + worker["errors"])) <= 2 * slack, (inside, worker)
        warm = sum(k["warmup_ops"] + k["warmup_errors"] for k in run["kinds"].values())
        if len(run["workers"]) == 1:
            assert abs(before - warm) <= slack, (before, warm)
        # each MEASUREMENT sample holds the calls of its own interval, not of warmup (the old
        # first sample held a whole warmup); operations in flight at a tick land in the next
        for s in mine:
            n = sum(1 for t in calls if s["ts"] - s["span_s"] <= t < s["ts"])
            assert abs(n - (s["ops"] + s["errors"])) <= 2 * slack, (s, n)


@pytest.mark.parametrize("workers", [0, 2])
def test_measurement_snapshots_sum_exactly_and_never_mix_phases(
        pytester: pytest.Pytester, pg_dsn: str, pg_orders: str, workers: int,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # the run's own workers name the call files: not an xdist worker running this suite
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    with sqlite3.connect(pytester.path / "acc.db") as db:
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        db.executemany("INSERT INTO t VALUES (?, 'x')", [(i,) for i in range(1, 101)])
    pytester.makepyfile(BODY.format(conns=CONNS, pg=pg_dsn, table=pg_orders))
    args = ["-n", "2"] if workers else ["-p", "no:xdist"]
    result = pytester.runpytest_subprocess("--flakebench", "--flakebench-json=out.json",
                                           "--flakebench-store=none", *args)
    result.assert_outcomes(passed=2)
    runs = json.loads((pytester.path / "out.json").read_text())["runs"]
    assert len(runs) == 2
    for run in runs:
        name = "sqlite" if run["test"].endswith("test_sqlite") else "pg"
        calls = {p.stem.rsplit("-", 1)[1]: json.loads(p.read_text())
                 for p in pytester.path.glob(f"calls-{name}-*.json")}
        assert sorted(calls) == sorted(w["worker_id"] for w in run["workers"])
        _check_run(run, calls)


def test_200_connections_open_before_a_short_warmup(tmp_path: Path, owned_pg: Any) -> None:
    """Connection set-up is not part of any window: warmup 0.1 s with 200 connections."""
    import psycopg

    from tests.inprocess import run_in_process

    dsn = owned_pg.dsn("postgres")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS acc200")
        conn.execute("CREATE TABLE acc200 (id int PRIMARY KEY, v text)")
        conn.execute("INSERT INTO acc200 SELECT g, 'x' FROM generate_series(1, 1000) g")
    result = run_in_process(tmp_path, {
        "target": dsn, "table": "public.acc200", "mix": {"point_lookup": 100},
        "concurrency": 200, "duration": "2s", "warmup": "0.1s"})
    assert result.status == "COMPLETED"
    assert result.overall.ops > 0
    assert abs(result.measurement_s - 2.0) / 2.0 < 0.02, result.measurement_s
    assert result.workers[0].measurement_s == result.measurement_s
    assert result.overall.qps == pytest.approx(result.overall.ops / result.measurement_s)


def test_find_max_step_qps_is_its_ops_over_its_seconds(pytester: pytest.Pytester, pg_dsn: str,
                                                       pg_orders: str) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.flakebench(target="{pg_dsn}", table="public.{pg_orders}",
                                mix={{"point_lookup": 100}}, mode="find_max", warmup="0.3s",
                                find_max={{"start": 2, "step": 2, "step_duration": "1.2s",
                                           "ceiling": 6, "budget": "5s",
                                           "min_qps_growth": 0.0, "max_latency_rise": 0.99}})
        def test_find_max():
            pass
        """
    )
    result = pytester.runpytest_subprocess("--flakebench", "--flakebench-json=out.json",
                                           "--flakebench-store=none", "-n", "2")
    result.assert_outcomes(passed=1)
    (run,) = json.loads((pytester.path / "out.json").read_text())["runs"]
    assert len(run["steps"]) >= 2
    for step in run["steps"]:
        # recomputed from the samples the workers stamped with the step, per worker
        inside = [s for s in run["snapshots"]
                  if s["phase"] == "MEASUREMENT" and s["step"] == step["step"]]
        # each lies inside the step's wall-clock span (the worker cut at both of its ends)
        assert all(s["ts"] - s["span_s"] >= step["started_at"] - 0.005
                   and s["ts"] <= step["ended_at"] for s in inside), step
        ops = sum(s["ops"] for s in inside)
        spans: dict[str, float] = {}
        for s in inside:
            spans[s["worker_id"]] = spans.get(s["worker_id"], 0.0) + s["span_s"]
        seconds = sum(spans.values()) / len(spans)
        assert ops == step["ops"] > 0
        assert abs(step["qps"] - ops / seconds) <= 0.005 * step["qps"], (step, ops, seconds)
        # whole samples cover the step: no leftover sliver judged alone, no second left out
        assert 1.1 <= seconds <= 1.2 + 0.3, step
        assert set(spans) == {w["worker_id"] for w in run["workers"]}


def test_connections_that_cannot_open_in_time_name_the_worker(pg_dsn: str) -> None:
    """Each connection takes 3 s to open (post_auth_delay, this session only): the worker's
    engine gives up at its connect timeout, names itself and sends nothing."""
    from pytest_flakebench.drivers import open_driver
    from pytest_flakebench.engine.runner import Engine, EngineConfig
    from pytest_flakebench.errors import TargetError
    from pytest_flakebench.workload.plans import KindPlan

    slow = pg_dsn + ("&" if "?" in pg_dsn else "?") + "options=-c%20post_auth_delay%3D3"
    driver = open_driver(slow)
    try:
        config = EngineConfig(plans=[KindPlan("ping", "read", "SELECT 1", lambda ctx: ())],
                              schedule=[0], connections=3, warmup_s=0.0, duration_s=1.0,
                              worker_id="gw7", connect_timeout_s=1.0)
        engine = Engine(config, driver)
        with pytest.raises(TargetError, match=r"worker gw7: opened 0 of 3 connection\(s\) "
                                              r"within 1s"):
            engine.open()
        assert engine.config.connections == 3
        assert not any(r.cells != [None, None] for r in engine.recorders)  # nothing sent
    finally:
        driver.close()
