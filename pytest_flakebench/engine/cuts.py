"""The ticker's snapshots: each interval holds one phase's operations and never spans two steps.

``Cuts`` is driven by the engine's ticker thread only; it swaps the threads' tallies out, splits
them by phase and emits ``Snapshot`` values (and progress ``Tick`` values) at the cuts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_flakebench.engine.availability import Availability
from pytest_flakebench.engine.fine import FineSamples, merged_counts
from pytest_flakebench.engine.recorder import PHASE_MEASUREMENT, PHASE_NAMES, Aggregate, Cell
from pytest_flakebench.judge.results import Phase, Snapshot

if TYPE_CHECKING:
    from pytest_flakebench.engine.runner import Engine

NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Tick:
    """Progress once a second, for live views."""

    phase: str
    elapsed_s: float
    remaining_s: float
    interval_qps: float
    p50_us: int
    p95_us: int
    p99_us: int
    ops: int  # measurement phase, so far
    errors: int
    in_flight: int
    active: int  # connections currently allowed to send load
    snapshot: Snapshot  # this second's snapshot of this process


class Cuts:
    """The ticker's snapshots: one per interval, each holding one phase's operations only.

    Every swap of the threads' tallies is split by phase (an operation's phase is fixed by its
    start time) into a pending cell per phase. The WARMUP interval that ends at the measurement
    start is emitted at the first measurement tick, so warmup operations still in flight at the
    boundary land in it; the MEASUREMENT intervals are ``tick_s`` long from the measurement
    start (on this engine's clock), cut early by a step change, and the last one ends at the
    window's end and is emitted when every thread has left.
    """

    def __init__(self, engine: Engine, aggregate: Aggregate, start_ns: int,
                 started_at: float) -> None:
        self.engine = engine
        self.aggregate = aggregate
        self.start_ns = start_ns
        self.started_at = started_at
        self.snapshots: list[Snapshot] = []
        # The interval's cells per phase and a scratch cell for live views: allocated once,
        # emptied in place after each snapshot (no 188 KB histogram array per interval).
        self.pending = [Cell() for _ in PHASE_NAMES]
        self.scratch = Cell()
        self.phase = PHASE_MEASUREMENT if engine.shared.measure_ns <= start_ns else 0
        self.last_cut = start_ns
        self.anchor = start_ns  # regular cuts fall on anchor + k * tick (no drift)
        self.warmup_close: tuple[int, int] | None = None  # (from, to) of the last warmup span
        self.ended = False
        self.step = engine.shared.step  # the find_max step of the interval being recorded
        # Sub-second windows of measurement (fine.py), cut at every swap of the tallies.
        self.fine = FineSamples(engine.config.window_s)
        self.window_from = start_ns
        self.availability = Availability()
        self.unavailable_s = 0.0
        if self.phase == PHASE_MEASUREMENT:
            self.availability.begin(engine.shared.measure_ns)

    def next_due(self, tick_ns: int) -> int | None:
        """When the ticker must wake next (None once the window has ended)."""
        shared = self.engine.shared
        due = self.anchor + ((self.last_cut - self.anchor) // tick_ns + 1) * tick_ns
        if self.phase == PHASE_MEASUREMENT:
            if self.last_cut >= shared.end_ns or self.ended:
                return None
            return min(due, shared.end_ns)
        return min(due, shared.measure_ns)

    def window_due(self, window_ns: int) -> int:
        """When the current sub-second window ends."""
        return self.window_from + window_ns

    def _window(self, swapped: list[list[Any]], now: int) -> None:
        """Keep the measurement-phase figures of the window ending at ``now``."""
        shared = self.engine.shared
        span = min(now, shared.end_ns) - max(self.window_from, shared.measure_ns)
        self.window_from = now
        if span <= 0:
            return  # warmup, or after the window's end
        n = len(self.aggregate.kinds)
        first = PHASE_MEASUREMENT * n
        counts, ops, errors = merged_counts(t for tallies in swapped
                                            for t in tallies[first:first + n])
        self.fine.add((now - self.start_ns) / NS, span / NS, ops, errors, counts)

    def _availability(self, swapped: list[list[Any]]) -> None:
        n = len(self.aggregate.kinds)
        first = PHASE_MEASUREMENT * n
        ok_first = ok_last = err_first = err_last = 0
        for tallies in swapped:
            for t in tallies[first:first + n]:
                if t is None:
                    continue
                if t.ok_first and (not ok_first or t.ok_first < ok_first):
                    ok_first = t.ok_first
                ok_last = max(ok_last, t.ok_last)
                if t.err_first and (not err_first or t.err_first < err_first):
                    err_first = t.err_first
                err_last = max(err_last, t.err_last)
        if ok_first or err_first:
            self.availability.interval(ok_first, ok_last, err_first, err_last)

    def _swap(self, now: int | None = None) -> int:
        """Take every thread's tallies; the cut's instant is read after them (unless given)."""
        swapped = [r.swap() for r in self.engine.recorders]
        if now is None:
            now = self.engine.clock()
        self._window(swapped, now)
        self._availability(swapped)
        self.aggregate.absorb(swapped, self.pending)
        return now

    def advance(self, *, due: int, wake: bool, planned_end: int) -> None:
        """A wake of the ticker: cross a phase boundary, or cut the interval.

        The clock is read after the swap, so every operation in the swapped tallies ended
        before the cut; one still in flight lands in the next interval.
        """
        shared = self.engine.shared
        now = self._swap()
        if self.phase != PHASE_MEASUREMENT and now >= shared.measure_ns:
            # Measurement began: the warmup interval ends exactly there; emit it a tick later.
            self.warmup_close = (self.last_cut, shared.measure_ns)
            self.phase = PHASE_MEASUREMENT
            self.last_cut = self.anchor = shared.measure_ns
            self.availability.begin(shared.measure_ns)
            self.step = shared.step
            return
        if self.phase == PHASE_MEASUREMENT and now >= shared.end_ns:
            self.ended = True  # the last interval is cut when the threads have left
            return
        if wake or now >= due:
            self._close_warmup(planned_end)
            self._emit(self.phase, self.last_cut, now, planned_end)
            self.last_cut = now
            if wake:
                self.anchor = now  # a step change: the next intervals count from it
                self.step = shared.step

    def _close_warmup(self, planned_end: int) -> None:
        if self.warmup_close is not None:
            begin, end = self.warmup_close
            self.warmup_close = None
            self._emit(0, begin, end, planned_end)
        # Warmup operations in flight for longer than a tick after the boundary stay in the
        # aggregate (warmup_ops) but in no snapshot: a snapshot never mixes phases.
        if self.phase == PHASE_MEASUREMENT:
            self.pending[0].reset()

    def final(self, now: int, planned_end: int) -> None:
        """Every thread has left (or the drain timed out): the last interval."""
        shared = self.engine.shared
        self._swap(now)
        if self.phase != PHASE_MEASUREMENT and now >= shared.measure_ns:
            self.warmup_close = (self.last_cut, min(shared.measure_ns, now))
            self.phase = PHASE_MEASUREMENT
            self.last_cut = min(shared.measure_ns, now)
            self.availability.begin(self.last_cut)
        self._close_warmup(planned_end)
        end = min(now, shared.end_ns)
        self.unavailable_s = self.availability.end(end)
        measured = self.pending[1]
        if (self.phase == PHASE_MEASUREMENT and end > self.last_cut) or measured.ops \
                or measured.errors:
            self._emit(PHASE_MEASUREMENT, self.last_cut, max(end, self.last_cut), planned_end)
        elif self.phase == 0:
            self._emit(0, self.last_cut, now, planned_end)

    def _emit(self, phase: int, begin: int, end: int, planned_end: int) -> None:
        engine = self.engine
        shared = engine.shared
        merged = self.pending[phase]  # emptied in place once its snapshot is built
        name: Phase = "WARMUP" if phase == 0 else "MEASUREMENT"
        span_s = max(end - begin, 1) / NS
        in_flight = sum(r.in_flight for r in engine.recorders)
        p50, p95, p99 = merged.hist.percentiles_us((50.0, 95.0, 99.0))
        snapshot = Snapshot(
            worker_id=engine.config.worker_id, seq=len(self.snapshots),
            ts=self.started_at + (end - self.start_ns) / NS,
            elapsed_s=round((end - self.start_ns) / NS, 3), phase=name, ops=merged.ops,
            errors=merged.errors, in_flight=in_flight, qps=merged.ops / span_s,
            p50_us=p50, p95_us=p95, p99_us=p99,
            histogram=merged.hist.encode(), active_connections=shared.active,
            span_s=round(span_s, 6), client_cpu=round(engine.meter.interval_cpu, 3),
            step=self.step,
        )
        self.snapshots.append(snapshot)
        if engine.on_tick is not None:
            measured = self.aggregate.measured(self.scratch)
            current = measured if measured.ops else merged
            c50, c95, c99 = current.hist.percentiles_us((50.0, 95.0, 99.0))
            engine.on_tick(Tick(
                phase=name, elapsed_s=(end - self.start_ns) / NS,
                remaining_s=max(0.0, (planned_end - end) / NS), interval_qps=merged.ops / span_s,
                p50_us=c50, p95_us=c95, p99_us=c99, ops=measured.ops,
                errors=measured.errors, in_flight=in_flight, active=shared.active,
                snapshot=snapshot,
            ))
        merged.reset()


__all__ = ["Cuts", "Tick"]
