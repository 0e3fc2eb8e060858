"""Benchmarks against the real PostgreSQL server, written as a new user would write them."""

from __future__ import annotations

import json

import pytest

from tests.conftest import pg_count, stored_run

pytestmark = pytest.mark.postgres

OLTP = """
import pytest

@pytest.mark.flakebench(
    target="{dsn}", table="public.{table}",
    mix={{"point_lookup": 70, "range_scan": 20, "insert": 10}},
    concurrency=4, duration="{duration}", warmup="{warmup}", slo={slo},
)
def test_orders_oltp(flakebench_result):
    assert flakebench_result.kinds["insert"].errors == 0
"""

LAX = '{"p95": "2s", "p99": "5s", "error_rate": "1%", "min_qps": 10}'


def test_oltp_mix_passes_and_counts_are_exact(pytester: pytest.Pytester, pg_dsn: str,
                                              pg_orders: str) -> None:
    """Done-when: 100k rows, 70/20/10, concurrency 4, 5 s, lax SLOs: passes; inserts add up."""
    before = pg_count(pg_dsn, pg_orders)
    pytester.makepyfile(OLTP.format(dsn=pg_dsn, table=pg_orders, duration="5s", warmup="1s",
                                    slo=LAX))
    result = pytester.runpytest("--flakebench", "--flakebench-json=out.json")
    result.assert_outcomes(passed=1)
    (run,) = json.loads((pytester.path / "out.json").read_text())["runs"]
    assert run["verdict"] == "PASSED"
    assert run["target_kind"] == "postgresql"
    kinds = run["kinds"]
    inserted = kinds["insert"]["ops"] + kinds["insert"]["warmup_ops"]
    assert pg_count(pg_dsn, pg_orders) == before + inserted
    # the observed share of each kind matches its weight within 1 % over >= 10,000 operations
    total = sum(k["ops"] + k["errors"] for k in kinds.values())
    assert total >= 10_000
    for kind, weight in (("point_lookup", 0.70), ("range_scan", 0.20), ("insert", 0.10)):
        share = (kinds[kind]["ops"] + kinds[kind]["errors"]) / total
        assert abs(share - weight) < 0.01, (kind, share)
    assert run["overall"]["errors"] == 0
    assert run["kinds"]["range_scan"]["p50_us"] >= run["kinds"]["point_lookup"]["p50_us"]


def test_tight_p95_fails_naming_metric_limit_and_measured(pytester: pytest.Pytester,
                                                         pg_dsn: str, pg_orders: str) -> None:
    pytester.makepyfile(OLTP.format(dsn=pg_dsn, table=pg_orders, duration="1s", warmup="0s",
                                    slo='{"p95": "1us"}'))
    result = pytester.runpytest("--flakebench", "--flakebench-json=out.json")
    result.assert_outcomes(failed=1)
    (run,) = json.loads((pytester.path / "out.json").read_text())["runs"]
    measured = run["overall"]["p95_us"]
    text = result.stdout.str()
    assert "overall  p95" in text.replace("   ", "  ").replace("  ", "  ")
    assert "<= 1us" in text
    from pytest_flakebench.units import format_us

    assert format_us(measured) in text


def test_runs_are_stored_in_a_postgres_store(pytester: pytest.Pytester, pg_dsn: str,
                                             pg_orders: str, pg_store: str) -> None:
    pytester.makepyfile(OLTP.format(dsn=pg_dsn, table=pg_orders, duration="1s", warmup="0s",
                                    slo=LAX))
    result = pytester.runpytest("--flakebench", f"--flakebench-store={pg_store}",
                                "--flakebench-json=out.json")
    result.assert_outcomes(passed=1)
    (run,) = json.loads((pytester.path / "out.json").read_text())["runs"]
    stored = stored_run(pg_store, run["run_id"])
    assert stored.overall.ops == run["overall"]["ops"]
    assert stored.kinds["insert"].histogram == run["kinds"]["insert"]["histogram"]
