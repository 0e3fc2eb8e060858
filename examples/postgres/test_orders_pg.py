"""An OLTP benchmark on PostgreSQL: 70 % point lookups, 20 % range scans, 10 % inserts."""

from __future__ import annotations

import pytest

from pytest_flakebench.judge.results import RunResult


@pytest.mark.flakebench(
    target="demo_pg",
    table="public.flakebench_demo_orders",
    mix={"point_lookup": 70, "range_scan": 20, "insert": 10},
    concurrency=4,
    duration="10s",
    warmup="2s",
    slo={
        "p95": "20ms",
        "p99": "50ms",
        "error_rate": "0.5%",
        "min_qps": 500,
        "point_lookup": {"p99": "10ms"},
    },
)
def test_orders_oltp(flakebench_result: RunResult) -> None:
    """The SLOs are the verdict; here we also insist that no insert failed."""
    assert flakebench_result.kinds["insert"].errors == 0
