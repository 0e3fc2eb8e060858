"""Per-second samples of a run's metrics, from its workers' interval snapshots.

Every worker keeps one snapshot per second with that second's HDR histogram (wire form). The
k-th measurement second of every worker is merged into one sample (histograms added, so a
per-second p95 is exact across workers); QPS adds the workers' rates. The first measurement
snapshot of a worker may straddle the end of warmup and the last one may be a sliver of a second,
so both are dropped when they are not a full interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pytest_flakebench.histogram import LatencyHistogram
from pytest_flakebench.results import RunResult, Snapshot

MIN_SPAN_S = 0.5  # a snapshot shorter than this is a sliver, not a sample

_PCT = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}


@dataclass(slots=True)
class Series:
    """One run's per-second samples, metric by metric, plus the time axis for charts."""

    elapsed_s: list[float] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=dict)

    def of(self, metric: str) -> list[float]:
        """The samples of ``metric`` (``p95``, ``qps``, ``error_rate``, ``errors``…)."""
        return self.values.get(metric, [])

    def __len__(self) -> int:
        return len(self.elapsed_s)


def _spans(snaps: Sequence[Snapshot]) -> list[tuple[Snapshot, float]]:
    """Each snapshot with the length of its interval (from the previous one's elapsed time)."""
    out: list[tuple[Snapshot, float]] = []
    previous = 0.0
    for snap in sorted(snaps, key=lambda s: s.seq):
        out.append((snap, max(0.0, snap.elapsed_s - previous)))
        previous = snap.elapsed_s
    return out


def worker_seconds(snaps: Sequence[Snapshot], *, phases: tuple[str, ...] = ("MEASUREMENT",),
                   ) -> list[tuple[Snapshot, float]]:
    """One worker's usable seconds in ``phases``: full intervals only, boundary one dropped."""
    spanned = _spans(snaps)
    usable: list[tuple[Snapshot, float]] = []
    previous_phase = None
    for snap, span in spanned:
        straddles = previous_phase is not None and previous_phase != snap.phase
        previous_phase = snap.phase
        if snap.phase not in phases or span < MIN_SPAN_S:
            continue
        if straddles and snap.phase == "MEASUREMENT":
            continue  # began in warmup
        usable.append((snap, span))
    return usable


def per_second(run: RunResult, *, phases: tuple[str, ...] = ("MEASUREMENT",)) -> Series:
    """The run's per-second samples of every metric (workers merged second by second)."""
    by_worker: dict[str, list[Snapshot]] = {}
    for snap in run.snapshots:
        by_worker.setdefault(snap.worker_id, []).append(snap)
    columns = [worker_seconds(s, phases=phases) for s in by_worker.values()]
    length = max((len(c) for c in columns), default=0)
    series = Series(values={m: [] for m in (*_PCT, "max", "qps", "errors", "error_rate",
                                            "ops")})
    for k in range(length):
        merged = LatencyHistogram()
        ops = errors = 0
        qps = 0.0
        elapsed = 0.0
        present = 0
        for column in columns:
            if k >= len(column):
                continue
            snap, span = column[k]
            present += 1
            if snap.histogram:
                merged.add_encoded(snap.histogram)
            ops += snap.ops
            errors += snap.errors
            qps += snap.ops / span
            elapsed = max(elapsed, snap.elapsed_s)
        if present < len(columns):
            continue  # a worker had already stopped: not a like-for-like second
        series.elapsed_s.append(elapsed)
        values = merged.spectrum([*_PCT.values(), 100.0])  # summary() would cost a mean
        for name, pct in _PCT.items():
            series.values[name].append(float(values[pct]))
        series.values["max"].append(float(values[100.0]))
        series.values["qps"].append(qps)
        series.values["ops"].append(float(ops))
        series.values["errors"].append(float(errors))
        series.values["error_rate"].append(errors / (ops + errors) if ops + errors else 0.0)
    return series
