"""Synthetic runs for measuring the comparison's false-alarm rate (and for tests and demos).

A synthetic run has per-second HDR histograms drawn from a log-normal latency distribution, with
a per-second multiplier (log-normal too) that models the second-to-second drift of a real
database, and a run-level multiplier that models run-to-run drift (caches, neighbours). Pairs
drawn from the same distribution must not be called REGRESSED; ``false_alarm_rate`` counts how
often they are.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass

from pytest_flakebench.histogram import LatencyHistogram
from pytest_flakebench.results import KindStats, RunResult, Snapshot, WorkerSummary


@dataclass(frozen=True, slots=True)
class Profile:
    """How a synthetic run's latencies are drawn."""

    median_us: float = 800.0
    sigma: float = 0.5  # log-normal shape of single latencies
    second_sigma: float = 0.05  # drift from second to second
    run_sigma: float = 0.02  # drift from run to run
    ops_per_second: int = 400
    seconds: int = 10
    connections: int = 4
    slowdown: float = 1.0  # multiply every latency (a deliberate regression)


def _quantised(value: float) -> int:
    """Round to 3 significant digits, as the HDR histogram would (fewer distinct values)."""
    whole = max(1, int(value))
    scale: int = 10 ** max(0, len(str(whole)) - 3)
    return max(1, whole // scale * scale)


def synthetic_run(rng: random.Random, profile: Profile = Profile(), *, run_id: str = "run",
                  test: str = "test_sim.py::test_sim", started_at: float = 1_700_000_000.0,
                  fingerprint: Mapping[str, object] | None = None) -> RunResult:
    """One run's result with per-second snapshots, as the engine would produce it."""
    p = profile
    run_factor = math.exp(rng.gauss(0.0, p.run_sigma)) * p.slowdown
    total = LatencyHistogram()
    snaps: list[Snapshot] = []
    ops_total = 0
    for second in range(p.seconds):
        factor = run_factor * math.exp(rng.gauss(0.0, p.second_sigma))
        # closed loop: slower operations mean fewer of them per second
        ops = max(1, round(p.ops_per_second / factor * math.exp(rng.gauss(0.0, 0.02))))
        hist = LatencyHistogram()
        mu = math.log(p.median_us * factor)
        counts: dict[int, int] = {}
        for _ in range(ops):
            value = _quantised(rng.lognormvariate(mu, p.sigma))
            counts[value] = counts.get(value, 0) + 1
        for value, count in counts.items():
            hist.record(value, count)
        total.add(hist)
        ops_total += ops
        p50, p95, p99 = hist.percentiles_us((50.0, 95.0, 99.0))
        snaps.append(Snapshot(worker_id="main", seq=second, ts=started_at + second + 1,
                              elapsed_s=float(second + 1), phase="MEASUREMENT", ops=ops,
                              errors=0, in_flight=p.connections, qps=float(ops), p50_us=p50,
                              p95_us=p95, p99_us=p99, histogram=hist.encode(),
                              active_connections=p.connections))
    summary, encoded = total.summary(), total.encode()
    stats = KindStats(kind="overall", operation="read", ops=ops_total, errors=0,
                      qps=ops_total / p.seconds, latency=summary, histogram=encoded)
    kind = KindStats(kind="point_lookup", operation="read", ops=ops_total, errors=0,
                     qps=ops_total / p.seconds, latency=summary, histogram=encoded)
    fp = dict(fingerprint) if fingerprint is not None else {
        "version": 2, "template_hash": "sim", "target_kind": "sqlite",
        "server_version": "SQLite 3", "server_settings": {}, "row_count": 1000,
        "connections": p.connections, "workers": 1, "client": {}, "plugin_version": "0.1.0"}
    return RunResult(
        run_id=run_id, test=test, status="COMPLETED", verdict="PASSED",
        template={"target": "sqlite:///sim.db", "table": "orders",
                  "mix": {"point_lookup": 100.0}, "concurrency": p.connections},
        fingerprint=fp, target_kind="sqlite", target="sqlite:///sim.db", table="orders",
        mode="concurrency", connections=p.connections, started_at=started_at,
        ended_at=started_at + p.seconds, measurement_s=float(p.seconds), warmup_s=0.0,
        overall=stats, kinds={"point_lookup": kind}, slo=(),
        workers=(WorkerSummary("main", "sim", p.connections, "COMPLETED", ops_total, 0,
                               ops_total / p.seconds, summary.p95_us, encoded,
                               float(p.seconds)),),
        snapshots=tuple(snaps), plugin_version="0.1.0",
    )


def false_alarm_rate(pairs: int, *, spec: str = "p95:+10%,qps:-5%", seed: int = 1,
                     profile: Profile = Profile(),
                     candidate: Profile | None = None) -> tuple[int, int, dict[str, int]]:
    """Compare ``pairs`` pairs of runs, the baseline drawn from ``profile``.

    The candidate is drawn from ``candidate`` (default: the same profile, so every REGRESSED is
    a false alarm; give a slower profile to measure the power instead). Returns
    ``(regressed, pairs, verdict counts)``.
    """
    from pytest_flakebench.compare.thresholds import parse_spec
    from pytest_flakebench.compare.verdict import compare_runs

    thresholds = parse_spec(spec)
    rng = random.Random(seed)
    counts: dict[str, int] = {}
    regressed = 0
    for i in range(pairs):
        base = synthetic_run(rng, profile, run_id=f"b{i}")
        cand = synthetic_run(rng, candidate or profile, run_id=f"c{i}",
                             started_at=1_700_000_100.0)
        comparison = compare_runs(base, cand, thresholds)
        counts[comparison.verdict] = counts.get(comparison.verdict, 0) + 1
        regressed += comparison.regressed
    return regressed, pairs, counts
