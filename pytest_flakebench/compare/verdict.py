"""The comparison of a run with its baseline, metric by metric, and its verdict.

Method (the README's "Regression gates" says the same): for each metric the change is the run's
overall figure against the baseline's (p50 against p50, p95 against p95 from the merged
histograms; QPS over the measurement window). Two sources of noise are judged apart:

1. **within the run**: a one-sided Mann-Whitney U test of the run's sub-second window samples
   (:mod:`.samples`) against the reference windows must give p < :data:`ALPHA` in the direction
   of the change; the reference is the baseline's windows, or with :data:`MIN_RUNS` or more
   comparable runs the windows of all of them (a baseline that ran fast or slow weighs 1/n);
2. **between runs**: the history of the last comparable runs (:mod:`.history`) says how much
   runs vary; the run must be beyond every one of them and beyond their 99% prediction bound,
   whose between-run variance is shrunk toward a prior (:mod:`.prior`).

REGRESSED = beyond the user's limit (against the baseline and against the history's center)
AND outside what the history says runs vary by AND significant within the run AND not a change
that a difference between the two runs' hosts could explain (:mod:`pytest_flakebench.hostnoise`).
With fewer than :data:`MIN_RUNS` comparable
runs only a gross change (beyond :data:`GROSS_FACTOR` x and :data:`GROSS_LIMITS` times the
limit) is decided on one run; anything else beyond the limit is INCONCLUSIVE naming the missing
evidence. IMPROVED mirrors REGRESSED. UNCHANGED: within the limit. Every verdict has a reason.
A run whose fingerprint differs is NOT COMPARABLE and never compared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pytest_flakebench.compare.comparable import Difference, differences
from pytest_flakebench.compare.history import (
    MIN_RUNS,
    Prior,
    Spread,
    spread_of,
    within_variance,
)
from pytest_flakebench.compare.samples import Series, reference_windows, within_run_pair
from pytest_flakebench.compare.stats import mann_whitney
from pytest_flakebench.compare.thresholds import DEFAULT_LIMIT, DISPLAY_METRICS, Threshold
from pytest_flakebench.hostnoise import EXPLAINS, HostDifference, difference
from pytest_flakebench.judge.results import RunResult

MetricVerdict = Literal["REGRESSED", "IMPROVED", "UNCHANGED", "INCONCLUSIVE"]
RunVerdict = Literal["REGRESSED", "IMPROVED", "UNCHANGED", "INCONCLUSIVE", "NOT COMPARABLE",
                     "NO BASELINE"]

ALPHA = 0.01  # within-run significance
MIN_SAMPLES = 5  # within-run samples needed on each side
GROSS_FACTOR = 2.0  # with fewer than MIN_RUNS runs: x2 or more …
GROSS_LIMITS = 3.0  # … and beyond 3 times the limit is decided on one run


@dataclass(frozen=True, slots=True)
class MetricComparison:
    """One metric of the run against the baseline."""

    metric: str
    baseline: float
    candidate: float
    change: float  # relative (0.12 = +12%), absolute for error_rate
    threshold: Threshold
    p_value: float | None  # one-sided, in the direction of the change; None: not tested
    samples: tuple[int, int]  # within-run samples (baseline, candidate)
    verdict: MetricVerdict
    reason: str
    spread: Spread | None = None  # the history used (None: fewer than MIN_RUNS runs)

    def describe_change(self) -> str:
        """``+12.3%`` (``+0.40pp`` for error_rate)."""
        if self.threshold.absolute:
            return f"{self.change * 100:+.2f}pp"
        return f"{self.change * 100:+.1f}%"

    def describe_spread(self) -> str:
        """``3 runs ±1.8%, bound +6.1%`` (the bound as a change against the baseline; the prior
        it was drawn with is named in the reason, to keep the table's column short)."""
        if self.spread is None:
            return "-"
        s = self.spread
        bound = s.bound(self.threshold.direction)
        if self.threshold.absolute:
            return (f"{s.runs} runs ±{(s.high - s.low) / 2 * 100:.2f}pp, bound "
                    f"{(bound - self.baseline) * 100:+.2f}pp")
        rel = (bound - self.baseline) / self.baseline if self.baseline else 0.0
        return f"{s.runs} runs ±{s.relative() * 100:.1f}%, bound {rel * 100:+.1f}%"


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
    sampling: str = ""  # "0.25 s windows" or "1 s snapshots"
    history_runs: int = 0  # comparable runs behind the spread (the baseline included)
    host: HostDifference | None = None  # how the hosts differ beyond the bounds, if they do
    server: tuple[str, ...] = ()  # what changed server side (evidence.compare)

    @property
    def regressed(self) -> bool:
        """True when a gated metric regressed: the test fails."""
        return self.verdict == "REGRESSED" and any(
            m.verdict == "REGRESSED" and m.threshold.gate for m in self.metrics)

    @property
    def gated(self) -> bool:
        """True when at least one metric has a failing threshold."""
        return any(m.threshold.gate for m in self.metrics)

    @property
    def reason(self) -> str:
        """Why the run got its verdict, in one line (never empty)."""
        if self.differences:
            return "not comparable: " + "; ".join(d.describe() for d in self.differences)
        scope = [m for m in self.metrics if m.threshold.gate] or list(self.metrics)
        deciding = [m for m in scope if m.verdict == self.verdict] or scope
        parts = [f"{m.metric}: {m.reason}" for m in deciding if m.reason]
        parts.extend(self.notes)
        return "; ".join(parts) or self.verdict.lower()


def _change(metric: str, base: float, cand: float) -> float:
    if metric == "error_rate":
        return cand - base
    if base == 0:
        return 0.0 if cand == 0 else float("inf")
    return (cand - base) / base


def _factor(metric: str, base: float, cand: float, direction: int) -> float:
    """How many times worse (> 1) the candidate is: x2.0 = twice the latency, half the QPS."""
    worse, better = (cand, base) if direction > 0 else (base, cand)
    if better <= 0:
        return float("inf") if worse > 0 else 1.0
    return worse / better


def _times(factor: float) -> str:
    return "x∞" if factor == float("inf") else f"x{factor:.2f}"


def compare_metric(metric: str, base_value: float, cand_value: float, base: Sequence[float],
                   cand: Sequence[float], threshold: Threshold, *, alpha: float = ALPHA,
                   min_samples: int = MIN_SAMPLES, history: Sequence[float] = (),
                   within: float | None = None, host: HostDifference | None = None,
                   host_faster: HostDifference | None = None,
                   prior: Prior | None = None) -> MetricComparison:
    """One metric's verdict.

    ``base``/``cand``: the two runs' within-run samples; ``history``: the overall figure of the
    last comparable runs, the baseline's included (:func:`spread_of` needs three); ``within``:
    the variance a run's figure has from its window samples (:func:`within_variance`); ``host``:
    how much slower the candidate's host was, beyond the bounds (a regression it could explain
    is then INCONCLUSIVE); ``host_faster``: how much slower the baseline's was (the same for an
    improvement); ``prior``: what the history's between-run variance is shrunk
    toward (None: :data:`.history.DEFAULT_PRIOR`).
    """
    change = _change(metric, base_value, cand_value)
    samples = (len(base), len(cand))
    direction = threshold.direction
    worse = change * direction  # > 0: in the worse direction
    spread = (spread_of(history, absolute=threshold.absolute, within=within, prior=prior)
              if history else None)

    def result(verdict: MetricVerdict, reason: str, p: float | None) -> MetricComparison:
        return MetricComparison(metric, base_value, cand_value, change, threshold, p, samples,
                                verdict, reason, spread)

    limit = threshold.describe()
    if abs(worse) <= threshold.limit:
        return result("UNCHANGED", f"within {limit}" if worse >= 0 else
                      f"within {limit} (better by {abs(change) * 100:.1f}"
                      f"{'pp' if threshold.absolute else '%'})", None)
    sign = 1 if worse > 0 else -1  # the direction of the change: worse or better
    if min(samples) < min_samples:
        return result("INCONCLUSIVE", f"too few within-run samples {samples[0]} and "
                      f"{samples[1]} (need {min_samples}): measure longer", None)
    test = mann_whitney(base, cand)
    rises_worse = (direction > 0) == (sign > 0)
    p = test.p_greater if rises_worse else test.p_less
    what = "beyond" if sign > 0 else "better than"
    verdict: MetricVerdict = "REGRESSED" if sign > 0 else "IMPROVED"
    factor = _factor(metric, base_value, cand_value, direction * sign)
    head = f"{what} {limit} ({_times(factor)})"
    if p >= alpha:
        return result("INCONCLUSIVE", f"{head} but not significant within the run "
                      f"(p={p:.3g} >= {alpha:g})", p)
    signif = f"p={p:.2g} within the run"
    if spread is None:
        runs = len(history) or 1
        gross = factor >= GROSS_FACTOR and abs(worse) > GROSS_LIMITS * threshold.limit
        if not gross:
            return result("INCONCLUSIVE", f"{head}, {signif}, but only {runs} comparable "
                          f"run(s) stored: {MIN_RUNS} are needed to know how much runs vary "
                          f"(or a change beyond x{GROSS_FACTOR:g} and {GROSS_LIMITS:g}x the "
                          f"limit)", p)
        reason = (f"{head}, {signif}; gross change (beyond x{GROSS_FACTOR:g} and "
                  f"{GROSS_LIMITS:g}x the limit) decided on {runs} run(s)")
    else:
        typical = _change(metric, spread.center, cand_value) * direction
        if typical * sign <= threshold.limit:
            return result("INCONCLUSIVE", f"{head} against the baseline but not against the "
                          f"last {spread.runs} comparable runs' center (the baseline was "
                          f"unusually {'good' if sign > 0 else 'bad'})", p)
        if not spread.outside(cand_value, direction * sign):
            return result("INCONCLUSIVE", f"{head}, {signif}, but inside what the last "
                          f"{spread.runs} comparable runs vary by (bound "
                          f"{_shown(metric, spread.bound(direction * sign))}; "
                          f"{spread.prior.describe()})", p)
        reason = (f"{head}, {signif}, outside the last {spread.runs} comparable runs "
                  f"(bound {_shown(metric, spread.bound(direction * sign))}; "
                  f"{spread.prior.describe()})")
    # A slower host can make the run measured on it look worse: the candidate's excuses a
    # regression, the baseline's an improvement, never the other way round.
    excuse = host if sign > 0 else host_faster
    if excuse is not None:
        which = "candidate's" if sign > 0 else "baseline's"
        if excuse.explains(factor):
            return result("INCONCLUSIVE", f"{reason}, but the host differed: {excuse.reason} "
                          f"(the {which} host, x{excuse.factor:.2f} slower, can explain up "
                          f"to x{EXPLAINS * excuse.factor:.2f})", p)
        reason += (f"; the host differed ({excuse.reason}) but a change of {_times(factor)} "
                   f"is beyond the x{EXPLAINS * excuse.factor:.2f} it could explain")
    return result(verdict, reason, p)


def _shown(metric: str, value: float) -> str:
    from pytest_flakebench.units import format_us

    if metric == "qps":
        return f"{value:,.1f} qps"
    if metric == "error_rate":
        return f"{value * 100:.2f}%"
    return format_us(value)


def overall_figure(run: RunResult, metric: str) -> float:
    """A run's overall figure of ``metric`` (QPS, a percentile, error_rate)."""
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


def with_info_limits(thresholds: Mapping[str, Threshold] | None) -> dict[str, Threshold]:
    """The gated limits plus a 10% (1pp for error_rate) information limit for the others."""
    limits = dict(thresholds or {})
    for metric in DISPLAY_METRICS:
        info = 0.01 if metric == "error_rate" else DEFAULT_LIMIT  # error_rate: points
        limits.setdefault(metric, Threshold(metric, info, gate=False))
    return limits


def compare_runs(baseline: RunResult, candidate: RunResult,
                 thresholds: Mapping[str, Threshold] | None = None, *,
                 baseline_label: str = "", alpha: float = ALPHA,
                 min_samples: int = MIN_SAMPLES, check_fingerprint: bool = True,
                 series: tuple[Series, Series] | None = None,
                 history: Sequence[RunResult] = (),
                 priors: Mapping[str, Prior] | None = None) -> Comparison:
    """Compare ``candidate`` with ``baseline``; gated thresholds decide whether it regressed.

    Metrics without a threshold in ``thresholds`` are shown with the default 10% limit for
    information (never gated). ``history``: earlier comparable runs besides the baseline; with
    the baseline they say how much runs vary (:mod:`.history`); ``priors``: per metric, what
    their between-run variance is shrunk toward (:mod:`.prior`; default: the history's own).
    """
    label = baseline_label or f"run {baseline.run_id[:8]}"
    if check_fingerprint:
        diffs = differences(baseline.fingerprint, candidate.fingerprint,
                            baseline_template=baseline.template,
                            candidate_template=candidate.template)
        if diffs:
            return Comparison(candidate.test, candidate.run_id, baseline.run_id, label,
                              "NOT COMPARABLE", differences=tuple(diffs))
    limits = with_info_limits(thresholds)
    order = [*DISPLAY_METRICS, *[m for m in limits if m not in DISPLAY_METRICS]]
    if series is not None:
        base_series, cand_series = series
        sampling = "given samples"
    else:
        base_series, cand_series, sampling = within_run_pair(baseline, candidate)
    host = difference(baseline.host, candidate.host)
    host_faster = difference(baseline.host, candidate.host, slower="baseline")
    runs = (baseline, *history)
    # With a history, the candidate's windows are tested against the windows of every one of
    # its runs: a baseline that happened to run fast or slow then weighs 1/n, not all.
    reference = (reference_windows(runs, base_series, windows=sampling.endswith("windows"))
                 if series is None and len(runs) >= MIN_RUNS else base_series)

    def within_of(metric: str) -> float | None:
        # The baseline's and the candidate's windows (sampled alike) say how much a figure
        # moves from within-run noise alone; the larger of the two is taken (conservative).
        found = [within_variance(s.of(metric), absolute=limits[metric].absolute)
                 for s in (base_series, cand_series)]
        known = [v for v in found if v is not None]
        return max(known) if known else None

    results = tuple(
        compare_metric(m, overall_figure(baseline, m), overall_figure(candidate, m),
                       reference.of(m), cand_series.of(m), limits[m], alpha=alpha,
                       min_samples=min_samples, history=[overall_figure(r, m) for r in runs],
                       within=within_of(m), host=host, host_faster=host_faster,
                       prior=(priors or {}).get(m))
        for m in order
    )
    notes: list[str] = []
    if candidate.status != "COMPLETED":
        notes.append(f"the run is {candidate.status}: its figures are not a full measurement")
    verdict = run_verdict(results)
    if candidate.status != "COMPLETED" and verdict == "REGRESSED":
        verdict = "INCONCLUSIVE"
    from pytest_flakebench.evidence.compare import server_changes

    return Comparison(candidate.test, candidate.run_id, baseline.run_id, label, verdict,
                      metrics=results, notes=tuple(notes), sampling=sampling,
                      history_runs=len(runs), host=host,
                      server=tuple(server_changes(
                          baseline, candidate, full=verdict in ("REGRESSED", "IMPROVED"))))
