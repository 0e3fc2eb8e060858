"""The comparison of a run with its baseline, metric by metric, and its verdict.

Method (documented in the README, "Regression gates"): for each metric the change is the run's
overall figure against the baseline's (p95 from the merged histograms, QPS over the measurement
window). It counts only when it is both

1. beyond the allowed threshold (``p95:+10%``), and
2. statistically significant: a one-sided Mann-Whitney U test over the two runs' per-second
   samples (each second's p95 from that second's merged HDR histogram, each second's QPS…)
   gives p < ``alpha`` (0.01) in the direction of the change.

REGRESSED = beyond the threshold in the worse direction and significant; IMPROVED = the same in
the better direction; INCONCLUSIVE = fewer than ``min_samples`` seconds on either side, or
beyond the threshold but not significant (noise cannot be told from change: not a failure);
UNCHANGED otherwise. A run whose fingerprint differs is NOT COMPARABLE and never compared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pytest_flakebench.compare.comparable import Difference, differences
from pytest_flakebench.compare.samples import Series, per_second
from pytest_flakebench.compare.stats import mann_whitney, median
from pytest_flakebench.compare.thresholds import DEFAULT_LIMIT, DISPLAY_METRICS, Threshold
from pytest_flakebench.results import RunResult

MetricVerdict = Literal["REGRESSED", "IMPROVED", "UNCHANGED", "INCONCLUSIVE"]
RunVerdict = Literal["REGRESSED", "IMPROVED", "UNCHANGED", "INCONCLUSIVE", "NOT COMPARABLE",
                     "NO BASELINE"]

ALPHA = 0.01
MIN_SAMPLES = 5
# A percentile pXX is judged against the baseline's p(XX ± 20% of the tail beyond it): p95
# regresses only if it is beyond the limit against the baseline's p96 (the slowest 5% may
# become 6% without a verdict). Tails that are bimodal flip pXX between modes otherwise.
RANK_TOLERANCE = 0.2
_PERCENTILE = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}


@dataclass(frozen=True, slots=True)
class MetricComparison:
    """One metric of the run against the baseline."""

    metric: str
    baseline: float
    candidate: float
    change: float  # relative (0.12 = +12%), absolute for error_rate
    threshold: Threshold
    p_value: float | None  # one-sided, in the direction of the change; None: not tested
    samples: tuple[int, int]  # per-second samples (baseline, candidate)
    verdict: MetricVerdict
    reason: str = ""

    def describe_change(self) -> str:
        """``+12.3%`` (``+0.40pp`` for error_rate)."""
        if self.threshold.absolute:
            return f"{self.change * 100:+.2f}pp"
        return f"{self.change * 100:+.1f}%"


@dataclass(frozen=True, slots=True)
class Comparison:
    """A run against its baseline: comparability, per-metric results, the run's verdict."""

    test: str
    candidate_id: str
    baseline_id: str | None
    baseline_label: str  # "last comparable run", "run 1a2b3c4d", "baseline nightly"
    verdict: RunVerdict
    metrics: tuple[MetricComparison, ...] = ()
    differences: tuple[Difference, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def regressed(self) -> bool:
        """True when a gated metric regressed: the test fails."""
        return self.verdict == "REGRESSED" and any(
            m.verdict == "REGRESSED" and m.threshold.gate for m in self.metrics)

    @property
    def gated(self) -> bool:
        """True when at least one metric has a failing threshold."""
        return any(m.threshold.gate for m in self.metrics)


def _change(metric: str, base: float, cand: float) -> float:
    if metric == "error_rate":
        return cand - base
    if base == 0:
        return 0.0 if cand == 0 else float("inf")
    return (cand - base) / base


def compare_metric(metric: str, base_value: float, cand_value: float, base: Sequence[float],
                   cand: Sequence[float], threshold: Threshold, *, alpha: float = ALPHA,
                   min_samples: int = MIN_SAMPLES, history: Sequence[float] = (),
                   band: tuple[float, float] | None = None) -> MetricComparison:
    """One metric's verdict from the overall figures and the per-second samples.

    ``history`` holds the overall figure of earlier comparable runs (the baseline included):
    a change that is beyond the limit against the baseline but not against the median of that
    history is run-to-run noise (an unusually good baseline), not a regression.

    ``band`` = the baseline's values a little below and above the percentile (see
    :data:`RANK_TOLERANCE`): a worse change must exceed the limit against the upper one, a
    better change against the lower one, so a percentile on the edge between two modes of the
    latency distribution does not flip the verdict.
    """
    change = _change(metric, base_value, cand_value)
    samples = (len(base), len(cand))
    worse = change * threshold.direction  # > 0: in the worse direction
    if band is not None and worse > 0:
        worse = min(worse, _change(metric, band[1], cand_value) * threshold.direction)
    elif band is not None and worse < 0:
        worse = max(worse, _change(metric, band[0], cand_value) * threshold.direction)
    if min(samples) < min_samples:
        return MetricComparison(metric, base_value, cand_value, change, threshold, None, samples,
                                "INCONCLUSIVE", f"too few per-second samples {samples[0]} and "
                                f"{samples[1]} (need {min_samples}): measure longer")
    test = mann_whitney(base, cand)
    rises = test.p_greater
    falls = test.p_less
    p_worse = rises if threshold.direction > 0 else falls
    p_better = falls if threshold.direction > 0 else rises
    if worse > threshold.limit:
        if len(history) >= 3:
            typical = median(history)
            if _change(metric, typical, cand_value) * threshold.direction <= threshold.limit:
                return MetricComparison(
                    metric, base_value, cand_value, change, threshold, p_worse, samples,
                    "INCONCLUSIVE", f"beyond {threshold.describe()} against the baseline but "
                    f"not against the median of the last {len(history)} comparable runs "
                    f"(run-to-run noise)")
        if p_worse < alpha:
            return MetricComparison(metric, base_value, cand_value, change, threshold, p_worse,
                                    samples, "REGRESSED")
        return MetricComparison(metric, base_value, cand_value, change, threshold, p_worse,
                                samples, "INCONCLUSIVE",
                                f"beyond {threshold.describe()} but not significant "
                                f"(p={p_worse:.3f} >= {alpha:g})")
    if -worse > threshold.limit and p_better < alpha:
        return MetricComparison(metric, base_value, cand_value, change, threshold, p_better,
                                samples, "IMPROVED")
    p = p_worse if worse >= 0 else p_better
    return MetricComparison(metric, base_value, cand_value, change, threshold, p, samples,
                            "UNCHANGED")


def _overall(run: RunResult, metric: str) -> float:
    if metric == "qps":
        return run.overall.qps
    return run.overall.metric(metric)


def run_verdict(metrics: Sequence[MetricComparison]) -> RunVerdict:
    """REGRESSED > IMPROVED > INCONCLUSIVE > UNCHANGED, over the gated metrics if any."""
    scope = [m for m in metrics if m.threshold.gate] or list(metrics)
    verdicts = {m.verdict for m in scope}
    for verdict in ("REGRESSED", "IMPROVED", "INCONCLUSIVE"):
        if verdict in verdicts:
            return verdict
    return "UNCHANGED"


def compare_runs(baseline: RunResult, candidate: RunResult,
                 thresholds: Mapping[str, Threshold] | None = None, *,
                 baseline_label: str = "", alpha: float = ALPHA,
                 min_samples: int = MIN_SAMPLES, check_fingerprint: bool = True,
                 series: tuple[Series, Series] | None = None,
                 history: Sequence[RunResult] = ()) -> Comparison:
    """Compare ``candidate`` with ``baseline``; gated thresholds decide whether it regressed.

    Metrics without a threshold in ``thresholds`` are shown with the default 10% limit for
    information (never gated). ``history``: earlier comparable runs besides the baseline (see
    :func:`compare_metric`).
    """
    label = baseline_label or f"run {baseline.run_id[:8]}"
    if check_fingerprint:
        diffs = differences(baseline.fingerprint, candidate.fingerprint,
                            baseline_template=baseline.template,
                            candidate_template=candidate.template)
        if diffs:
            return Comparison(candidate.test, candidate.run_id, baseline.run_id, label,
                              "NOT COMPARABLE", differences=tuple(diffs))
    limits = dict(thresholds or {})
    for metric in DISPLAY_METRICS:
        info = 0.01 if metric == "error_rate" else DEFAULT_LIMIT  # error_rate: points
        limits.setdefault(metric, Threshold(metric, info, gate=False))
    order = [*DISPLAY_METRICS, *[m for m in limits if m not in DISPLAY_METRICS]]
    base_series, cand_series = series or (per_second(baseline), per_second(candidate))
    base_hist = baseline.overall.hist() if baseline.overall.ops else None

    def band(metric: str) -> tuple[float, float] | None:
        pct = _PERCENTILE.get(metric)
        if pct is None or base_hist is None:
            return None
        tail = (100.0 - pct) * RANK_TOLERANCE
        return (float(base_hist.percentile_us(pct - tail)),
                float(base_hist.percentile_us(pct + tail)))

    results = tuple(
        compare_metric(m, _overall(baseline, m), _overall(candidate, m), base_series.of(m),
                       cand_series.of(m), limits[m], alpha=alpha, min_samples=min_samples,
                       history=[_overall(r, m) for r in (baseline, *history)] if history else (),
                       band=band(m))
        for m in order
    )
    notes: list[str] = []
    if candidate.status != "COMPLETED":
        notes.append(f"the run is {candidate.status}: its figures are not a full measurement")
    verdict = run_verdict(results)
    if candidate.status != "COMPLETED" and verdict == "REGRESSED":
        verdict = "INCONCLUSIVE"
    return Comparison(candidate.test, candidate.run_id, baseline.run_id, label, verdict,
                      metrics=results, notes=tuple(notes))
