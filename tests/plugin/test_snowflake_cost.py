"""Cost per Snowflake run as a user sees it: JSON ``cost``, summary, store, HTML; and a run
over its ``max_credits`` budget refused before any load."""

from __future__ import annotations

import json

import pytest

from tests.conftest import fakesnow_sql, fakesnow_url, stored_run

BENCH = """
import pytest

@pytest.mark.flakebench(
    target="{url}", table="public.orders", mix={{"point_lookup": 80, "insert": 20}},
    concurrency=2, duration="{duration}", warmup="0.5s", max_credits={budget},
)
def test_orders(flakebench_result):
    pass
"""

ORDERS = "CREATE TABLE PUBLIC.ORDERS (ID INT PRIMARY KEY, CUSTOMER VARCHAR(20))"
FILL = ("INSERT INTO PUBLIC.ORDERS (ID, CUSTOMER) SELECT SEQ4() + 1, 'c' "
        "FROM TABLE(GENERATOR(ROWCOUNT => 1000))")


@pytest.fixture
def orders(fakesnow_server: dict[str, object], fakesnow_db: str) -> str:
    fakesnow_sql(fakesnow_server, fakesnow_db, ORDERS, FILL)
    return fakesnow_url(fakesnow_server, fakesnow_db) + "&warehouse=fakesnow_warehouse"


def test_cost_in_json_summary_store_and_html(pytester: pytest.Pytester, orders: str) -> None:
    pytester.makepyfile(BENCH.format(url=orders, duration="1.5s", budget=1))
    result = pytester.runpytest("--flakebench", "--flakebench-json=out.json",
                                "--flakebench-store=sqlite:///store.db",
                                "--flakebench-credit-price=3", "--flakebench-html=r.html")
    result.assert_outcomes(passed=1)
    (run,) = json.loads((pytester.path / "out.json").read_text())["runs"]
    cost = run["cost"]
    assert cost["size"] == "X-Small"
    assert cost["clusters"] == 1
    assert cost["warehouse"] == "FAKESNOW_WAREHOUSE"
    assert cost["billed_s"] == 60.0  # a 2 s run is billed the 60 s minimum
    assert cost["credits"] == pytest.approx(60 / 3600)
    assert cost["amount"] == pytest.approx(3 * 60 / 3600)
    result.stdout.fnmatch_lines(["cost test_orders (run *): 0.0167 credits (X-Small × 1 "
                                 "cluster, 60 s billed) = 0.05 at 3.00/credit"])
    assert stored_run(f"sqlite:///{pytester.path / 'store.db'}", run["run_id"]).cost == cost
    assert "warehouse credits" in (pytester.path / "r.html").read_text()


def test_a_run_over_max_credits_is_refused_before_load(
        pytester: pytest.Pytester, orders: str, fakesnow_server: dict[str, object],
        fakesnow_db: str) -> None:
    # 10 min on an X-Small is 0.1667 credits: over a 0.1 budget
    pytester.makepyfile(BENCH.format(url=orders, duration="10m", budget=0.1))
    result = pytester.runpytest("--flakebench", "--flakebench-store=none")
    outcomes = result.parseoutcomes()
    assert "passed" not in outcomes
    result.stdout.fnmatch_lines(["*max_credits=0.1: the planned run (600.5 s *) would cost "
                                 "0.1668 credits (X-Small × 1 cluster*nothing was sent*"])
    (count,) = fakesnow_sql(fakesnow_server, fakesnow_db, "SELECT COUNT(*) FROM PUBLIC.ORDERS")
    assert count[0] == 1000  # no insert was sent
