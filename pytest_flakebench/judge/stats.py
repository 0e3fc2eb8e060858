"""Turning raw aggregates into the statistics of a run (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pytest_flakebench.engine.recorder import PHASE_MEASUREMENT, PHASE_WARMUP, Cell
from pytest_flakebench.judge.results import KindStats


def kind_stats_from_cells(kind: str, operation: Literal["read", "write", "mixed"],
                          measured: Cell, warmup: Cell, measurement_s: float) -> KindStats:
    """Statistics of one kind (or ``overall``) over the measurement window."""
    return KindStats(
        kind=kind,
        operation=operation,
        ops=measured.ops,
        errors=measured.errors,
        qps=measured.ops / measurement_s if measurement_s > 0 else 0.0,
        latency=measured.hist.summary(),
        histogram=measured.hist.encode(),
        error_classes=dict(sorted(measured.error_classes.items())),
        error_samples=tuple(measured.error_samples),
        clamped=measured.hist.clamped,
        warmup_ops=warmup.ops,
        warmup_errors=warmup.errors,
        late=measured.late,
        dropped=measured.dropped,
        lag_mean_us=measured.lag_sum_us / (measured.ops + measured.errors)
        if measured.ops + measured.errors else 0.0,
        lag_max_us=measured.lag_max_us,
        retries=measured.retries,
        rows=measured.rows,
        misses=measured.misses,
        error_p99_us=measured.error_hist.percentile_us(99.0) if measured.error_hist else 0,
        error_max_us=measured.error_hist.summary().max_us if measured.error_hist else 0,
        error_histogram=measured.error_hist.encode() if measured.error_hist else "",
    )


def stats_from_aggregate(kinds: Sequence[str], operations: dict[str, Literal["read", "write"]],
                         cells: list[list[Cell]], measurement_s: float
                         ) -> tuple[KindStats, dict[str, KindStats]]:
    """``(overall, per kind)``; overall merges the kinds' histograms, never their percentiles."""
    per_kind: dict[str, KindStats] = {}
    overall_m, overall_w = Cell(), Cell()
    for index, kind in enumerate(kinds):
        measured, warm = cells[PHASE_MEASUREMENT][index], cells[PHASE_WARMUP][index]
        per_kind[kind] = kind_stats_from_cells(kind, operations[kind], measured, warm,
                                               measurement_s)
        overall_m.merge(measured)
        overall_w.merge(warm)
    ops = set(operations.values())
    op: Literal["read", "write", "mixed"] = ops.pop() if len(ops) == 1 else "mixed"
    overall = kind_stats_from_cells("overall", op, overall_m, overall_w, measurement_s)
    return overall, per_kind
