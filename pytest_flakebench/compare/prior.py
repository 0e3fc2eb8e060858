"""The prior of the moderated between-run variance, from other series in the results store.

:mod:`.history` shrinks a test's between-run variance, estimated from its last few runs, toward
a prior worth :data:`PRIOR_DF` runs (Smyth's moderated t). The prior is best taken from data:
other tests on the same target, run on the same machine by the same sessions, vary from run to
run for much the same reasons (the host's neighbours, the server's caches, the runner). So the
prior's variance is the pooled between-run variance of the other series in the store — each
series' last comparable runs, their figures' variance less what their own windows explain,
weighted by their degrees of freedom — once those series give at least :data:`MIN_POOLED_DF`
degrees of freedom; else :data:`.history.DEFAULT_PRIOR`. Its worth stays :data:`PRIOR_DF` runs
however many series are pooled, because tests differ in how steady they are: the pooled figure
says what is typical, not what this test does. A store of very steady tests does not make the
prior smaller than :data:`MIN_PRIOR_SD`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from pytest_flakebench.compare.baseline import comparable_history, target_identity
from pytest_flakebench.compare.history import (
    DEFAULT_PRIOR,
    MIN_RUNS,
    NO_PRIOR,
    Prior,
    within_variance,
)
from pytest_flakebench.compare.samples import fine, per_second
from pytest_flakebench.compare.thresholds import DIRECTION
from pytest_flakebench.judge.results import RunResult
from pytest_flakebench.stores.base import ResultStore

PRIOR_DF = 4.0  # what the prior is worth, in runs (as the default's)
MIN_POOLED_DF = 8  # degrees of freedom the other series must give before they replace the default
MIN_PRIOR_SD = 0.02  # a pooled prior never says runs vary by less than 2%
SCAN_RUNS = 60  # newest completed runs on the target read from the store
SERIES_RUNS = 10  # runs of each other series used (as compare/gate.py's HISTORY)
MAX_READ = 40  # other runs read in full at most (each one is a store round trip)


def _figure(run: RunResult, metric: str) -> float:
    return run.overall.qps if metric == "qps" else run.overall.metric(metric)


def _within(run: RunResult, metric: str) -> float | None:
    series = fine(run) or per_second(run)
    return within_variance(series.of(metric), absolute=metric == "error_rate")


def pooled_priors(series: Iterable[Sequence[RunResult]], metrics: Iterable[str],
                  ) -> dict[str, Prior]:
    """Per metric, the prior pooled from ``series`` (each: comparable runs of one other test).

    Absolute metrics (error rates) get :data:`.history.NO_PRIOR`: they have no common scale.
    """
    groups = [list(s) for s in series if len(s) >= MIN_RUNS]
    priors: dict[str, Prior] = {}
    for metric in metrics:
        if metric == "error_rate":
            priors[metric] = NO_PRIOR
            continue
        total = 0.0
        df = 0
        for runs in groups:
            logs = [math.log(f) for f in (_figure(r, metric) for r in runs) if f > 0]
            if len(logs) < MIN_RUNS:
                continue
            mean = sum(logs) / len(logs)
            variance = sum((v - mean) ** 2 for v in logs) / (len(logs) - 1)
            known = [v for v in (_within(r, metric) for r in runs) if v is not None]
            w = sum(known) / len(known) if known else 0.0
            total += (len(logs) - 1) * max(0.0, variance - w)
            df += len(logs) - 1
        if df < MIN_POOLED_DF:
            priors[metric] = DEFAULT_PRIOR
            continue
        sd = max(MIN_PRIOR_SD, math.sqrt(total / df))
        priors[metric] = Prior(sd, PRIOR_DF, f"{len(groups)} other tests, {df} df")
    return priors


def store_priors(store: ResultStore, run: RunResult,
                 metrics: Iterable[str] = tuple(DIRECTION)) -> dict[str, Prior]:
    """The priors for ``run``, from the other tests' recent runs on its target in ``store``.

    A/B trials (``NODEID[ab:A1]``) are left out: their short trials vary more than runs do.
    """
    target = target_identity(run.target)
    rows = store.list_runs(limit=SCAN_RUNS, status="COMPLETED")
    by_test: dict[str, list[str]] = {}
    for row in rows:
        if (row.test == run.test or "[ab:" in row.test or row.status != "COMPLETED"
                or target_identity(row.target) != target):
            continue
        by_test.setdefault(row.test, []).append(row.run_id)
    series: list[list[RunResult]] = []
    budget = MAX_READ
    for ids in by_test.values():
        if len(ids) < MIN_RUNS or budget < MIN_RUNS:
            continue
        found = [r for r in (store.get_run(i) for i in ids[:SERIES_RUNS]) if r is not None]
        budget -= len(ids[:SERIES_RUNS])
        if not found:
            continue
        newest = found[0]
        series.append([newest, *comparable_history(newest, found[1:], limit=SERIES_RUNS - 1)])
    return pooled_priors(series, metrics)


def prior_for(priors: Mapping[str, Prior] | None, metric: str) -> Prior | None:
    """The prior of ``metric`` (None: the history's default)."""
    return None if priors is None else priors.get(metric)
