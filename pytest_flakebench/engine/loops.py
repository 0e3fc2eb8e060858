"""The benchmark threads' loops: the timed region lives here and nowhere else.

``closed_loop`` runs operations back to back (plus think time); ``open_loop`` claims intended
start times from a shared schedule and measures latency from them. Both record into the
thread's ``ThreadRecorder`` under its lock, inline, because this runs once per operation.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING

from pytest_flakebench.context import ThreadContext
from pytest_flakebench.drivers.base import DriverConnection
from pytest_flakebench.engine.recorder import PHASE_MEASUREMENT, PHASE_WARMUP, Tally
from pytest_flakebench.mix import thread_offset

if TYPE_CHECKING:
    from pytest_flakebench.engine.runner import Engine

NS = 1_000_000_000
QUERY_CAP = 100_000  # sampled records kept per thread, at most
# Transient errors worth another try (SQLSTATE serialization_failure, deadlock_detected).
RETRYABLE = frozenset({"40001", "40P01"})


class _ThreadSetup:
    """What both loops hold in locals: the plans unpacked, the thread's context and recorder."""

    def __init__(self, engine: Engine, index: int) -> None:
        cfg = engine.config
        self.sqls = [p.sql for p in cfg.plans]
        self.makers = [p.make_params for p in cfg.plans]
        self.calls = [p.call for p in cfg.plans]
        self.kinds = len(cfg.plans)
        self.schedule = cfg.schedule
        self.length = len(cfg.schedule)
        self.position = thread_offset(index, cfg.connections, self.length)
        self.ctx = ThreadContext(seed=cfg.seed, global_index=cfg.thread_base + index,
                                 stride=cfg.total_threads or cfg.connections)
        self.rec = engine._recorders[index]
        # a generator of its own, so sampling never shifts the parameters' random stream
        self.sampler = random.Random(f"{cfg.seed}:sample:{cfg.worker_id}:{index}")


def closed_loop(engine: Engine, index: int, conn: DriverConnection) -> None:
    """Closed loop: each operation starts when the previous one on this connection ends."""
    cfg, shared, clock = engine.config, engine._shared, engine.clock
    t = _ThreadSetup(engine, index)
    sqls, makers, calls, schedule, ctx, rec = t.sqls, t.makers, t.calls, t.schedule, t.ctx, t.rec
    length, position, kinds, sampler = t.length, t.position, t.kinds, t.sampler
    lock = rec.lock
    execute = conn.execute
    sample = cfg.query_sample
    think_lo, think_hi = cfg.think_time_s
    think = think_hi > 0
    max_tries = cfg.max_tries
    classify = engine.driver.classify_error
    rng = ctx.rng
    resume = shared.resume
    while not shared.stop:
        if index >= shared.active:
            # Parked by SET_WORKER_TARGET: hold the connection, send nothing.
            if clock() >= shared.end_ns:
                break
            resume.wait(0.05)
            continue
        k = schedule[position]
        position += 1
        if position == length:
            position = 0
        params = makers[k](ctx)
        call = calls[k]
        tries = 1
        measure_ns = shared.measure_ns
        rec.in_flight = 1
        # The timed region starts here: nothing but the end check before the round trip.
        t0 = clock()
        if t0 >= shared.end_ns:
            rec.in_flight = 0
            break
        while True:
            try:
                if call is None:
                    execute(sqls[k], params)
                else:
                    call(conn.raw, params[0])  # type: ignore[arg-type]
            except Exception as exc:
                err = classify(exc)
                if tries < max_tries and err.code in RETRYABLE:
                    # pgbench --max-tries: retry serialization failures and deadlocks;
                    # the latency spans every try, the retries are counted apart
                    tries += 1
                    continue
                t1 = clock()
                rec.in_flight = 0
                phase = PHASE_WARMUP if t0 < measure_ns else PHASE_MEASUREMENT
                rec.error(phase, k, err.code, err.message, retries=tries - 1)
                if sample and sampler.random() < sample and len(rec.queries) < QUERY_CAP:
                    rec.queries.append((k, phase, t0, (t1 - t0) // 1000, False, err.code))
                engine._recover(conn)
                break
            t1 = clock()
            rec.in_flight = 0
            slot = k if t0 < measure_ns else k + kinds
            with lock:
                tally = rec.cells[slot]
                if tally is None:
                    tally = rec.cells[slot] = Tally()
                latencies = tally.latencies
                us = (t1 - t0) // 1000
                latencies[us] = latencies.get(us, 0) + 1
                tally.ops += 1
                tally.retries += tries - 1
            if sample and sampler.random() < sample and len(rec.queries) < QUERY_CAP:
                rec.queries.append((k, 0 if slot < kinds else 1, t0, us, True, None))
            break
        if think:
            time.sleep(think_lo if think_lo == think_hi else rng.uniform(think_lo, think_hi))


def open_loop(engine: Engine, index: int, conn: DriverConnection) -> None:
    """Open loop: claim the next intended time, wait for it, measure from it."""
    cfg, shared, clock = engine.config, engine._shared, engine.clock
    t = _ThreadSetup(engine, index)
    sqls, makers, calls, schedule, ctx, rec = t.sqls, t.makers, t.calls, t.schedule, t.ctx, t.rec
    length, position, kinds, sampler = t.length, t.position, t.kinds, t.sampler
    lock = rec.lock
    execute = conn.execute
    resume = shared.resume
    arrival_lock = shared.arrival_lock
    sample = cfg.query_sample
    poisson = cfg.arrivals == "poisson"
    gaps = shared.arrival_rng
    interval_ns = NS / cfg.rate_qps
    late_ns = int(cfg.late_after_s * NS)
    drop_ns = int(cfg.drop_after_s * NS)
    sleep = time.sleep
    while not shared.stop:
        if index >= shared.active:
            if clock() >= shared.end_ns:
                break
            resume.wait(0.05)
            continue
        with arrival_lock:
            intended = shared.next_ns
            shared.next_ns = intended + int(
                gaps.expovariate(1.0) * interval_ns if poisson else interval_ns)
        if intended >= shared.end_ns:
            break
        k = schedule[position]
        position += 1
        if position == length:
            position = 0
        params = makers[k](ctx)
        call = calls[k]
        now = clock()
        if intended > now:
            sleep((intended - now) / NS)
        slot = k if intended < shared.measure_ns else k + kinds
        t0 = clock()
        lag = t0 - intended
        if lag > drop_ns:
            with lock:
                tally = rec.cells[slot]
                if tally is None:
                    tally = rec.cells[slot] = Tally()
                tally.dropped += 1
            continue
        rec.in_flight = 1
        try:
            if call is None:
                execute(sqls[k], params)
            else:
                call(conn.raw, params[0])  # type: ignore[arg-type]
        except Exception as exc:
            rec.in_flight = 0
            err = engine.driver.classify_error(exc)
            rec.error(PHASE_WARMUP if slot < kinds else PHASE_MEASUREMENT, k,
                      err.code, err.message)
            if sample and sampler.random() < sample and len(rec.queries) < QUERY_CAP:
                rec.queries.append((k, 0 if slot < kinds else 1, intended,
                                    (clock() - intended) // 1000, False, err.code))
            engine._recover(conn)
            continue
        t1 = clock()
        rec.in_flight = 0
        us = (t1 - intended) // 1000  # from the intended start: stalls are never hidden
        lag_us = lag // 1000
        with lock:
            tally = rec.cells[slot]
            if tally is None:
                tally = rec.cells[slot] = Tally()
            latencies = tally.latencies
            latencies[us] = latencies.get(us, 0) + 1
            tally.ops += 1
            tally.lag_sum_us += lag_us
            if lag_us > tally.lag_max_us:
                tally.lag_max_us = lag_us
            if lag > late_ns:
                tally.late += 1
        if sample and sampler.random() < sample and len(rec.queries) < QUERY_CAP:
            rec.queries.append((k, 0 if slot < kinds else 1, intended, us, True, None))
