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
    rows: int = 0  # rows returned (reads) or affected (writes) by the successful operations
    misses: int = 0  # successes that touched no row where one was expected (expect_row)
    error_hist: LatencyHistogram | None = None  # failed operations' latencies (made on need)
    error_classes: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    late: int = 0  # open loop: started more than late_after after the intended time
    dropped: int = 0  # open loop: could not start within drop_after, never sent
    retries: int = 0  # extra tries of serialization failures and deadlocks
    lag_sum_us: int = 0  # open loop: schedule lag (start - intended) of the sent operations
    lag_max_us: int = 0

    def merge(self, other: Cell) -> None:
        """Add ``other`` into this cell."""
        self.hist.add(other.hist)
        self.ops += other.ops
        self.errors += other.errors
        self.rows += other.rows
        self.misses += other.misses
        if other.error_hist is not None:
            if self.error_hist is None:
                self.error_hist = LatencyHistogram()
            self.error_hist.add(other.error_hist)
        self.late += other.late
        self.dropped += other.dropped
        self.retries += other.retries
        self.lag_sum_us += other.lag_sum_us
        self.lag_max_us = max(self.lag_max_us, other.lag_max_us)
        for code, n in other.error_classes.items():
            self.error_classes[code] = self.error_classes.get(code, 0) + n
        room = MAX_ERROR_SAMPLES - len(self.error_samples)
        if room > 0:
            self.error_samples.extend(
                s for s in other.error_samples[:room] if s not in self.error_samples
            )


@dataclass(slots=True)
class Tally:
    """What a thread records between two ticks: latencies as value -> count, and errors.

    A dict increment costs a fraction of ``HdrHistogram.record_value`` (pure Python); the
    ticker moves the counts into a histogram once a second, off the benchmark threads' path.
    """

    latencies: dict[int, int] = field(default_factory=dict)
    ops: int = 0
    errors: int = 0
    rows: int = 0
    misses: int = 0
    error_latencies: dict[int, int] = field(default_factory=dict)  # failed operations
    error_classes: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    # completion instants (engine clock) of the first/last success and failure (0: none)
    ok_first: int = 0
    ok_last: int = 0
    err_first: int = 0
    err_last: int = 0
    late: int = 0
    dropped: int = 0
    retries: int = 0
    lag_sum_us: int = 0
    lag_max_us: int = 0

    def to_cell(self) -> Cell:
        """The tally as a cell with a histogram."""
        hist = LatencyHistogram()
        for latency_us, count in self.latencies.items():
            hist.record(latency_us, count)
        error_hist = None
        if self.error_latencies:
            error_hist = LatencyHistogram()
            for latency_us, count in self.error_latencies.items():
                error_hist.record(latency_us, count)
        return Cell(hist=hist, ops=self.ops, errors=self.errors, rows=self.rows,
                    misses=self.misses, error_hist=error_hist,
                    error_classes=self.error_classes, error_samples=self.error_samples,
                    late=self.late, dropped=self.dropped, retries=self.retries,
                    lag_sum_us=self.lag_sum_us,
                    lag_max_us=self.lag_max_us)


class ThreadRecorder:
    """Interval tallies of one thread, indexed by ``phase * kind_count + kind_index``."""

    __slots__ = ("_kind_count", "cells", "in_flight", "lock", "queries", "schedule_error",
                 "sent", "spin_ns")

    def __init__(self, kind_count: int) -> None:
        self._kind_count = kind_count
        # Read and written only under ``lock`` (the engine's hot loop does so inline).
        self.cells: list[Tally | None] = [None] * (2 * kind_count)
        self.lock = threading.Lock()
        self.in_flight = 0
        # Sampled per-query records: (kind, phase, t0_ns, latency_us, ok, error code); this
        # thread appends, the engine reads them once every thread has left.
        self.queries: list[tuple[int, int, int, int, bool, str | None]] = []
        # Open loop, written under ``lock``: start error (µs late) -> count of the operations
        # that waited for their intended time, and the ns this thread spent spinning.
        self.schedule_error: dict[int, int] = {}
        self.spin_ns = 0
        self.sent = 0  # operations sent over the whole run, set when the thread's loop ends

    def ok(self, phase: int, kind: int, latency_us: int) -> None:
        """Record a successful operation."""
        index = phase * self._kind_count + kind
        with self.lock:
            cell = self.cells[index]
            if cell is None:
                cell = self.cells[index] = Tally()
            latencies = cell.latencies
            latencies[latency_us] = latencies.get(latency_us, 0) + 1
            cell.ops += 1

    def error(self, phase: int, kind: int, code: str, message: str, *, retries: int = 0,
              latency_us: int | None = None) -> None:
        """Record a failed operation with its error class and message (and its latency)."""
        index = phase * self._kind_count + kind
        with self.lock:
            cell = self.cells[index]
            if cell is None:
                cell = self.cells[index] = Tally()
            cell.errors += 1
            if latency_us is not None:
                cell.error_latencies[latency_us] = cell.error_latencies.get(latency_us, 0) + 1
            cell.retries += retries
            cell.error_classes[code] = cell.error_classes.get(code, 0) + 1
            if len(cell.error_samples) < MAX_ERROR_SAMPLES and message not in cell.error_samples:
                cell.error_samples.append(message)

    def swap(self) -> list[Tally | None]:
        """Take this interval's tallies and start a new interval."""
        fresh: list[Tally | None] = [None] * (2 * self._kind_count)
        with self.lock:
            cells, self.cells = self.cells, fresh
        return cells


class Aggregate:
    """Cumulative cells per (phase, kind), fed by the ticker."""

    def __init__(self, kinds: list[str]) -> None:
        self.kinds = kinds
        self.cells: list[list[Cell]] = [[Cell() for _ in kinds] for _ in PHASE_NAMES]

    def absorb(self, swapped: list[list[Tally | None]]) -> list[Cell]:
        """Merge threads' swapped tallies; return this interval's cell per phase (all kinds)."""
        n = len(self.kinds)
        interval = [Cell() for _ in PHASE_NAMES]
        for tallies in swapped:
            for index, tally in enumerate(tallies):
                if tally is None:
                    continue
                phase, kind = divmod(index, n)
                cell = tally.to_cell()
                self.cells[phase][kind].merge(cell)
                interval[phase].merge(cell)
        return interval
