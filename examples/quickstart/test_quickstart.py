"""The quickstart: an OLTP mix on an embedded SQLite table, judged against SLOs.

Run it with ``pytest examples/quickstart --flakebench``; without ``--flakebench`` the benchmark
is skipped and the ordinary test still runs.
"""

from __future__ import annotations

import pytest

from pytest_flakebench.judge.results import RunResult


@pytest.mark.flakebench(
    target="sqlite:///.flakebench/demo.db",
    table="orders",
    mix={"point_lookup": 70, "range_scan": 20, "insert": 10},
    concurrency=2,
    duration="5s",
    warmup="1s",
    slo={"p95": "50ms", "p99": "250ms", "error_rate": "0.5%", "point_lookup": {"p99": "20ms"}},
)
def test_orders_oltp(flakebench_result: RunResult) -> None:
    """Passes when every SLO holds; the body can assert more on the merged result."""
    assert flakebench_result.kinds["insert"].errors == 0


@pytest.mark.flakebench(
    target="sqlite:///.flakebench/demo.db",
    table="orders",
    mix={"top_customers": 50, "point_lookup": 50},
    queries={
        "top_customers": {
            "sql": "SELECT customer, sum(total) FROM {table} WHERE total > ? "
            "GROUP BY customer ORDER BY 2 DESC LIMIT 10",
            "params": [{"float_range": [0.0, 5000.0]}],
        }
    },
    concurrency=2,
    duration="3s",
    warmup="0s",
    slo={"top_customers": {"p95": "250ms"}},
)
def test_custom_query() -> None:
    """A named custom query with a typed parameter strategy, beside a built-in kind."""


def test_ordinary() -> None:
    """Ordinary tests in the same session are untouched by the plugin."""
    assert sum(range(10)) == 45
