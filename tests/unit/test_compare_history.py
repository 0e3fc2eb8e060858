"""The between-run rule: the moderated prediction bound and its prior from the store."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_flakebench.compare.gate import GateSettings, RegressionGate
from pytest_flakebench.compare.history import (
    DEFAULT_PRIOR,
    NO_PRIOR,
    Prior,
    spread_of,
    t99,
)
from pytest_flakebench.compare.prior import (
    MIN_PRIOR_SD,
    PRIOR_DF,
    pooled_priors,
    series_spread,
    store_priors,
)
from pytest_flakebench.compare.samples import fine, reference_windows
from pytest_flakebench.compare.simulate import Profile, synthetic_run
from pytest_flakebench.compare.thresholds import parse_spec
from pytest_flakebench.compare.verdict import compare_runs
from pytest_flakebench.judge.results import RunResult
from pytest_flakebench.stores import open_store

FIGURES = (100.0, 110.0, 105.0)


def _logs(figures: tuple[float, ...]) -> tuple[float, float]:
    logs = [math.log(x) for x in figures]
    mean = sum(logs) / len(logs)
    return mean, sum((v - mean) ** 2 for v in logs) / (len(logs) - 1)


def test_without_a_prior_the_bound_is_the_classic_prediction_bound() -> None:
    s = spread_of(FIGURES, prior=NO_PRIOR)
    assert s is not None
    mean, var = _logs(FIGURES)
    assert s.upper == pytest.approx(math.exp(mean + 6.965 * math.sqrt(var * 4 / 3)))
    assert s.outside(s.upper * 1.01, 1)
    assert not s.outside(111.0, 1)
    assert spread_of([100.0, 101.0]) is None


def test_the_between_run_variance_is_shrunk_toward_the_prior() -> None:
    """b̃ = (d0·b0 + (n-1)·max(0, s² - w)) / (d0 + n - 1), t with n - 1 + d0 df; w takes z."""
    w = 0.0005
    s = spread_of(FIGURES, within=w)
    assert s is not None
    assert s.prior == DEFAULT_PRIOR
    mean, var = _logs(FIGURES)
    between = (4 * 0.06 ** 2 + 2 * (var - w)) / 6
    width = math.sqrt(4 / 3 * (2.326 ** 2 * w + t99(6) ** 2 * between))
    assert t99(6) == pytest.approx(3.143)
    assert s.upper == pytest.approx(math.exp(mean + width))
    assert s.lower == pytest.approx(math.exp(mean - width))
    # far tighter than t with 2 degrees of freedom on 3 runs alone …
    classic = spread_of(FIGURES, within=w, prior=NO_PRIOR)
    assert classic is not None
    assert s.upper < classic.upper
    # … yet a run must still be beyond every one of them, however tight the bound
    steady = spread_of(FIGURES, prior=Prior(0.0001, 1000.0, "test"))
    assert steady is not None
    assert steady.upper < 110.0
    assert not steady.outside(109.9, 1)
    assert steady.outside(110.1, 1)


def test_a_long_history_outweighs_the_prior() -> None:
    rng = random.Random(3)
    figures = [100.0 * math.exp(rng.gauss(0.0, 0.2)) for _ in range(30)]
    loose = spread_of(figures, prior=Prior(0.5, 4.0, "test"))
    tight = spread_of(figures, prior=Prior(0.01, 4.0, "test"))
    assert loose is not None
    assert tight is not None
    assert loose.upper / tight.upper < 1.25
    few_loose = spread_of(figures[:3], prior=Prior(0.5, 4.0, "test"))
    few_tight = spread_of(figures[:3], prior=Prior(0.01, 4.0, "test"))
    assert few_loose is not None
    assert few_tight is not None
    assert few_loose.upper / few_tight.upper > 2.0


def test_error_rates_have_no_default_prior() -> None:
    s = spread_of([0.01, 0.02, 0.015], absolute=True)
    assert s is not None
    assert s.prior == NO_PRIOR
    assert s.upper == pytest.approx(0.015 + 6.965 * 0.005 * math.sqrt(4 / 3))


def _series(rng: random.Random, test: str, n: int, spread: float) -> list[RunResult]:
    return [synthetic_run(rng, Profile(run_spread=spread), run_id=f"{test}{i:02d}".ljust(32, "0"),
                          test=f"test_sim.py::{test}", started_at=1_700_000_000.0 + i)
            for i in range(n)][::-1]


def _pooled(series: list[list[RunResult]], metrics: tuple[str, ...]) -> dict[str, Prior]:
    spreads = [series_spread(runs, metrics) for runs in series]
    return pooled_priors([s for s in spreads if s is not None], metrics)


def test_the_pooled_prior_says_how_much_other_series_vary() -> None:
    rng = random.Random(5)
    noisy = [_series(rng, f"noisy{k}", 6, 0.6) for k in range(3)]  # levels over ±30%: sd ~17%
    steady = [_series(rng, f"steady{k}", 6, 0.0) for k in range(3)]
    loud = _pooled(noisy, ("p95", "qps", "error_rate"))
    assert loud["p95"].df == PRIOR_DF
    assert 0.08 < loud["p95"].sd < 0.3
    assert "3 other tests" in loud["p95"].source
    assert loud["error_rate"] == NO_PRIOR
    quiet = _pooled(steady, ("p95",))
    # what windows explain is not counted; never below the floor
    assert MIN_PRIOR_SD <= quiet["p95"].sd < 0.03
    # one series of 6 runs gives 5 degrees of freedom: not enough to replace the default
    assert _pooled(noisy[:1], ("p95",))["p95"] == DEFAULT_PRIOR
    # the test being judged is not its own prior
    spreads = [s for s in (series_spread(r, ("p95",)) for r in noisy) if s is not None]
    others = pooled_priors(spreads, ("p95",), exclude="test_sim.py::noisy0")
    assert others["p95"].source == "2 other tests, 10 df"


def test_store_priors_read_the_other_tests_on_the_target(tmp_path: Path) -> None:
    rng = random.Random(7)
    store = open_store(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        for k in range(3):
            for run in _series(rng, f"other{k}", 4, 0.6):
                store.save_run(run)
        own = _series(rng, "own", 4, 0.0)
        for run in own:
            store.save_run(run)
        priors = store_priors(store, own[0])
        assert priors["p95"].source == "3 other tests, 9 df"
        assert priors["p95"].sd > 0.08
        # the run's own test is left out: other1, other2 and own remain
        assert store_priors(store, _series(rng, "other0", 1, 0.0)[0])["p95"].source == (
            "3 other tests, 9 df")
        elsewhere = replace(own[0], target="sqlite:///elsewhere.db")
        assert store_priors(store, elsewhere)["p95"] == DEFAULT_PRIOR
    finally:
        store.close()


def test_with_a_history_the_windows_of_every_run_are_the_reference() -> None:
    """The within-run test weighs a baseline that ran fast or slow 1/n, not all."""
    rng = random.Random(9)
    runs = [synthetic_run(rng, run_id=f"r{i}") for i in range(3)]
    own = fine(runs[0])
    assert own is not None
    pooled = reference_windows(runs, own, windows=True)
    assert len(pooled) == sum(len(s) for s in map(fine, runs) if s is not None)
    assert pooled.of("p95")[:len(own)] == own.of("p95")
    assert reference_windows(runs, own, windows=False) is own
    # the verdict's samples column counts them: 3 runs' windows against the candidate's
    cand = synthetic_run(rng, Profile(slowdown=1.5), run_id="c")
    c = compare_runs(runs[0], cand, parse_spec("p95:+10%"), history=runs[1:])
    p95 = next(m for m in c.metrics if m.metric == "p95")
    assert p95.samples[0] == len(pooled)
    assert c.verdict == "REGRESSED", c.reason
    one = compare_runs(runs[0], cand, parse_spec("p95:+10%"))
    assert next(m for m in one.metrics if m.metric == "p95").samples[0] == len(own)


def test_the_gate_names_the_prior_pooled_from_the_store(tmp_path: Path) -> None:
    """Other tests on the target that vary by ~17% make a 1.5x change of a test with 3 steady
    runs INCONCLUSIVE, where the default prior (6%) finds it REGRESSED."""
    rng = random.Random(11)
    url = f"sqlite:///{tmp_path / 'r.db'}"
    own = _series(rng, "own", 3, 0.0)
    slow = synthetic_run(rng, Profile(slowdown=1.5), run_id="slow".ljust(32, "0"),
                         test="test_sim.py::own", started_at=1_700_000_100.0)

    def judged() -> str:
        gate = RegressionGate(GateSettings("last", "p95:+10%", url, tmp_path))
        try:
            comparison = gate.comparison_for(slow)
        finally:
            gate.close()
        assert comparison is not None
        return f"{comparison.verdict}: {comparison.reason}"

    store = open_store(url)
    try:
        for run in own:
            store.save_run(run)
        assert judged().startswith("REGRESSED"), judged()
        assert "prior 6.0% (4 runs, default)" in judged()
        for k in range(3):
            for run in _series(rng, f"other{k}", 4, 0.6):
                store.save_run(run)
    finally:
        store.close()
    verdict = judged()
    assert "(4 runs, 3 other tests, 9 df)" in verdict, verdict
    assert verdict.startswith("INCONCLUSIVE"), verdict
