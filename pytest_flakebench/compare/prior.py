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
from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class SeriesSpread:
    """How much one other test's comparable runs vary, per metric: ``(df, between)``.

    ``between`` is the variance of the runs' log figures less the mean variance their own
    windows explain (``max(0, s² - w)``), ``df`` its degrees of freedom (runs - 1).
    """

    test: str
    by_metric: Mapping[str, tuple[int, float]]


def series_spread(runs: Sequence[RunResult], metrics: Iterable[str]) -> SeriesSpread | None:
    """The spread of one test's comparable runs (None for fewer than :data:`MIN_RUNS`)."""
    if len(runs) < MIN_RUNS:
        return None
    found: dict[str, tuple[int, float]] = {}
    for metric in metrics:
        logs = [math.log(f) for f in (_figure(r, metric) for r in runs) if f > 0]
        if metric == "error_rate" or len(logs) < MIN_RUNS:
            continue  # error rates have no common scale across tests
        mean = sum(logs) / len(logs)
        variance = sum((v - mean) ** 2 for v in logs) / (len(logs) - 1)
        known = [v for v in (_within(r, metric) for r in runs) if v is not None]
        w = sum(known) / len(known) if known else 0.0
        found[metric] = (len(logs) - 1, max(0.0, variance - w))
    return SeriesSpread(runs[0].test, found)


def pooled_priors(spreads: Iterable[SeriesSpread], metrics: Iterable[str], *,
                  exclude: str = "") -> dict[str, Prior]:
    """Per metric, the prior pooled from the other tests' ``spreads`` (``exclude``: the test
    being judged). Absolute metrics (error rates) get :data:`.history.NO_PRIOR`."""
    others = [s for s in spreads if s.test != exclude]
    priors: dict[str, Prior] = {}
    for metric in metrics:
        if metric == "error_rate":
            priors[metric] = NO_PRIOR
            continue
        parts = [s.by_metric[metric] for s in others if metric in s.by_metric]
        df = sum(d for d, _ in parts)
        if df < MIN_POOLED_DF:
            priors[metric] = DEFAULT_PRIOR
            continue
        sd = max(MIN_PRIOR_SD, math.sqrt(sum(d * b for d, b in parts) / df))
        priors[metric] = Prior(sd, PRIOR_DF, f"{len(parts)} other tests, {df} df")
    return priors


def store_spreads(store: ResultStore, target: str,
                  metrics: Iterable[str] = tuple(DIRECTION)) -> list[SeriesSpread]:
    """The spread of every test's recent comparable runs on ``target`` in ``store``.

    Read once a session per target (:class:`.gate.RegressionGate`), at most :data:`MAX_READ`
    runs. A/B trials (``NODEID[ab:A1]``) are left out: short trials vary more than runs do.
    """
    wanted = tuple(metrics)
    identity = target_identity(target)
    by_test: dict[str, list[str]] = {}
    for row in store.list_runs(limit=SCAN_RUNS, status="COMPLETED"):
        if ("[ab:" not in row.test and row.status == "COMPLETED"
                and target_identity(row.target) == identity):
            by_test.setdefault(row.test, []).append(row.run_id)
    spreads: list[SeriesSpread] = []
    budget = MAX_READ
    for ids in by_test.values():
        if len(ids) < MIN_RUNS or budget < MIN_RUNS:
            continue
        found = [r for r in (store.get_run(i) for i in ids[:SERIES_RUNS]) if r is not None]
        budget -= len(ids[:SERIES_RUNS])
        if not found:
            continue
        newest = found[0]
        runs = [newest, *comparable_history(newest, found[1:], limit=SERIES_RUNS - 1)]
        spread = series_spread(runs, wanted)
        if spread is not None:
            spreads.append(spread)
    return spreads


def store_priors(store: ResultStore, run: RunResult) -> dict[str, Prior]:
    """The priors for ``run``: the other tests' spreads on its target in ``store``."""
    return pooled_priors(store_spreads(store, run.target), DIRECTION, exclude=run.test)
