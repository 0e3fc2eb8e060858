"""The regression gate of a pytest session: finds each run's baseline in the store and compares.

Used by the plugin (``--flakebench-compare``, ``--flakebench-compare-fail``, per-test
``regression=``) in the process that reports the test and in the controller for the terminal
summary; comparisons are cached per run. Reads the store only (never writes), so workers can
use it too. The statistics live in :mod:`pytest_flakebench.compare` (pure).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pytest_flakebench.compare.baseline import (
    BaselineRequest,
    comparable_history,
    parse_request,
    pick_last_comparable,
    target_identity,
)
from pytest_flakebench.compare.history import Prior
from pytest_flakebench.compare.prior import SeriesSpread, pooled_priors, store_spreads
from pytest_flakebench.compare.thresholds import DIRECTION, Threshold, from_mapping, parse_spec
from pytest_flakebench.compare.verdict import Comparison, compare_runs
from pytest_flakebench.errors import FlakebenchError
from pytest_flakebench.judge.results import RunResult
from pytest_flakebench.stores.base import ResultStore

log = logging.getLogger("pytest_flakebench")

SEARCH_DEPTH = 20  # earlier runs of the same test looked at for the baseline and the history
HISTORY = 10  # comparable runs (the baseline included) that say how much runs vary


@dataclass(frozen=True, slots=True)
class GateSettings:
    """What the session asked for."""

    compare: str | None  # None: only tests with regression= are compared
    compare_fail: str | None  # "p95:+10%,qps:-5%"
    store_url: str | None
    rootdir: Path


def previous_runs(store: ResultStore, run: RunResult) -> Iterator[RunResult]:
    """Earlier COMPLETED runs of the same test (newest first, up to :data:`SEARCH_DEPTH`)."""
    rows = store.list_runs(limit=SEARCH_DEPTH, test=run.test, status="COMPLETED")
    for row in rows:
        if row.test != run.test or row.run_id == run.run_id or row.status != "COMPLETED":
            continue
        found = store.get_run(row.run_id)
        if found is not None:
            yield found


def history_besides(run: RunResult, baseline: RunResult,
                    previous: Iterable[RunResult]) -> list[RunResult]:
    """The comparable runs before ``run`` other than ``baseline`` (with it: :data:`HISTORY`)."""
    found = comparable_history(run, previous, limit=HISTORY)
    return [h for h in found if h.run_id != baseline.run_id][:HISTORY - 1]


class RegressionGate:
    """Per-session comparisons, cached by run id."""

    def __init__(self, settings: GateSettings) -> None:
        self.settings = settings
        self.request: BaselineRequest = parse_request(settings.compare)
        self.cli_thresholds: dict[str, Threshold] = (
            parse_spec(settings.compare_fail) if settings.compare_fail else {})
        self._store: ResultStore | None = None
        self._cache: dict[str, Comparison | None] = {}
        self._spreads: dict[str, list[SeriesSpread]] = {}  # by target: read once a session
        self.order: list[str] = []

    def thresholds_for(self, run: RunResult) -> dict[str, Threshold]:
        """The session's limits, overridden metric by metric by the test's ``regression=``."""
        own = run.template.get("regression") or {}
        return {**self.cli_thresholds,
                **from_mapping({k: v for k, v in own.items() if v is not None})}

    def wanted(self, run: RunResult) -> bool:
        """Whether this run is compared at all."""
        return (self.settings.compare is not None or bool(self.cli_thresholds)
                or bool(run.template.get("regression") and any(
                    v is not None for v in run.template["regression"].values())))

    def _open(self) -> ResultStore | None:
        if self._store is None and self.settings.store_url is not None:
            from pytest_flakebench.stores import open_store

            self._store = open_store(self.settings.store_url, base_dir=self.settings.rootdir)
        return self._store

    def comparison_for(self, run: RunResult) -> Comparison | None:
        """The run against its baseline (None when not asked for); cached."""
        if run.run_id in self._cache:
            return self._cache[run.run_id]
        comparison: Comparison | None = None
        if self.wanted(run):
            try:
                comparison = self._compare(run)
            except FlakebenchError as exc:
                log.warning("flakebench: cannot compare run %s: %s", run.run_id, exc)
                comparison = Comparison(run.test, run.run_id, None, self.request.label(),
                                        "NO BASELINE", notes=(f"cannot read the store: {exc}",))
        self._cache[run.run_id] = comparison
        if comparison is not None:
            self.order.append(run.run_id)
        return comparison

    def remember(self, comparison: Comparison) -> None:
        """A comparison made elsewhere (A/B mode) is this run's verdict."""
        self._cache[comparison.candidate_id] = comparison
        if comparison.candidate_id not in self.order:
            self.order.append(comparison.candidate_id)

    def remember_none(self, run_id: str) -> None:
        """This run is not compared on its own (an A/B trial)."""
        self._cache[run_id] = None

    def comparisons(self) -> list[Comparison]:
        """Every comparison made, in order."""
        return [c for rid in self.order if (c := self._cache.get(rid)) is not None]

    def _compare(self, run: RunResult) -> Comparison:
        label = self.request.label()
        store = self._open()
        if store is None:
            return Comparison(run.test, run.run_id, None, label, "NO BASELINE",
                              notes=("no results store (--flakebench-store=none): nothing to "
                                     "compare with",))
        if not run.snapshots:
            # A worker gets the merged result without its snapshots: read the stored run.
            run = store.get_run(run.run_id) or run
        thresholds = self.thresholds_for(run)
        if self.request.kind == "last":
            previous = list(self._previous(store, run))
            base, diffs = pick_last_comparable(run, previous)
            if base is None:
                return Comparison(run.test, run.run_id, None, label, "NO BASELINE",
                                  notes=("no earlier completed run of this test on this target",))
            if diffs:
                return Comparison(run.test, run.run_id, base.run_id,
                                  f"newest earlier run {base.run_id[:8]}", "NOT COMPARABLE",
                                  differences=tuple(diffs),
                                  notes=("no earlier run with the same fingerprint",))
            return compare_runs(base, run, thresholds, baseline_label=label,
                                history=history_besides(run, base, previous),
                                priors=self._priors_for(store, run))
        run_id = self.request.value
        if self.request.kind == "named":
            found = store.get_baseline(self.request.value)
            if found is None:
                return Comparison(run.test, run.run_id, None, label, "NO BASELINE",
                                  notes=(f"no baseline named {self.request.value!r}: "
                                         f"see `flakebench baseline list`",))
            run_id = found
        base = store.get_run(run_id)
        if base is None:
            return Comparison(run.test, run.run_id, None, label, "NO BASELINE",
                              notes=(f"no run {run_id!r} in the store",))
        return compare_runs(base, run, thresholds, baseline_label=label,
                            history=history_besides(run, base, self._previous(store, run)),
                            priors=self._priors_for(store, run))

    def _priors_for(self, store: ResultStore, run: RunResult) -> dict[str, Prior]:
        """The between-run priors of the run, pooled from the other tests on its target (their
        spreads are read from the store once a session per target)."""
        key = target_identity(run.target)
        if key not in self._spreads:
            self._spreads[key] = store_spreads(store, run.target)
        return pooled_priors(self._spreads[key], DIRECTION, exclude=run.test)

    @staticmethod
    def _previous(store: ResultStore, run: RunResult) -> Iterator[RunResult]:
        return previous_runs(store, run)

    def close(self) -> None:
        """Release the store."""
        if self._store is not None:
            self._store.close()
            self._store = None
