"""The Snowflake cost model: size × clusters × billed time (60 s minimum, then per second)."""

from __future__ import annotations

import pytest

from pytest_flakebench.distributed.prepare import check_budget, planned_seconds
from pytest_flakebench.errors import TargetError
from pytest_flakebench.judge.cost import (
    RunCost,
    billed_seconds,
    cost_from_settings,
    credits_per_hour,
    run_cost,
)
from pytest_flakebench.template.model import Template


def test_90s_on_an_xsmall_single_cluster_is_one_credit_per_hour_for_90s() -> None:
    cost = run_cost("X-Small", 1, 90.0)
    assert cost.credits == pytest.approx(1.0 * 90 / 3600)  # 0.025
    assert cost.billed_s == 90.0
    assert cost.amount is None


def test_sixty_second_minimum_then_per_second() -> None:
    assert billed_seconds(10) == 60.0
    assert billed_seconds(60.5) == 60.5
    assert run_cost("X-Small", 1, 10).credits == pytest.approx(60 / 3600)


@pytest.mark.parametrize(("size", "rate"), [
    ("X-Small", 1), ("XSMALL", 1), ("Small", 2), ("Medium", 4), ("LARGE", 8), ("X-Large", 16),
    ("2X-Large", 32), ("XXLARGE", 32), ("3X-Large", 64), ("4X-Large", 128), ("5X-Large", 256),
    ("6X-Large", 512),
])
def test_each_size_doubles(size: str, rate: float) -> None:
    assert credits_per_hour(size) == rate


def test_clusters_and_price() -> None:
    cost = run_cost("Medium", 2, 90, warehouse="WH", credit_price=3.0)
    assert cost.credits == pytest.approx(4 * 2 * 90 / 3600)  # 0.2
    assert cost.amount == pytest.approx(0.6)
    assert cost.describe() == "0.2000 credits (Medium × 2 clusters, 90 s billed) = 0.60 at " \
                              "3.00/credit"
    assert RunCost(**cost.to_dict()) == cost
    with pytest.raises(ValueError, match="unknown warehouse size 'Huge'"):
        credits_per_hour("Huge")
    with pytest.raises(ValueError, match="clusters"):
        run_cost("Small", 0, 1)


def test_cost_from_settings() -> None:
    settings = {"warehouse": "WH", "size": "Small", "max_cluster_count": "3"}
    cost = cost_from_settings(settings, 120.0)
    assert cost is not None
    assert cost.credits == pytest.approx(2 * 3 * 120 / 3600)
    assert cost_from_settings({"table_type": "standard"}, 120.0) is None


def _template(**fields: object) -> Template:
    base = {"target": "snowflake://u@acct/DB/SC?warehouse=WH", "table": "orders",
            "mix": {"point_lookup": 100}, "duration": "80s", "warmup": "10s"}
    return Template.model_validate({**base, **fields})


def test_budget_checked_on_the_planned_duration() -> None:
    xsmall = {"warehouse": "WH", "size": "X-Small", "max_cluster_count": "1"}
    t = _template(max_credits=0.025)
    assert planned_seconds(t) == 90.0
    check_budget(t, "snowflake", xsmall)  # 0.025 credits: within
    with pytest.raises(TargetError, match=r"would cost 0\.0500 credits \(Small × 1 cluster"):
        check_budget(t, "snowflake", {**xsmall, "size": "Small"})
    check_budget(_template(max_credits=0.05), "snowflake", {**xsmall, "size": "Small"})
    with pytest.raises(TargetError, match=r"\(45 s .*60 s billed"):  # the minimum applies
        check_budget(t, "snowflake", {**xsmall, "size": "Small"}, duration_scale=0.5)
    with pytest.raises(TargetError, match="name the warehouse"):
        check_budget(t, "snowflake", {"table_type": "standard"})
    with pytest.raises(TargetError, match="Snowflake cost"):
        check_budget(t, "postgresql", {})
