"""Run results: to_dict/from_dict round trips through strict JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_flakebench.histogram import LatencyHistogram, LatencySummary
from pytest_flakebench.judge.results import KindStats, RunResult, SLOCheck, Snapshot, WorkerSummary
from pytest_flakebench.template.model import Template


def hist_of(values: list[int]) -> LatencyHistogram:
    hist = LatencyHistogram()
    for v in values:
        hist.record(v)
    return hist


def kind_stats(kind: str, values: list[int], *, errors: int = 0, **extra: Any) -> KindStats:
    hist = hist_of(values)
    return KindStats(kind=kind, operation=extra.pop("operation", "read"), ops=len(values),
                     errors=errors, qps=len(values) / 3.0, latency=hist.summary(),
                     histogram=hist.encode(), clamped=hist.clamped, **extra)


def template_dict() -> dict[str, Any]:
    t = Template.model_validate({
        "target": "pg", "table": "public.orders",
        "mix": {"point_lookup": 60},
        "queries": {"q": {"sql": "SELECT ? , ?, ?", "weight": 40,
                          "params": [{"date_range": ["2024-01-01", "2024-02-01"]},
                                     {"int_range": [1, 5]}, {"literal": None}]}},
        "slo": {"p95": "20ms", "q": {"error_rate": "1%"}},
    })
    return t.model_dump(mode="json")


def run_result(*, with_snapshots: bool = True) -> RunResult:
    point = kind_stats("point_lookup", [100, 200, 300, 4_000], errors=1,
                       error_classes={"57014": 1}, error_samples=("canceling statement",),
                       warmup_ops=10, warmup_errors=2)
    q = kind_stats("q", [5, 6, 7, 2 * 3_600_000_000], operation="read")
    overall_hist = hist_of([100, 200, 300, 4_000, 5, 6, 7, 2 * 3_600_000_000])
    overall = KindStats(kind="overall", operation="mixed", ops=8, errors=1, qps=8 / 3.0,
                        latency=overall_hist.summary(), histogram=overall_hist.encode(),
                        error_classes={"57014": 1}, error_samples=("canceling statement",),
                        clamped=1, warmup_ops=10, warmup_errors=2)
    snapshots = (
        Snapshot(worker_id="main", seq=0, ts=1_700_000_001.5, elapsed_s=1.0, phase="WARMUP",
                 ops=12, errors=2, in_flight=4, qps=12.0, p50_us=150, p95_us=300, p99_us=300,
                 histogram=hist_of([150, 300]).encode()),
        Snapshot(worker_id="main", seq=1, ts=1_700_000_002.5, elapsed_s=2.0,
                 phase="MEASUREMENT", ops=8, errors=1, in_flight=0, qps=8.0, p50_us=200,
                 p95_us=4_000, p99_us=4_000, histogram=overall_hist.encode()),
    ) if with_snapshots else ()
    return RunResult(
        run_id="0f3c", test="tests/bench/test_orders.py::test_mixed", status="COMPLETED",
        verdict="FAILED", template=template_dict(), fingerprint={"server": "16.2", "rows": 1000},
        target_kind="postgresql", target="postgresql://app:***@db/test", table="public.orders",
        mode="concurrency", connections=4, started_at=1_700_000_000.25,
        ended_at=1_700_000_003.75, measurement_s=3.0, warmup_s=0.5, overall=overall,
        kinds={"point_lookup": point, "q": q},
        slo=(SLOCheck("overall", "p95", 20_000.0, 4_003.0, True),
             SLOCheck("q", "error_rate", 0.01, 0.0, True),
             SLOCheck("overall", "max", 1.0, 0.0, False)),
        workers=(WorkerSummary(worker_id="main", host="h1", connections=4, status="COMPLETED",
                               ops=8, errors=1, qps=8 / 3.0, p95_us=4_003),),
        snapshots=snapshots, messages=("1 latency above 1h was clamped",),
        plugin_version="0.1.0",
    )


def strict_json(data: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(data, allow_nan=False))
    return loaded


def test_kind_stats_round_trip() -> None:
    stats = kind_stats("point_lookup", [1, 10, 100, 1_000], errors=2,
                       error_classes={"40001": 2}, error_samples=("a", "b"), warmup_ops=3)
    data = stats.to_dict()
    assert KindStats.from_dict(data) == stats
    assert KindStats.from_dict(strict_json(data)) == stats
    assert data["error_rate"] == pytest.approx(2 / 6)
    for key in ("p50_us", "p90_us", "p95_us", "p99_us", "p999_us", "max_us", "min_us",
                "mean_us", "count"):
        assert key in data
    assert data["p999_us"] == stats.latency.p999_us


def test_kind_stats_from_minimal_dict_uses_defaults() -> None:
    stats = kind_stats("insert", [5])
    data = stats.to_dict()
    for key in ("error_classes", "error_samples", "clamped", "warmup_ops", "warmup_errors"):
        del data[key]
    again = KindStats.from_dict(data)
    assert again == stats  # the removed fields were at their defaults


def test_kind_stats_hist_decodes() -> None:
    stats = kind_stats("insert", [5, 50, 500])
    assert stats.hist().summary() == stats.latency


def test_empty_kind_stats_are_json_safe() -> None:
    empty = LatencyHistogram()
    stats = KindStats(kind="update", operation="write", ops=0, errors=0, qps=0.0,
                      latency=empty.summary(), histogram=empty.encode())
    assert stats.error_rate == 0.0
    assert KindStats.from_dict(strict_json(stats.to_dict())) == stats


@pytest.mark.parametrize("metric", ["p50", "p90", "p95", "p99", "p999", "max"])
def test_kind_stats_metric(metric: str) -> None:
    stats = kind_stats("k", [10, 20, 30])
    assert stats.metric(metric) == float(getattr(stats.latency, f"{metric}_us"))


def test_kind_stats_rate_metrics() -> None:
    stats = kind_stats("k", [10, 20, 30], errors=1)
    assert stats.metric("min_qps") == stats.qps == 1.0
    assert stats.metric("error_rate") == 0.25


def test_run_result_round_trip_through_strict_json() -> None:
    result = run_result()
    data = result.to_dict()
    text = json.dumps(data, allow_nan=False)
    again = RunResult.from_dict(json.loads(text))
    assert again == result
    assert again.to_dict() == data
    assert again.breaches == (SLOCheck("overall", "max", 1.0, 0.0, False),)


def test_run_result_without_snapshots() -> None:
    result = run_result()
    data = result.to_dict(with_snapshots=False)
    assert "snapshots" not in data
    again = RunResult.from_dict(strict_json(data))
    assert again.snapshots == ()
    assert again == run_result(with_snapshots=False)


def test_run_result_dict_holds_builtins_only() -> None:
    allowed = (dict, list, str, int, float, bool, type(None))

    def walk(value: object, path: str) -> None:
        assert isinstance(value, allowed), (path, type(value))
        if isinstance(value, dict):
            for k, v in value.items():
                assert isinstance(k, str), path
                walk(v, f"{path}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")

    walk(run_result().to_dict(), "run")


def test_optional_fields_default_when_absent() -> None:
    data = run_result(with_snapshots=False).to_dict(with_snapshots=False)
    del data["messages"]
    del data["plugin_version"]
    again = RunResult.from_dict(strict_json(data))
    assert again.messages == ()
    assert again.plugin_version == ""


@pytest.mark.parametrize("cls_and_value", [
    (SLOCheck, SLOCheck("insert", "p99", 50_000.0, 61_000.5, False)),
    (WorkerSummary, WorkerSummary("w1", "host", 8, "PARTIAL", 10, 0, 3.5, 900)),
    (Snapshot, Snapshot("w1", 3, 1.5, 2.5, "COOLDOWN", 1, 0, 2, 1.0, 1, 2, 3, "")),
], ids=lambda cv: type(cv[1]).__name__)
def test_small_records_round_trip(cls_and_value: tuple[Any, Any]) -> None:
    cls, value = cls_and_value
    assert cls.from_dict(strict_json(value.to_dict())) == value


def test_summary_fields_are_the_flattened_latency() -> None:
    stats = kind_stats("k", [1, 2, 3])
    data = stats.to_dict()
    assert LatencySummary(**{k: data[k] for k in LatencySummary.__slots__}) == stats.latency
