"""The PostgreSQL execution path as a user meets it: exact counts on the lean path, and the
switch to the cursor path recorded in the fingerprint (two runs on different paths are not
comparable)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_flakebench.compare.comparable import differences
from tests.conftest import pg_count

pytestmark = pytest.mark.postgres

BENCH = """
import pytest

@pytest.mark.flakebench(
    target="{dsn}", table="public.{table}",
    mix={{"point_lookup": 60, "range_scan": 20, "insert": 10}},
    queries={{"by_customer": {{"sql": "SELECT id FROM {{table}} WHERE customer = ? AND id < ?",
                              "weight": 10, "operation": "read",
                              "params": [{{"choice": ["c1", "c2"]}}, {{"literal": 5000}}]}}}},
    concurrency=4, duration="{duration}", warmup="0.5s", {extra}
    slo={{"p99": "5s", "error_rate": "1%"}},
)
def test_orders(flakebench_result):
    assert flakebench_result.kinds["insert"].errors == 0
"""


def run_bench(pytester: pytest.Pytester, dsn: str, table: str, *args: str,
              extra: str = "", duration: str = "1s") -> dict[str, Any]:
    pytester.makepyfile(test_bench=BENCH.format(dsn=dsn, table=table, duration=duration,
                                                extra=extra))
    if "-n" in args:
        result = pytester.runpytest_subprocess("--flakebench", "--flakebench-json=out.json",
                                               *args)
    else:
        result = pytester.runpytest("--flakebench", "--flakebench-json=out.json", "-p",
                                    "no:xdist", *args)
    result.assert_outcomes(passed=1)
    (run,) = json.loads((pytester.path / "out.json").read_text())["runs"]
    return dict(run)


def test_lean_path_with_n2_counts_exactly(pytester: pytest.Pytester, pg_dsn: str,
                                          pg_orders: str) -> None:
    """Accuracy on the lean path under ``-n 2``: inserts == rows, shares within 1.5 %, a custom
    query runs on it too."""
    before = pg_count(pg_dsn, pg_orders)
    run = run_bench(pytester, pg_dsn, pg_orders, "-n", "2", duration="3s")
    assert run["fingerprint"]["client"]["path"] == "lean"
    kinds = run["kinds"]
    inserted = kinds["insert"]["ops"] + kinds["insert"]["warmup_ops"]
    assert pg_count(pg_dsn, pg_orders) == before + inserted
    total = sum(k["ops"] + k["errors"] for k in kinds.values())
    assert total >= 3_000
    # a smooth weighted schedule per thread: the shares are exact up to one cycle per thread
    for kind, weight in (("point_lookup", 0.60), ("range_scan", 0.20), ("insert", 0.10),
                         ("by_customer", 0.10)):
        share = (kinds[kind]["ops"] + kinds[kind]["errors"]) / total
        assert abs(share - weight) < 0.015, (kind, share)
    assert run["overall"]["errors"] == 0
    assert sum(w["ops"] for w in run["workers"]) == run["overall"]["ops"]


def test_switch_to_cursor_changes_the_fingerprint(pytester: pytest.Pytester, pg_dsn: str,
                                                  pg_orders: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    lean = run_bench(pytester, pg_dsn, pg_orders)
    monkeypatch.setenv("FLAKEBENCH_CLIENT_PATH", "cursor")
    by_env = run_bench(pytester, pg_dsn, pg_orders)
    monkeypatch.delenv("FLAKEBENCH_CLIENT_PATH")
    by_template = run_bench(pytester, pg_dsn, pg_orders,
                            extra='client_path="cursor",')
    assert lean["fingerprint"]["client"]["path"] == "lean"
    for cursor in (by_env, by_template):
        assert cursor["fingerprint"]["client"]["path"] == "cursor"
        assert cursor["overall"]["errors"] == 0
        assert cursor["overall"]["ops"] > 0
        found = [d.describe() for d in differences(lean["fingerprint"], cursor["fingerprint"])]
        assert found == ["client.path lean → cursor"]


def test_bad_client_path_is_refused_before_load(pytester: pytest.Pytester, pg_dsn: str,
                                                pg_orders: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLAKEBENCH_CLIENT_PATH", "turbo")
    pytester.makepyfile(test_bench=BENCH.format(dsn=pg_dsn, table=pg_orders, duration="1s",
                                                extra=""))
    result = pytester.runpytest("--flakebench", "-p", "no:xdist")
    result.stdout.fnmatch_lines(["*FLAKEBENCH_CLIENT_PATH='turbo' is not an execution path*"])
    assert "INTERNALERROR" not in result.stdout.str()
    assert result.ret != 0
