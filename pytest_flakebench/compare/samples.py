"""Within-run samples of a run's metrics: sub-second windows, else per-second snapshots.

The engine keeps, besides its one-second snapshots, the figures of every sub-second window
(``RunResult.samples``: 0.25 s by default, measurement-phase operations only, windows cut by a
phase boundary left out), so a 3 s run gives about a dozen samples. :func:`within_run_pair`
uses them when both runs have them, else both runs' per-second snapshots (runs stored before the
windows existed), so the two sides are always sampled alike.

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
from pytest_flakebench.judge.results import RunResult, Snapshot

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


FINE_METRICS = (*_PCT, "max")
MIN_FILL = 0.8  # a window measured over less than this share of its length is left out


def fine(run: RunResult) -> Series | None:
    """The run's sub-second window samples (None when the run has none).

    Several workers: the k-th full window of every worker makes the k-th sample; QPS adds the
    workers' rates and a latency figure is the operation-weighted mean of the workers' window
    figures (both runs of a comparison have the same workers, so they are summarised alike).
    """
    data = run.samples or {}
    workers = data.get("workers") or {}
    interval = float(data.get("interval_s") or 0.0)
    if not workers or interval <= 0:
        return None
    columns = []
    for w in workers.values():
        spans = w.get("span", [])
        keep = [i for i, span in enumerate(spans) if span >= interval * MIN_FILL]
        columns.append([(w["t"][i], spans[i], w["ops"][i], w["errors"][i],
                         {m: w[m][i] for m in FINE_METRICS}) for i in keep])
    length = min(len(c) for c in columns)
    series = Series(values={m: [] for m in (*FINE_METRICS, "qps", "errors", "error_rate",
                                            "ops")})
    for k in range(length):
        row = [c[k] for c in columns]
        ops = sum(r[2] for r in row)
        errors = sum(r[3] for r in row)
        series.elapsed_s.append(max(r[0] for r in row))
        for m in FINE_METRICS:
            weight = sum(r[2] for r in row if r[4][m] is not None)
            series.values[m].append(
                sum(r[4][m] * r[2] for r in row if r[4][m] is not None) / weight
                if weight else 0.0)
        series.values["qps"].append(sum(r[2] / r[1] for r in row))
        series.values["ops"].append(float(ops))
        series.values["errors"].append(float(errors))
        series.values["error_rate"].append(errors / (ops + errors) if ops + errors else 0.0)
    return series


def within_run_pair(baseline: RunResult, candidate: RunResult) -> tuple[Series, Series, str]:
    """Both runs' within-run samples, drawn alike: ``(base, cand, "0.25 s windows")``."""
    a, b = fine(baseline), fine(candidate)
    if a is not None and b is not None and len(a) and len(b):
        interval = float((candidate.samples or {}).get("interval_s") or 0.0)
        return a, b, f"{interval:g} s windows"
    return per_second(baseline), per_second(candidate), "1 s snapshots"


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


def reference_windows(runs: Sequence[RunResult], baseline: Series, *, windows: bool) -> Series:
    """The windows of every one of ``runs`` (the baseline first) as one reference sample.

    ``baseline`` is the baseline's series as :func:`within_run_pair` drew it (``windows``:
    sub-second windows); when it is per-second snapshots, or any of the runs has no windows,
    it is returned alone, so both sides stay sampled alike.
    """
    found = [fine(r) for r in runs[1:]]
    if not windows or any(f is None or not len(f) for f in found):
        return baseline
    pooled = Series(elapsed_s=list(baseline.elapsed_s),
                    values={m: list(v) for m, v in baseline.values.items()})
    for other in found:
        assert other is not None  # checked above
        pooled.elapsed_s.extend(other.elapsed_s)
        for metric, values in pooled.values.items():
            values.extend(other.of(metric))
    return pooled
