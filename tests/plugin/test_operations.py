"""Issue 16: an operation count instead of a duration (``operations=N``, YCSB / pgbench -t).

The run measures exactly N operations (successes and errors) over every worker and thread, ends
as soon as every worker has run its share, and treats ``duration`` as its time limit.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from pydantic import ValidationError

from pytest_flakebench.distributed.split import split_operations
from pytest_flakebench.engine.loops import _share
from pytest_flakebench.template.model import Template
from tests.conftest import pg_count
from tests.plugin.test_sqlite_benchmarks import count_rows, make_orders_db

N = 2_001  # not a multiple of the connections: the split has remainders
LIMIT_S = 60  # the time limit; each run must end long before it

BODY = '''
import pytest

FIELDS = dict(mix={{"point_lookup": 50, "insert": 50}}, concurrency=3, operations={n},
              duration="{limit}s", warmup="0.3s")

@pytest.mark.flakebench(target="sqlite:///ops.db", table="orders", **FIELDS)
def test_sqlite():
    pass

@pytest.mark.flakebench(target="{pg}", table="public.{table}", **FIELDS)
def test_pg():
    pass

@pytest.mark.flakebench(target="sqlite:///ops.db", table="orders", mix={{"point_lookup": 100}},
                        concurrency=2, operations=10**12, duration="1s", warmup="0s")
def test_time_limit():
    pass
'''


def test_split_is_exact_and_matches_one_global_split() -> None:
    split = {"gw0": 2, "gw1": 0, "gw2": 3}
    for n in (1, 4, 5, 7, 2_001):
        shares = split_operations(n, split)
        assert sum(shares.values()) == n
        assert shares["gw1"] == 0
        # each worker's engine splits its share over its connections: the same per connection
        # as one split over the run's five connections
        per_thread = [_share(shares[w], c, i) for w, c in split.items() for i in range(c)]
        assert per_thread == [_share(n, 5, i) for i in range(5)]
    assert _share(10, 2, 2) == 0  # a parked thread runs none


@pytest.mark.parametrize("mode", ["qps", "find_max"])
def test_refused_with_a_time_paced_mode(mode: str) -> None:
    fields = {"target": "sqlite:///x.db", "table": "t", "mix": {"point_lookup": 100},
              "mode": mode, "operations": 100, **({"qps": 100} if mode == "qps" else {})}
    with pytest.raises(ValidationError, match=rf"operations=100 .* mode='{mode}' paces the "
                                              r"load by time: drop operations, or use "
                                              r"mode='concurrency'"):
        Template.model_validate(fields)
    for bad in (0, 10**12 + 1):
        with pytest.raises(ValidationError, match="operations"):
            Template.model_validate({**fields, "mode": "concurrency", "qps": None,
                                     "operations": bad})


@pytest.mark.postgres
@pytest.mark.parametrize("workers", [0, 2])
def test_exactly_n_operations_then_the_run_ends(pytester: pytest.Pytester, pg_dsn: str,
                                                pg_orders: str, workers: int) -> None:
    make_orders_db(pytester.path / "ops.db", rows=2_000)
    pytester.makepyfile(BODY.format(n=N, limit=LIMIT_S, pg=pg_dsn, table=pg_orders))
    args = ["-n", "2"] if workers else ["-p", "no:xdist"]
    sqlite_before, pg_before = count_rows(pytester.path / "ops.db"), pg_count(pg_dsn, pg_orders)
    t0 = time.monotonic()
    result = pytester.runpytest_subprocess("--flakebench", "--flakebench-json=out.json",
                                           "--flakebench-store=none", *args)
    wall = time.monotonic() - t0
    result.assert_outcomes(passed=2, failed=1)
    # three runs, one of them stopped by its 1 s limit: nowhere near the 60 s limit
    assert wall < LIMIT_S / 2, wall
    runs = {r["test"].rsplit("::", 1)[1]: r for r in
            json.loads((pytester.path / "out.json").read_text())["runs"]}
    rows = {"test_sqlite": count_rows(pytester.path / "ops.db") - sqlite_before,
            "test_pg": pg_count(pg_dsn, pg_orders) - pg_before}
    for name in ("test_sqlite", "test_pg"):
        run = runs[name]
        assert run["verdict"] == "PASSED", run["messages"]
        overall = run["overall"]
        assert overall["ops"] + overall["errors"] == N, overall  # exactly N, over every worker
        assert sum(s["ops"] + s["errors"] for s in run["snapshots"]
                   if s["phase"] == "MEASUREMENT") == N
        assert sum(k["ops"] + k["errors"] for k in run["kinds"].values()) == N
        assert run["measurement_s"] < LIMIT_S / 4, run["measurement_s"]
        insert = run["kinds"]["insert"]
        # every successful insert, warmup or measured, is one new row
        assert rows[name] == insert["ops"] + insert["warmup_ops"], (name, insert)
        if workers:
            assert sum(1 for w in run["workers"] if w["connections"] > 0) == 2
            assert sum(w["ops"] + w["errors"] for w in run["workers"]) == N
    limited = runs["test_time_limit"]
    assert limited["verdict"] == "FAILED"
    ran = limited["overall"]["ops"] + limited["overall"]["errors"]
    assert 0 < ran < 10**12
    assert any(m.startswith(f"OPERATIONS_NOT_REACHED: {ran:,} of operations=1,000,000,000,000 "
                            f"ran within the time limit duration=1s") for m in limited["messages"])
    result.stdout.fnmatch_lines(["*OPERATIONS_NOT_REACHED*"])


OUTAGE = '''
import time
from typing import Any
import pytest

def op(conn, params):
    conn.execute("SELECT 1")
    time.sleep(0.002)  # ~450 operations/s per connection: the count takes a few seconds

@pytest.mark.flakebench(target="sqlite:///demo.db", table="orders", mix={{"op": 100}},
                        python={{"op": "read"}}, concurrency=2, operations={n},
                        duration="{limit}s", warmup="0.5s")
def test_count(flakebench):
    flakebench.operation("op")(op)
    flakebench.run()
'''


@pytest.mark.postgres
def test_the_count_ends_the_run_with_the_store_gone(pytester: pytest.Pytester,
                                                    owned_pg_ctl: Any) -> None:
    """The store (control plane) stops mid-measurement: the workers' reports come through the
    hand-off files, and the run still ends when every worker has run its share."""
    from tests.plugin.test_store_outage import _start, _store, _wait_measuring

    n = 4_000
    make_orders_db(pytester.path / "demo.db", rows=2_000)
    pytester.makepyfile(OUTAGE.format(n=n, limit=LIMIT_S))
    url = _store(owned_pg_ctl)
    t0 = time.monotonic()
    proc = _start(pytester.path, url, "-n", "2", "--flakebench-store-outage=1")
    _wait_measuring(url, proc)
    owned_pg_ctl.stop()
    try:
        out, _ = proc.communicate(timeout=LIMIT_S + 60)
    finally:
        owned_pg_ctl.start()
    assert time.monotonic() - t0 < LIMIT_S / 2, out
    assert proc.returncode == 0, out
    (run,) = json.loads((pytester.path / "out.json").read_text())["runs"]
    assert run["overall"]["ops"] + run["overall"]["errors"] == n, run["overall"]
    assert run["measurement_s"] < LIMIT_S / 4
