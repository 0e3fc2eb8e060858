"""The benchmark threads' loop: the timed region lives here and nowhere else.

One loop body serves both modes; they differ only in pacing. The closed loop (mode
``concurrency``) starts each operation when the previous one on its connection ended, plus think
time. The open loop (mode ``qps``) claims the next intended start from the shared schedule, waits
for it and measures latency from it, so a stall is never hidden (no coordinated omission).
Everything else (parameters, the round trip, ``max_tries`` retries, error handling, recording)
is the same code for both. It runs once per operation: the plans, the recorder and the shared
state are read into locals once, and the outcome is recorded inline in one place (``RECORD``).
"""

from __future__ import annotations

import itertools
import os
import random
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_flakebench.drivers.base import DriverConnection, Statement, bind_statement
from pytest_flakebench.engine.plan import KindPlan, PythonOp
from pytest_flakebench.engine.recorder import MAX_ERROR_SAMPLES, Tally, ThreadRecorder
from pytest_flakebench.workload.context import ThreadContext
from pytest_flakebench.workload.mix import thread_offset

if TYPE_CHECKING:
    from pytest_flakebench.engine.runner import Engine

NS = 1_000_000_000
QUERY_CAP = 100_000  # sampled records kept per thread, at most
# The open loop sleeps until this long before an operation's intended start, then spins:
# time.sleep overshoots ~60 µs at p50 and ~180 µs at p99 on an idle machine.
SPIN_NS = 400_000
# Transient errors worth another try (SQLSTATE serialization_failure, deadlock_detected).
RETRYABLE = frozenset({"40001", "40P01"})
FOREVER = 1 << 62  # no operation count: a share never used up


def load_loop(engine: Engine, index: int, conn: DriverConnection) -> None:
    """Run thread ``index``'s operations on ``conn`` until the run ends or is stopped."""
    cfg, shared, clock = engine.config, engine.shared, engine.clock
    plans = cfg.plans
    makers = [p.make_params for p in plans]
    runs = _bind(conn, plans)
    expects = [p.expect_row for p in plans]
    afters = [p.after_ok for p in plans]
    kinds = len(plans)
    # the mix cycle from this thread's offset, repeated: one C call per operation
    schedule = list(cfg.schedule)
    position = thread_offset(index, cfg.connections, len(schedule))
    next_kind = itertools.cycle(schedule[position:] + schedule[:position]).__next__
    ctx = ThreadContext(seed=cfg.seed, global_index=cfg.thread_base + index,
                        stride=cfg.total_threads or cfg.connections,
                        local_base=cfg.thread_base, local_count=cfg.connections)
    rng = ctx.rng
    rec = engine.recorders[index]
    # acquire()/release() rather than ``with``: no special-method lookups per operation
    acquire, release = rec.lock.acquire, rec.lock.release
    queries = rec.queries
    # a generator of its own, so sampling never shifts the parameters' random stream
    sampled = random.Random(f"{cfg.seed}:sample:{cfg.worker_id}:{index}").random
    sample = cfg.query_sample
    classify = engine.driver.classify_error
    recover = engine.recover
    max_tries = cfg.max_tries
    resume = shared.resume
    sleep = time.sleep
    yield_ = os.sched_yield
    # pacing: closed loop
    think_lo, think_hi = cfg.think_time_s
    think = think_hi > 0
    # pacing: open loop
    open_loop = cfg.mode == "qps"
    arrival_lock = shared.arrival_lock
    poisson = cfg.arrivals == "poisson"
    gaps = shared.arrival_rng
    interval_ns = NS / cfg.rate_qps if open_loop else 0.0
    late_ns = int(cfg.late_after_s * NS)
    drop_ns = int(cfg.drop_after_s * NS)
    lag = 0
    early = False
    spun = 0  # ns this thread spent spinning (the client's CPU figure leaves it out)
    schedule_error = rec.schedule_error
    sent = 0  # operations this connection sent (published when the loop ends)
    pending: list[tuple[int, int]] = []  # dropped operations not yet recorded: (slot, intended)
    # Operation-count runs: the measured operations (successes and errors) this thread still
    # runs; its share of the engine's count, split over the threads active at the start.
    left = _share(cfg.operations, shared.active, index) if cfg.operations is not None else FOREVER
    while not shared.stop:
        if index >= shared.active:
            # Parked by SET_WORKER_TARGET (or not grown into yet): hold the connection, send
            # nothing.
            now = clock()
            if now >= shared.end_ns or (left <= 0 and now >= shared.measure_ns):
                break
            resume.wait(0.05)
            continue
        if open_loop:
            with arrival_lock:
                intended = shared.next_ns
                shared.next_ns = intended + int(
                    gaps.expovariate(1.0) * interval_ns if poisson else interval_ns)
            if intended >= shared.end_ns:
                break
        k = next_kind()
        params = makers[k](ctx)
        run = runs[k]
        if open_loop:
            now = clock()
            early = intended > now
            if early:
                if intended - now > SPIN_NS:
                    sleep((intended - now - SPIN_NS) / NS)
                # Spin the last stretch: sleep() overshoots by tens to hundreds of µs, which
                # would be measured as latency. sched_yield() hands the interpreter (and the
                # core) to any thread that wants it, so the spin never holds up another
                # connection's timing; sleep(0) would not do: it costs the ~50 µs timer slack.
                t0 = spin_from = clock()
                while t0 < intended:
                    yield_()
                    t0 = clock()
                spun += t0 - spin_from
            else:
                t0 = now
            lag = t0 - intended
            if lag > drop_ns:
                # Could not start within drop_after: never sent, counted apart (dropped). It
                # is recorded at its lower bound when this thread next hears from the server
                # (RECORD), i.e. intended start -> end of the stall, so a stall stays in the
                # percentiles (wrk2, HdrHistogram's expected-interval correction).
                pending.append((k if intended < shared.measure_ns else k + kinds, intended))
                continue
            rec.in_flight = 1
        else:
            rec.in_flight = 1
            # The timed region starts here: nothing but the end check before the round trip.
            t0 = intended = clock()
            if t0 >= shared.end_ns or (left <= 0 and t0 >= shared.measure_ns):
                rec.in_flight = 0
                break
        tries = 1
        code: str | None = None
        message = ""
        rows = 0
        while True:
            try:
                rows = run(params)
            except Exception as exc:
                err = classify(exc)
                if tries < max_tries and err.code in RETRYABLE:
                    # pgbench --max-tries: retry serialization failures and deadlocks; the
                    # latency spans every try, the retries are counted apart
                    tries += 1
                    continue
                code, message = err.code, err.message
            break
        t1 = clock()
        rec.in_flight = 0
        sent += 1
        if sent == 1 and shared.unsent:
            # Hundreds of threads: one back from I/O takes the interpreter again before the
            # waiting ones wake, and some connections would never send. After its first
            # operation each waits at a gate until every connection has sent one (at most
            # 2 s: the ticker opens it); outside the timed region.
            with arrival_lock:
                shared.unsent -= 1
                if shared.unsent <= 0:
                    shared.started.set()
            shared.started.wait()
        # RECORD: the one place an outcome is recorded, for both modes. The phase is the one
        # the operation was due in; latency counts from the intended start (= t0 when closed).
        us = (t1 - intended) // 1000
        slot = k if intended < shared.measure_ns else k + kinds
        acquire()
        try:
            tally = rec.cells[slot]
            if tally is None:
                tally = rec.cells[slot] = Tally()
            if tries > 1:
                tally.retries += tries - 1
            if code is None:
                latencies = tally.latencies
                latencies[us] = latencies.get(us, 0) + 1
                tally.ops += 1
                tally.rows += rows
                if rows == 0 and expects[k]:
                    tally.misses += 1  # a success that found no row: not an error
                tally.ok_last = t1  # availability: first/last completion per interval
                if not tally.ok_first:
                    tally.ok_first = t1
            else:
                tally.errors += 1
                tally.err_last = t1
                if not tally.err_first:
                    tally.err_first = t1
                failed = tally.error_latencies  # failed operations keep their own latencies
                failed[us] = failed.get(us, 0) + 1
                error_classes = tally.error_classes
                error_classes[code] = error_classes.get(code, 0) + 1
                samples = tally.error_samples
                if len(samples) < MAX_ERROR_SAMPLES and message not in samples:
                    samples.append(message)
            if pending:
                _record_dropped(rec, pending, t1)
            if open_loop:
                lag_us = lag // 1000
                if early:  # it waited for its time: how precisely did it start?
                    schedule_error[lag_us] = schedule_error.get(lag_us, 0) + 1
                    rec.spin_ns = spun
                tally.lag_sum_us += lag_us
                if lag_us > tally.lag_max_us:
                    tally.lag_max_us = lag_us
                if lag > late_ns:
                    tally.late += 1
        finally:
            release()
        if slot >= kinds:
            left -= 1  # a measured operation: its share ends the thread once it is used up
        if sample and sampled() < sample and len(queries) < QUERY_CAP:
            queries.append((k, 0 if slot < kinds else 1, intended, us, code is None, code))
        if code is not None:
            recover(conn)  # reconnect a broken connection, outside any timed region
            runs = _bind(conn, plans)  # a reconnect replaces what the statements were bound to
        else:
            after = afters[k]
            if after is not None:
                after(ctx)  # e.g. an insert's key becomes drawable by lookups
        if think:
            sleep(think_lo if think_lo == think_hi else rng.uniform(think_lo, think_hi))
    rec.sent = sent
    if pending:  # the run ended before the server answered this thread again
        with rec.lock:
            _record_dropped(rec, pending, clock())


def _bind(conn: DriverConnection, plans: Sequence[KindPlan]) -> list[Statement]:
    """Per kind, a callable of the parameters that runs one operation on ``conn`` and returns
    its rows: the SQL bound to the connection, or the Python operation."""
    return [bind_statement(conn, p.sql) if p.call is None else _python_run(conn, p.call)
            for p in plans]


def _python_run(conn: DriverConnection, call: PythonOp) -> Statement:
    """A Python operation as a statement: called with the raw connection and its params."""

    def run(params: Sequence[object]) -> int:
        # ``raw`` read per call: a reconnect replaces it, and a lean connection whose raw one
        # is never handed out keeps its one-call round trip
        call(conn.raw, params[0])  # type: ignore[arg-type]
        return 0

    return run


def _share(operations: int, threads: int, index: int) -> int:
    """Thread ``index``'s share of ``operations`` over ``threads`` threads: the first
    ``operations % threads`` run one more (a thread beyond ``threads`` runs none)."""
    if index >= threads:
        return 0
    base, extra = divmod(operations, threads)
    return base + (1 if index < extra else 0)


def _record_dropped(rec: ThreadRecorder, pending: list[tuple[int, int]], now: int) -> None:
    """Record the dropped operations at ``now - intended`` (the caller holds ``rec.lock``)."""
    cells = rec.cells
    for slot, intended in pending:
        tally = cells[slot]
        if tally is None:
            tally = cells[slot] = Tally()
        us = (now - intended) // 1000
        latencies = tally.latencies
        latencies[us] = latencies.get(us, 0) + 1
        tally.dropped += 1
    pending.clear()
