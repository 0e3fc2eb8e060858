"""Per-thread recorders and the ticker's aggregate: nothing lost, nothing counted twice."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator

import pytest

from pytest_flakebench.engine.recorder import (
    MAX_ERROR_SAMPLES,
    PHASE_MEASUREMENT,
    PHASE_WARMUP,
    Aggregate,
    Cell,
    Tally,
    ThreadRecorder,
)

KINDS = ["point_lookup", "range_scan", "insert"]


def total(cells: list[list[Cell]]) -> tuple[int, int, int]:
    """(ops, errors, histogram count) over all phases and kinds."""
    flat = [c for phase in cells for c in phase]
    return (sum(c.ops for c in flat), sum(c.errors for c in flat),
            sum(c.hist.count for c in flat))


def absorb(agg: Aggregate, swapped: list[list[Tally | None]],
           pending: list[Cell] | None = None) -> list[Cell]:
    """Absorb into ``pending`` (fresh cells unless given) and return it."""
    pending = pending if pending is not None else [Cell(), Cell()]
    agg.absorb(swapped, pending)
    return pending


# --------------------------------------------------------------------------- single-threaded


def test_recorder_indexes_by_phase_and_kind() -> None:
    rec = ThreadRecorder(len(KINDS))
    rec.ok(PHASE_WARMUP, 0, 100)
    rec.ok(PHASE_MEASUREMENT, 0, 200)
    rec.ok(PHASE_MEASUREMENT, 2, 300)
    rec.ok(PHASE_MEASUREMENT, 2, 400)
    rec.error(PHASE_MEASUREMENT, 1, "57014", "canceling statement")
    cells = rec.swap()
    assert len(cells) == 2 * len(KINDS)
    counts = [(c.ops, c.errors) if c is not None else None for c in cells]
    assert counts == [(1, 0), None, None, (1, 0), (0, 1), (2, 0)]
    assert rec.swap() == [None] * 6  # a fresh interval after every swap

    agg = Aggregate(KINDS)
    interval = absorb(agg, [cells])
    assert [c.ops for c in interval] == [1, 3]
    assert [c.errors for c in interval] == [0, 1]
    assert agg.cells[PHASE_MEASUREMENT][2].ops == 2
    assert agg.cells[PHASE_MEASUREMENT][2].hist.summary().max_us == 400
    assert agg.cells[PHASE_MEASUREMENT][1].error_classes == {"57014": 1}
    assert agg.cells[PHASE_WARMUP][0].hist.count == 1


def test_error_samples_are_deduplicated_and_capped() -> None:
    rec = ThreadRecorder(1)
    for i in range(20):
        rec.error(PHASE_MEASUREMENT, 0, "XX000" if i % 2 else "40001", f"message {i % 8}")
    (_, cell) = rec.swap()
    assert cell is not None
    assert cell.errors == 20
    assert cell.error_classes == {"XX000": 10, "40001": 10}
    assert cell.error_samples == [f"message {i}" for i in range(MAX_ERROR_SAMPLES)]


def test_cell_merge() -> None:
    a, b = Cell(), Cell()
    a.ops, a.errors, a.error_classes, a.error_samples = 3, 1, {"x": 1}, ["m1", "m2"]
    for v in (1, 2, 3):
        a.hist.record(v)
    b.ops, b.errors, b.error_classes = 2, 4, {"x": 2, "y": 2}
    b.error_samples = ["m2", "m3", "m4", "m5", "m6"]
    for v in (4, 5):
        b.hist.record(v)
    a.merge(b)
    assert (a.ops, a.errors, a.hist.count) == (5, 5, 5)
    assert a.error_classes == {"x": 3, "y": 2}
    assert len(a.error_samples) <= MAX_ERROR_SAMPLES
    assert a.error_samples[:3] == ["m1", "m2", "m3"]
    assert len(set(a.error_samples)) == len(a.error_samples)


def test_absorb_many_threads() -> None:
    recs = [ThreadRecorder(len(KINDS)) for _ in range(4)]
    for t, rec in enumerate(recs):
        for i in range(100):
            rec.ok(PHASE_MEASUREMENT, i % len(KINDS), 10 + t)
        rec.error(PHASE_WARMUP, t % len(KINDS), "E", f"thread {t}")
    agg = Aggregate(KINDS)
    interval = absorb(agg, [r.swap() for r in recs])
    assert interval[PHASE_MEASUREMENT].ops == 400
    assert interval[PHASE_WARMUP].errors == 4
    assert total(agg.cells) == (400, 4, 400)
    assert [c.ops for c in agg.cells[PHASE_MEASUREMENT]] == [136, 132, 132]


def test_a_reset_cell_is_empty_and_keeps_its_histogram_arrays() -> None:
    """The ticker reuses its cells (no 188 KB array per interval): after a reset a cell records
    exactly like a fresh one, into the same arrays."""
    rec = ThreadRecorder(1)
    for us in (5, 70, 900, 12_000, 4_000_000_000):  # the last is clamped
        rec.ok(PHASE_MEASUREMENT, 0, us)
    rec.error(PHASE_MEASUREMENT, 0, "57014", "canceled", latency_us=300)
    cell = Cell()
    cell.add_tally(rec.swap()[1])  # type: ignore[arg-type]
    assert (cell.ops, cell.errors, cell.hist.count, cell.hist.clamped) == (5, 1, 5, 1)
    assert cell.error_hist is not None
    arrays = (cell.hist._hist.counts, cell.error_hist._hist.counts)
    cell.reset()
    assert (cell.ops, cell.errors, cell.hist.count, cell.hist.clamped, cell.error_classes,
            cell.error_samples) == (0, 0, 0, 0, {}, [])
    assert cell.hist.summary().max_us == 0
    assert cell.error_hist.count == 0
    assert not any(cell.hist._hist.counts)
    rec.ok(PHASE_MEASUREMENT, 0, 40)
    rec.ok(PHASE_MEASUREMENT, 0, 41)
    cell.add_tally(rec.swap()[1])  # type: ignore[arg-type]
    fresh = Cell()
    fresh.hist.record(40)
    fresh.hist.record(41)
    assert cell.hist.summary() == fresh.hist.summary()
    assert cell.hist.encode() == fresh.hist.encode()
    assert cell.hist._hist.counts is arrays[0]
    assert cell.error_hist._hist.counts is arrays[1]


# --------------------------------------------------------------------------- concurrency


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Switch threads often so recording and swapping really interleave."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


@pytest.mark.usefixtures("fast_switching")
def test_nothing_lost_or_double_counted_while_swapping() -> None:
    threads, run_s, max_records = 2, 0.3, 2_000_000
    recorders = [ThreadRecorder(len(KINDS)) for _ in range(threads)]
    recorded = [[0, 0] for _ in range(threads)]  # ops, errors per recording thread
    stop_recording = threading.Event()
    stop_swapping = threading.Event()
    agg = Aggregate(KINDS)
    interval_totals = [0, 0]
    pending = [Cell(), Cell()]
    swaps = [0]
    busy_intervals = [0]  # intervals that caught records while recording was going on
    failures: list[BaseException] = []

    def record(t: int) -> None:
        try:
            rec, mine = recorders[t], recorded[t]
            for i in range(max_records):
                if i % 64 == 0 and stop_recording.is_set():
                    break
                phase = PHASE_WARMUP if i % 5 == 0 else PHASE_MEASUREMENT
                if i % 11 == 0:
                    rec.error(phase, i % len(KINDS), f"E{i % 3}", f"error {i % 7}")
                    mine[1] += 1
                else:
                    rec.ok(phase, i % len(KINDS), 1 + i % 5_000)
                    mine[0] += 1
        except BaseException as exc:  # surfaced by the main thread
            failures.append(exc)

    def swap() -> None:
        try:
            for _ in range(1_000_000):
                if stop_swapping.is_set():
                    break
                # the ticker's way: the interval cells are emptied in place and reused
                for cell in pending:
                    cell.reset()
                interval = absorb(agg, [r.swap() for r in recorders], pending)
                interval_totals[0] += sum(c.ops for c in interval)
                interval_totals[1] += sum(c.errors for c in interval)
                assert all(c.hist.count == c.ops for c in interval)
                swaps[0] += 1
                if not stop_recording.is_set() and any(c.ops for c in interval):
                    busy_intervals[0] += 1
                time.sleep(0.0002)
        except BaseException as exc:
            failures.append(exc)

    recorder_threads = [threading.Thread(target=record, args=(t,)) for t in range(threads)]
    swapper = threading.Thread(target=swap)
    swapper.start()
    for th in recorder_threads:
        th.start()
    # ~run_s, extended (bounded) on a loaded machine until enough swaps caught records
    started = time.monotonic()
    while time.monotonic() - started < 10 * run_s:
        time.sleep(0.01)
        if time.monotonic() - started >= run_s and busy_intervals[0] >= 10:
            break
    stop_recording.set()
    for th in recorder_threads:
        th.join(timeout=10)
    stop_swapping.set()
    swapper.join(timeout=10)
    assert not any(th.is_alive() for th in [*recorder_threads, swapper])
    assert failures == []
    # the last interval, after every thread stopped
    last = absorb(agg, [r.swap() for r in recorders])
    interval_totals[0] += sum(c.ops for c in last)
    interval_totals[1] += sum(c.errors for c in last)

    ops = sum(r[0] for r in recorded)
    errors = sum(r[1] for r in recorded)
    assert swaps[0] >= 5, "the swapper must really have run concurrently"
    assert busy_intervals[0] >= 3
    assert ops > 1_000
    assert errors > 100
    assert total(agg.cells) == (ops, errors, ops)
    assert interval_totals == [ops, errors]
    class_total = sum(n for phase in agg.cells for c in phase for n in c.error_classes.values())
    assert class_total == errors
    for phase in agg.cells:
        for cell in phase:
            assert cell.hist.count == cell.ops
            assert len(cell.error_samples) <= MAX_ERROR_SAMPLES
