"""Per-thread recording of outcomes, and the aggregation the ticker does once a second.

Each benchmark thread owns a ``ThreadRecorder``; it records into interval cells under its own
lock (uncontended except for the instant the ticker swaps the cells out), so no outcome is lost
or double counted at an interval boundary. The ticker merges the swapped-out cells into the
interval snapshot and into the per-phase cumulative aggregates.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from pytest_flakebench.histogram import LatencyHistogram

PHASE_WARMUP = 0
PHASE_MEASUREMENT = 1
PHASE_NAMES = ("WARMUP", "MEASUREMENT")
MAX_ERROR_SAMPLES = 5


@dataclass(slots=True)
class Cell:
    """Outcomes of one kind in one phase over some span of time."""

    hist: LatencyHistogram = field(default_factory=LatencyHistogram)
    ops: int = 0
    errors: int = 0
    error_classes: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)

    def merge(self, other: Cell) -> None:
        """Add ``other`` into this cell."""
        self.hist.add(other.hist)
        self.ops += other.ops
        self.errors += other.errors
        for code, n in other.error_classes.items():
            self.error_classes[code] = self.error_classes.get(code, 0) + n
        room = MAX_ERROR_SAMPLES - len(self.error_samples)
        if room > 0:
            self.error_samples.extend(
                s for s in other.error_samples[:room] if s not in self.error_samples
            )


class ThreadRecorder:
    """Interval cells of one thread, indexed by ``phase * kind_count + kind_index``."""

    __slots__ = ("_cells", "_kind_count", "in_flight", "lock")

    def __init__(self, kind_count: int) -> None:
        self._kind_count = kind_count
        self._cells: list[Cell | None] = [None] * (2 * kind_count)
        self.lock = threading.Lock()
        self.in_flight = 0

    def ok(self, phase: int, kind: int, latency_us: int) -> None:
        """Record a successful operation."""
        index = phase * self._kind_count + kind
        with self.lock:
            cell = self._cells[index]
            if cell is None:
                cell = self._cells[index] = Cell()
            cell.hist.record(latency_us)
            cell.ops += 1

    def error(self, phase: int, kind: int, code: str, message: str) -> None:
        """Record a failed operation with its error class and message."""
        index = phase * self._kind_count + kind
        with self.lock:
            cell = self._cells[index]
            if cell is None:
                cell = self._cells[index] = Cell()
            cell.errors += 1
            cell.error_classes[code] = cell.error_classes.get(code, 0) + 1
            if len(cell.error_samples) < MAX_ERROR_SAMPLES and message not in cell.error_samples:
                cell.error_samples.append(message)

    def swap(self) -> list[Cell | None]:
        """Take this interval's cells and start a new interval."""
        fresh: list[Cell | None] = [None] * (2 * self._kind_count)
        with self.lock:
            cells, self._cells = self._cells, fresh
        return cells


class Aggregate:
    """Cumulative cells per (phase, kind), fed by the ticker."""

    def __init__(self, kinds: list[str]) -> None:
        self.kinds = kinds
        self.cells: list[list[Cell]] = [[Cell() for _ in kinds] for _ in PHASE_NAMES]

    def absorb(self, swapped: list[list[Cell | None]]) -> list[Cell]:
        """Merge threads' swapped cells; return this interval's cell per phase (all kinds)."""
        n = len(self.kinds)
        interval = [Cell() for _ in PHASE_NAMES]
        for cells in swapped:
            for index, cell in enumerate(cells):
                if cell is None:
                    continue
                phase, kind = divmod(index, n)
                self.cells[phase][kind].merge(cell)
                interval[phase].merge(cell)
        return interval
