"""Per-thread recording of outcomes, and the aggregation the ticker does once a second.

Each benchmark thread owns a ``ThreadRecorder``; it records into interval cells under its own
lock (uncontended except for the instant the ticker swaps the cells out), so no outcome is lost
or double counted at an interval boundary. The ticker records the swapped-out tallies into the
interval snapshot's cells and into the per-phase cumulative aggregates; those histograms live as
long as the run and are emptied in place, never allocated per interval.
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

    def add_tally(self, tally: Tally) -> None:
        """Add a thread's interval tally into this cell, recording straight into its histograms
        (no histogram is allocated per tally: the ticker does this several times a second)."""
        record = self.hist.record
        for latency_us, count in tally.latencies.items():
            record(latency_us, count)
        if tally.error_latencies:
            if self.error_hist is None:
                self.error_hist = LatencyHistogram()
            record = self.error_hist.record
            for latency_us, count in tally.error_latencies.items():
                record(latency_us, count)
        self.ops += tally.ops
        self.errors += tally.errors
        self.rows += tally.rows
        self.misses += tally.misses
        self.late += tally.late
        self.dropped += tally.dropped
        self.retries += tally.retries
        self.lag_sum_us += tally.lag_sum_us
        self.lag_max_us = max(self.lag_max_us, tally.lag_max_us)
        for code, n in tally.error_classes.items():
            self.error_classes[code] = self.error_classes.get(code, 0) + n
        room = MAX_ERROR_SAMPLES - len(self.error_samples)
        if room > 0:
            self.error_samples.extend(
                s for s in tally.error_samples[:room] if s not in self.error_samples
            )

    def reset(self) -> None:
        """Empty the cell in place, keeping its histograms' arrays for the next interval."""
        self.hist.reset()
        if self.error_hist is not None:
            self.error_hist.reset()
        self.ops = self.errors = self.rows = self.misses = 0
        self.late = self.dropped = self.retries = self.lag_sum_us = self.lag_max_us = 0
        self.error_classes = {}
        self.error_samples = []

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
        # one reused cell per (phase, kind), indexed like a thread's tallies
        self._fresh = [Cell() for _ in range(len(PHASE_NAMES) * len(kinds))]

    def absorb(self, swapped: list[list[Tally | None]], pending: list[Cell]) -> None:
        """Add threads' swapped tallies into the cumulative cells and into ``pending`` (one cell
        per phase, all kinds: the interval the next snapshot reports).

        Each tally's latencies are recorded once (pure Python, per distinct value) into a
        reused per-kind cell, which is then added to both targets with the histogram's array
        addition (C) and emptied: the ticker holds the interpreter as briefly as it can, since
        the benchmark threads of this process need it too.
        """
        n = len(self.kinds)
        fresh = self._fresh
        touched: set[int] = set()
        for tallies in swapped:
            for index, tally in enumerate(tallies):
                if tally is not None:
                    fresh[index].add_tally(tally)
                    touched.add(index)
        for index in touched:
            phase, kind = divmod(index, n)
            cell = fresh[index]
            self.cells[phase][kind].merge(cell)
            pending[phase].merge(cell)
            cell.reset()

    def measured(self, into: Cell) -> Cell:
        """Every kind's measured operations so far, merged into ``into`` (emptied first)."""
        into.reset()
        for cell in self.cells[PHASE_MEASUREMENT]:
            into.merge(cell)
        return into
