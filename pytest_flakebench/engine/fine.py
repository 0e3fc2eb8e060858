"""Sub-second window samples of a run: what the regression verdict tests within a run.

The ticker already swaps every thread's tallies (latency → count dicts, per phase) out once a
second; it now does so every :data:`WINDOW_S` as well and keeps, for each window, the
measurement-phase figures only (so a window is never mixed with warmup): its measured span,
operations, errors and exact percentiles from the tallies. The one-second snapshots are built
from the same tallies as before. A window that a phase boundary cuts is kept with its shorter
span; the verdict leaves such windows out (:mod:`pytest_flakebench.compare.samples`).

Stored with the run (``RunResult.samples``, in ``RESULT_JSON``) as columns per worker, at most
:data:`MAX_WINDOWS` windows (a long run has enough one-second snapshots instead).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

WINDOW_S = 0.25
MAX_WINDOWS = 480  # 2 minutes of windows; beyond, per-second snapshots are samples enough
PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0), ("p999", 99.9))
COLUMNS = ("t", "span", "ops", "errors", *(name for name, _ in PERCENTILES), "max")


def window_figures(counts: Mapping[int, int]) -> dict[str, int | None]:
    """Nearest-rank percentiles and the maximum of ``latency_us → count`` (None: no ops)."""
    total = sum(counts.values())
    if not total:
        return {**{name: None for name, _ in PERCENTILES}, "max": None}
    ordered = sorted(counts.items())
    found: dict[str, int | None] = {}
    wanted = [(name, max(1, -(-int(pct * total * 1000) // 100_000))) for name, pct in
              PERCENTILES]  # ceil(pct/100 * total) without float surprises
    seen = 0
    index = 0
    for value, count in ordered:
        seen += count
        while index < len(wanted) and seen >= wanted[index][1]:
            found[wanted[index][0]] = value
            index += 1
    found["max"] = ordered[-1][0]
    return found


@dataclass(slots=True)
class FineSamples:
    """One worker's windows, as columns."""

    interval_s: float = WINDOW_S
    columns: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c in COLUMNS})

    def __len__(self) -> int:
        return len(self.columns["t"])

    def add(self, elapsed_s: float, span_s: float, ops: int, errors: int,
            counts: Mapping[int, int]) -> None:
        """One window that ended ``elapsed_s`` after the start, measured over ``span_s``."""
        if len(self) >= MAX_WINDOWS:
            return
        row: dict[str, Any] = {"t": round(elapsed_s, 3), "span": round(span_s, 4), "ops": ops,
                               "errors": errors, **window_figures(counts)}
        for name in COLUMNS:
            self.columns[name].append(row[name])

    def to_dict(self) -> dict[str, Any]:
        """JSON shape of one worker: ``{"t": [...], "span": [...], "ops": [...], ...}``."""
        return {name: list(values) for name, values in self.columns.items()}


def merged_counts(tallies: Iterable[Any]) -> tuple[dict[int, int], int, int]:
    """Latency counts, operations and errors of some tallies (``recorder.Tally`` or None)."""
    counts: dict[int, int] = {}
    ops = errors = 0
    for tally in tallies:
        if tally is None:
            continue
        ops += tally.ops
        errors += tally.errors
        for value, count in tally.latencies.items():
            counts[value] = counts.get(value, 0) + count
    return counts, ops, errors


def samples_record(workers: Mapping[str, Mapping[str, Any]],
                   interval_s: float = WINDOW_S) -> dict[str, Any]:
    """``RunResult.samples``: every worker's windows (empty when no worker kept any)."""
    kept = {w: dict(cols) for w, cols in workers.items() if cols and cols.get("t")}
    return {"interval_s": interval_s, "workers": kept} if kept else {}
