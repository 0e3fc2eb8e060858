"""Synthetic runs for measuring the verdict's false-alarm rate and power (and for tests, demos).

A synthetic run draws log-normal latencies window by window (0.25 s windows, as the engine keeps
them, merged into one-second snapshots too), with three levels of noise:

- within the run: a log-normal factor per window (``window_sigma``), the drift of a database
  from one moment to the next, plus the sampling noise of a window's few dozen operations;
- between runs: a run-level factor, uniform within a band of width ``run_spread`` (0.20: runs'
  levels spread over ±10%) and/or log-normal (``run_sigma``): caches, neighbours, the host;
- the change under test: ``slowdown`` multiplies every latency of the candidate.

Every REGRESSED between runs drawn alike is a false alarm; :func:`false_alarm_rate` counts them,
comparing a candidate with a baseline plus ``history - 1`` earlier comparable runs, with the
default between-run prior or one pooled from other simulated tests.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass

from pytest_flakebench.engine.fine import WINDOW_S, FineSamples, samples_record
from pytest_flakebench.histogram import LatencyHistogram, LatencySummary
from pytest_flakebench.judge.results import KindStats, RunResult, Snapshot, WorkerSummary


@dataclass(frozen=True, slots=True)
class Profile:
    """How a synthetic run's latencies are drawn."""

    median_us: float = 800.0
    sigma: float = 0.5  # log-normal shape of single latencies
    window_sigma: float = 0.05  # drift from window to window within a run
    run_spread: float = 0.0  # width of the uniform band of run levels (0.2: ±10%)
    run_sigma: float = 0.0  # log-normal drift from run to run
    ops_per_second: int = 240
    seconds: int = 3
    connections: int = 4
    slowdown: float = 1.0  # multiply every latency (a deliberate regression)
    host: Mapping[str, object] | None = None  # the run's host record (hostnoise.py)


def _quantised(value: float) -> int:
    """Round to 3 significant digits, as the HDR histogram would (fewer distinct values)."""
    whole = max(1, int(value))
    scale: int = 10 ** max(0, len(str(whole)) - 3)
    return max(1, whole // scale * scale)


def _summary(hist: LatencyHistogram, counts: Mapping[int, int]) -> LatencySummary:
    """The histogram's summary, its mean from the exact values (HDR's mean is slow)."""
    n = sum(counts.values())
    p50, p90, p95, p99, p999 = hist.percentiles_us((50.0, 90.0, 95.0, 99.0, 99.9))
    return LatencySummary(count=n, min_us=min(counts), mean_us=sum(v * c for v, c in
                                                                 counts.items()) / n,
                          p50_us=p50, p90_us=p90, p95_us=p95, p99_us=p99, p999_us=p999,
                          max_us=max(counts))


def synthetic_run(rng: random.Random, profile: Profile = Profile(), *, run_id: str = "run",
                  test: str = "test_sim.py::test_sim", started_at: float = 1_700_000_000.0,
                  fingerprint: Mapping[str, object] | None = None) -> RunResult:
    """One run's result with window samples and per-second snapshots, as the engine makes them."""
    p = profile
    run_factor = p.slowdown * math.exp(rng.uniform(-p.run_spread / 2, p.run_spread / 2)
                                       + rng.gauss(0.0, p.run_sigma))
    per_second = round(1 / WINDOW_S)
    total = LatencyHistogram()
    fine = FineSamples()
    snaps: list[Snapshot] = []
    ops_total = 0
    second_counts: dict[int, int] = {}
    run_counts: dict[int, int] = {}
    second_ops = 0
    for window in range(p.seconds * per_second):
        factor = run_factor * math.exp(rng.gauss(0.0, p.window_sigma))
        # closed loop: slower operations mean fewer of them
        ops = max(1, round(p.ops_per_second * WINDOW_S / factor
                           * math.exp(rng.gauss(0.0, 0.02))))
        mu = math.log(p.median_us * factor)
        counts: dict[int, int] = {}
        for _ in range(ops):
            value = _quantised(rng.lognormvariate(mu, p.sigma))
            counts[value] = counts.get(value, 0) + 1
        elapsed = (window + 1) * WINDOW_S
        fine.add(elapsed, WINDOW_S, ops, 0, counts)
        for value, count in counts.items():
            second_counts[value] = second_counts.get(value, 0) + count
            run_counts[value] = run_counts.get(value, 0) + count
        second_ops += ops
        if (window + 1) % per_second:
            continue
        hist = LatencyHistogram()
        for value, count in second_counts.items():
            hist.record(value, count)
        total.add(hist)
        ops_total += second_ops
        p50, p95, p99 = hist.percentiles_us((50.0, 95.0, 99.0))
        second = len(snaps)
        snaps.append(Snapshot(worker_id="main", seq=second, ts=started_at + second + 1,
                              elapsed_s=float(second + 1), phase="MEASUREMENT", ops=second_ops,
                              errors=0, in_flight=p.connections, qps=float(second_ops),
                              p50_us=p50, p95_us=p95, p99_us=p99, histogram=hist.encode(),
                              active_connections=p.connections))
        second_counts, second_ops = {}, 0
    summary, encoded = _summary(total, run_counts), total.encode()
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
        samples=samples_record({"main": fine.to_dict()}),
        host=dict(p.host) if p.host is not None else {},
    )


def false_alarm_rate(trials: int, *, spec: str = "p95:+10%", seed: int = 1,
                     profile: Profile = Profile(), candidate: Profile | None = None,
                     history: int = 3, other_tests: int = 0) -> tuple[int, int, dict[str, int]]:
    """Compare ``trials`` candidates, each with ``history`` earlier runs drawn from ``profile``.

    The newest earlier run is the baseline; with the others it is the history the verdict reads
    the between-run spread from. The candidate is drawn from ``candidate`` (default: the same
    profile, so every REGRESSED is a false alarm; a slower profile measures the power instead).
    ``other_tests``: as many other tests of 5 runs each, drawn from ``profile``, stand for the
    results store the between-run prior is pooled from (:mod:`.prior`); 0: the default prior.
    Returns ``(regressed, trials, verdict counts)``.
    """
    from pytest_flakebench.compare.prior import pooled_priors, series_spread
    from pytest_flakebench.compare.thresholds import parse_spec
    from pytest_flakebench.compare.verdict import compare_runs

    thresholds = parse_spec(spec)
    rng = random.Random(seed)
    priors = None
    if other_tests:
        others = [[synthetic_run(rng, profile, run_id=f"o{k}-{i}", test=f"test_sim.py::other{k}",
                                 started_at=1_699_999_000.0 + i) for i in range(5)]
                  for k in range(other_tests)]
        spreads = [series_spread(runs, thresholds) for runs in others]
        priors = pooled_priors([s for s in spreads if s is not None], thresholds)
    counts: dict[str, int] = {}
    regressed = 0
    for i in range(trials):
        earlier = [synthetic_run(rng, profile, run_id=f"h{i}-{k}",
                                 started_at=1_700_000_000.0 + k) for k in range(history)]
        cand = synthetic_run(rng, candidate or profile, run_id=f"c{i}",
                             started_at=1_700_000_100.0)
        comparison = compare_runs(earlier[-1], cand, thresholds, history=earlier[-2::-1],
                                  priors=priors)
        counts[comparison.verdict] = counts.get(comparison.verdict, 0) + 1
        regressed += comparison.regressed
    return regressed, trials, counts
