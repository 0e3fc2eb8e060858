"""Test helpers: realistic ``RunResult`` values.

Histograms are real ``LatencyHistogram`` objects, so encoded fields are genuine HDR wire forms
and summaries agree with them.
"""

from __future__ import annotations

import random
import uuid
from typing import Any, Literal

from pytest_flakebench.histogram import LatencyHistogram
from pytest_flakebench.judge.results import KindStats, RunResult, SLOCheck, Snapshot, WorkerSummary

_OPERATIONS: dict[str, Literal["read", "write", "mixed"]] = {
    "point_lookup": "read", "range_scan": "read", "insert": "write",
}


def _hist(rng: random.Random, n: int, scale_us: int) -> LatencyHistogram:
    hist = LatencyHistogram()
    for _ in range(n):
        hist.record(int(rng.expovariate(1 / scale_us)) + 50)
    return hist


def make_kind(kind: str, *, seed: int = 1, ops: int = 200, errors: int = 0,
              window_s: float = 10.0) -> tuple[KindStats, LatencyHistogram]:
    """A kind's statistics and the histogram they were computed from."""
    rng = random.Random(seed)
    hist = _hist(rng, ops, 800 + 100 * seed)
    stats = KindStats(
        kind=kind, operation=_OPERATIONS.get(kind, "mixed"), ops=ops, errors=errors,
        qps=ops / window_s, latency=hist.summary(), histogram=hist.encode(),
        error_classes={"23505": errors} if errors else {},
        error_samples=("duplicate key value violates unique constraint",) if errors else (),
        warmup_ops=ops // 10, warmup_errors=0,
    )
    return stats, hist


def make_run(*, run_id: str | None = None, test: str = "tests/test_db.py::test_orders",
             started_at: float = 1_732_680_000.123456789, workers: int = 1,
             snapshots_per_worker: int = 3, name: str | None = "oltp-simple",
             errors: int = 2) -> RunResult:
    """A complete run: three kinds, an overall, SLO checks, workers and snapshots."""
    run_id = run_id or uuid.uuid4().hex
    window = 10.0
    kinds: dict[str, KindStats] = {}
    total = LatencyHistogram()
    for i, kind in enumerate(_OPERATIONS, start=1):
        stats, hist = make_kind(kind, seed=i, ops=100 * i, errors=errors if kind == "insert" else 0)
        kinds[kind] = stats
        total.add(hist)
    ops = sum(k.ops for k in kinds.values())
    overall = KindStats(
        kind="overall", operation="mixed", ops=ops, errors=errors, qps=ops / window,
        latency=total.summary(), histogram=total.encode(),
        error_classes={"23505": errors} if errors else {},
    )
    worker_ids = ["main"] if workers == 1 else [f"gw{i}" for i in range(workers)]
    summaries = tuple(
        WorkerSummary(worker_id=w, host="ci-host", connections=16 // workers, status="COMPLETED",
                      ops=ops // workers, errors=0, qps=ops / workers / window,
                      p95_us=overall.latency.p95_us)
        for w in worker_ids
    )
    rng = random.Random(7)
    snapshots = tuple(
        Snapshot(worker_id=w, seq=seq, ts=started_at + seq + 0.000_000_3, elapsed_s=seq + 0.25,
                 phase="WARMUP" if seq == 0 else "MEASUREMENT", ops=10 * seq, errors=0,
                 in_flight=3, qps=10.0 * seq, p50_us=900, p95_us=2100, p99_us=4000,
                 histogram=_hist(rng, 20, 900).encode())
        for seq in range(snapshots_per_worker) for w in worker_ids
    )
    template: dict[str, Any] = {
        "table": "public.orders", "mix": {k: 10 * i for i, k in enumerate(_OPERATIONS, 1)},
        "concurrency": 16, "duration_s": window, "warmup_s": 2.0,
    }
    if name:
        template["name"] = name
    slo = (
        SLOCheck(scope="overall", metric="p95", limit=20_000.0,
                 measured=float(overall.latency.p95_us), ok=True),
        SLOCheck(scope="insert", metric="error_rate", limit=0.001,
                 measured=kinds["insert"].error_rate, ok=errors == 0),
    )
    return RunResult(
        run_id=run_id, test=test, status="COMPLETED", verdict="PASSED" if errors == 0 else "FAILED",
        template=template, fingerprint={"template_hash": "abc123", "target_kind": "postgresql",
                                        "server_version": "15.20", "settings": {"jit": "off"}},
        target_kind="postgresql", target="postgresql://bench:***@db:5432/app",
        table="public.orders", mode="CONCURRENCY", connections=16, started_at=started_at,
        ended_at=started_at + 12.5, measurement_s=window, warmup_s=2.0, overall=overall,
        kinds=kinds, slo=slo, workers=summaries, snapshots=snapshots,
        messages=("insert: 2 errors (23505)",) if errors else (), plugin_version="0.1.0",
    )
