"""SLO verdicts: inclusive limits, rates, per-kind scopes, and how checks are described."""

from __future__ import annotations

from typing import Any, Literal

import pytest

from pytest_flakebench.histogram import LatencySummary
from pytest_flakebench.judge.results import KindStats, SLOCheck
from pytest_flakebench.judge.slo import describe, evaluate
from pytest_flakebench.template.model import SLOSpec


def summary(us: int = 0, *, count: int = 100, **over: int) -> LatencySummary:
    """Every latency metric at ``us`` unless overridden (e.g. ``p95_us=...``)."""
    fields: dict[str, Any] = {
        "count": count, "min_us": us, "mean_us": float(us), "p50_us": us, "p90_us": us,
        "p95_us": us, "p99_us": us, "p999_us": us, "max_us": us,
    }
    fields.update(over)
    return LatencySummary(**fields)


def stats(kind: str = "overall", *, ops: int = 100, errors: int = 0, qps: float = 100.0,
          latency: LatencySummary | None = None,
          operation: Literal["read", "write", "mixed"] = "mixed") -> KindStats:
    return KindStats(kind=kind, operation=operation, ops=ops, errors=errors, qps=qps,
                     latency=latency if latency is not None else summary(1_000, count=ops),
                     histogram="")


def spec(data: dict[str, Any]) -> SLOSpec:
    return SLOSpec.model_validate(data)


# --------------------------------------------------------------------------- latency limits

LATENCY_CASES: list[tuple[str, str, int, bool]] = [
    # metric, limit, measured us, ok
    ("p95", "20ms", 20_000, True),  # equal to the limit passes
    ("p95", "20ms", 19_999, True),
    ("p95", "20ms", 20_001, False),
    ("p50", "1ms", 1_000, True),
    ("p50", "1ms", 1_001, False),
    ("p90", "500us", 500, True),
    ("p90", "500us", 501, False),
    ("p99", "1.5s", 1_500_000, True),
    ("p99", "1.5s", 1_500_001, False),
    ("p999", "100ms", 100_000, True),
    ("p999", "100ms", 100_001, False),
    ("max", "2s", 2_000_000, True),
    ("max", "2s", 2_000_001, False),
    ("max", "0", 0, True),
]


@pytest.mark.parametrize(("metric", "limit", "measured", "ok"), LATENCY_CASES, ids=repr)
def test_latency_limits_are_inclusive(metric: str, limit: str, measured: int, ok: bool) -> None:
    overall = stats(latency=summary(1, **{f"{metric}_us": measured}))
    (check,) = evaluate(spec({metric: limit}), overall, {})
    assert check == SLOCheck(scope="overall", metric=metric,
                             limit=float(spec({metric: limit}).limits()[metric]),
                             measured=float(measured), ok=ok)
    assert isinstance(check.limit, float)
    assert isinstance(check.measured, float)


@pytest.mark.parametrize("metric", ["p50", "p90", "p95", "p99", "p999", "max"])
def test_latency_limit_with_zero_successful_ops_fails(metric: str) -> None:
    overall = stats(ops=0, errors=5, qps=0.0, latency=summary(0, count=0))
    (check,) = evaluate(spec({metric: "1h"}), overall, {})
    assert check.measured == 0.0
    assert not check.ok


def test_zero_ops_and_zero_errors_still_fails_latency_but_not_rates() -> None:
    overall = stats(ops=0, errors=0, qps=0.0, latency=summary(0, count=0))
    checks = evaluate(spec({"p99": "1s", "error_rate": "0%", "min_qps": 0}), overall, {})
    assert {c.metric: c.ok for c in checks} == {"p99": False, "min_qps": True,
                                                "error_rate": True}


# --------------------------------------------------------------------------- rates


@pytest.mark.parametrize(("limit", "qps", "ok"), [
    (100, 100.0, True),
    (100, 100.5, True),
    (100, 99.99, False),
    (0, 0.0, True),
    (0.5, 0.4, False),
])
def test_min_qps(limit: float, qps: float, ok: bool) -> None:
    (check,) = evaluate(spec({"min_qps": limit}), stats(qps=qps), {})
    assert (check.metric, check.limit, check.measured, check.ok) == ("min_qps", limit, qps, ok)


@pytest.mark.parametrize(("limit", "ops", "errors", "ok"), [
    ("1%", 99, 1, True),  # exactly 1 % of attempts
    ("1%", 98, 2, False),
    ("0%", 100, 0, True),
    ("0%", 100, 1, False),
    ("0.5%", 995, 5, True),
    (0.01, 990, 10, True),
    ("100%", 0, 7, True),
    ("50%", 0, 7, False),
], ids=repr)
def test_error_rate(limit: object, ops: int, errors: int, ok: bool) -> None:
    overall = stats(ops=ops, errors=errors)
    (check,) = evaluate(spec({"error_rate": limit}), overall, {})
    assert check.metric == "error_rate"
    assert check.measured == pytest.approx(errors / (ops + errors))
    assert check.ok is ok


# --------------------------------------------------------------------------- scopes


def test_per_kind_scope_and_order() -> None:
    slo = spec({"p95": "20ms", "error_rate": "1%",
                "insert": {"p99": "50ms", "min_qps": 10},
                "point_lookup": {"max": "5ms"}})
    overall = stats(latency=summary(1_000, p95_us=20_000))
    kinds = {
        "point_lookup": stats("point_lookup", latency=summary(1_000, max_us=6_000)),
        "insert": stats("insert", qps=12.0, latency=summary(1_000, p99_us=40_000)),
    }
    checks = evaluate(slo, overall, kinds)
    assert [(c.scope, c.metric, c.ok) for c in checks] == [
        ("overall", "p95", True),
        ("overall", "error_rate", True),
        ("insert", "p99", True),
        ("insert", "min_qps", True),
        ("point_lookup", "max", False),
    ]
    assert checks[-1].measured == 6_000.0
    assert checks[-1].limit == 5_000.0


def test_kind_limits_use_the_kind_stats_not_overall() -> None:
    slo = spec({"insert": {"p99": "10ms"}})
    overall = stats(latency=summary(1_000))  # overall would pass
    kinds = {"insert": stats("insert", latency=summary(1_000, p99_us=10_001))}
    (check,) = evaluate(slo, overall, kinds)
    assert (check.scope, check.ok, check.measured) == ("insert", False, 10_001.0)


def test_kind_with_zero_ops_fails_its_latency_limit() -> None:
    slo = spec({"p95": "1s", "update": {"p95": "1s"}})
    kinds = {"update": stats("update", ops=0, errors=3, qps=0.0, latency=summary(0, count=0))}
    checks = evaluate(slo, stats(), kinds)
    assert [(c.scope, c.ok) for c in checks] == [("overall", True), ("update", False)]


def test_no_limits_no_checks() -> None:
    assert evaluate(SLOSpec(), stats(), {"insert": stats("insert")}) == ()


# --------------------------------------------------------------------------- describe


DESCRIBE_CASES: list[tuple[SLOCheck, tuple[str, str, str]]] = [
    (SLOCheck("overall", "p95", 20_000.0, 31_200.0, False), ("<= 20ms", "31.2ms", "+56.0%")),
    (SLOCheck("overall", "p99", 20_000.0, 10_000.0, True), ("<= 20ms", "10ms", "-50.0%")),
    (SLOCheck("overall", "max", 1_500_000.0, 1_500_000.0, True), ("<= 1.5s", "1.5s", "+0.0%")),
    (SLOCheck("overall", "p50", 500.0, 850.0, False), ("<= 500us", "850us", "+70.0%")),
    (SLOCheck("insert", "p999", 0.0, 12.0, False), ("<= 0us", "12us", "n/a")),
    (SLOCheck("overall", "min_qps", 100.0, 80.0, False), (">= 100/s", "80.0/s", "-20.0%")),
    (SLOCheck("overall", "min_qps", 0.5, 12.34, True), (">= 0.5/s", "12.3/s", "+2368.0%")),
    (SLOCheck("overall", "min_qps", 0.0, 3.0, True), (">= 0/s", "3.0/s", "n/a")),
    (SLOCheck("overall", "error_rate", 0.01, 0.025, False), ("1.00%", "2.50%", "+1.50 pts")),
    (SLOCheck("overall", "error_rate", 0.005, 0.0, True), ("0.50%", "0.00%", "-0.50 pts")),
]


@pytest.mark.parametrize(("check", "expected"), DESCRIBE_CASES, ids=repr)
def test_describe(check: SLOCheck, expected: tuple[str, str, str]) -> None:
    assert describe(check) == expected
