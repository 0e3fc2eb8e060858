"""A/B mode: two targets compared by short trials interleaved in one session (A B B A A B B A).

Runs on different days see different neighbours, caches and hosts; trials interleaved within a
few seconds see the same ones, and the ABBA order cancels a slow drift. The test's duration is
split into :data:`TRIALS_PER_SIDE` trials a side. The verdict reuses the regression rule with
the trials standing in for the history:

- the figures: each side's figure is the geometric mean of its trials' figures;
- within the runs: every trial's 0.25 s windows, pooled per side (Mann-Whitney, p < 0.01);
- between runs: the A trials are the history (how much trials vary), so B must be beyond every
  A trial and beyond their 99% prediction bound (t with 3 degrees of freedom for 4 trials);
- the hosts: A's trials against B's (interleaved, they rarely differ).

Pure: no pytest, no database.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from pytest_flakebench.compare.history import within_variance
from pytest_flakebench.compare.samples import Series, within_run_pair
from pytest_flakebench.compare.thresholds import DISPLAY_METRICS, Threshold
from pytest_flakebench.compare.verdict import (
    Comparison,
    compare_metric,
    overall_figure,
    run_verdict,
    with_info_limits,
)
from pytest_flakebench.hostnoise import difference
from pytest_flakebench.judge.results import RunResult

TRIALS_PER_SIDE = 4
MIN_TRIAL_S = 0.75  # shorter trials give too few windows each


def order(trials_per_side: int = TRIALS_PER_SIDE) -> str:
    """``ABBAABBA`` for 4 a side: every pair of trials is mirrored, so drift cancels."""
    pairs = ("AB", "BA")
    return "".join(pairs[i % 2] for i in range(trials_per_side))


def trial_seconds(duration_s: float, trials_per_side: int = TRIALS_PER_SIDE) -> float:
    """Each trial's measurement: the test's duration split over one side's trials."""
    return max(MIN_TRIAL_S, duration_s / trials_per_side)


def _pooled(series: Sequence[Series]) -> Series:
    out = Series()
    for s in series:
        out.elapsed_s.extend(s.elapsed_s)
        for metric, values in s.values.items():
            out.values.setdefault(metric, []).extend(values)
    return out


def _geomean(values: Sequence[float]) -> float:
    positive = [v for v in values if v > 0]
    if len(positive) < len(values) or not positive:
        return sum(values) / len(values) if values else 0.0
    return math.exp(sum(math.log(v) for v in positive) / len(positive))


def compare_ab(a_runs: Sequence[RunResult], b_runs: Sequence[RunResult],
               thresholds: Mapping[str, Threshold] | None = None, *,
               label: str = "", test: str = "") -> Comparison:
    """B's trials against A's: one verdict for the test (REGRESSED: B is worse than A)."""
    if not a_runs or not b_runs:
        raise ValueError("A/B needs trials on both sides")
    limits = with_info_limits(thresholds)
    metrics = [*DISPLAY_METRICS, *[m for m in limits if m not in DISPLAY_METRICS]]
    a_series, b_series = [], []
    for a, b in zip(a_runs, b_runs, strict=False):
        sa, sb, sampling = within_run_pair(a, b)
        a_series.append(sa)
        b_series.append(sb)
    base, cand = _pooled(a_series), _pooled(b_series)
    a_hosts = {"workers": {f"A{i}": r.host for i, r in enumerate(a_runs) if r.host}}
    b_hosts = {"workers": {f"B{i}": r.host for i, r in enumerate(b_runs) if r.host}}
    host = difference(a_hosts, b_hosts)
    host_faster = difference(a_hosts, b_hosts, slower="baseline")
    results = []
    for m in metrics:
        a_figures = [overall_figure(r, m) for r in a_runs]
        b_figures = [overall_figure(r, m) for r in b_runs]
        absolute = limits[m].absolute
        a_value = (sum(a_figures) / len(a_figures)) if absolute else _geomean(a_figures)
        b_value = (sum(b_figures) / len(b_figures)) if absolute else _geomean(b_figures)
        # How much a trial's figure moves from its own windows (see compare/history.py).
        found = [within_variance(s.of(m), absolute=absolute) for s in a_series]
        known = [v for v in found if v is not None]
        within = sum(known) / len(known) if known else None
        results.append(compare_metric(m, a_value, b_value, base.of(m), cand.of(m), limits[m],
                                      history=a_figures, within=within, host=host,
                                      host_faster=host_faster))
    last = b_runs[-1]
    notes = (f"A/B: {len(a_runs)} trials of {a_runs[0].target} against {len(b_runs)} of "
             f"{last.target}, interleaved {order(len(a_runs))}",)
    return Comparison(test or last.test, last.run_id, a_runs[-1].run_id,
                      label or f"A/B trials of {a_runs[0].target}", run_verdict(results),
                      metrics=tuple(results), notes=notes, sampling=f"{sampling}, pooled",
                      history_runs=len(a_runs), host=host)
