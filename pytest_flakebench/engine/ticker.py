"""The engine's ticker: the calling thread's loop while the benchmark threads run.

Once a second (and at every sub-second window, phase boundary and step change) it swaps the
threads' tallies out and cuts snapshots (``cuts``), samples the client's CPU, ends a controlled
run whose controller fell silent, and in the open loop adds connections when the schedule slips
(``grow_if_behind``); when every thread has left it records the operations the open loop could
not even claim (``drop_unclaimed``) and assembles the ``EngineOutcome``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from pytest_flakebench.engine.config import FAR, NS, EngineOutcome
from pytest_flakebench.engine.cuts import Cuts
from pytest_flakebench.engine.recorder import PHASE_NAMES, Aggregate, Tally

if TYPE_CHECKING:
    from pytest_flakebench.engine.runner import Engine

FAIR_START_NS = 2 * NS  # how long the others make way for connections yet to send


def tick_until_done(engine: Engine, threads: int) -> EngineOutcome:
    """Tick until ``threads`` benchmark threads have left (or an interrupt drained them)."""
    cfg = engine.config
    shared = engine.shared
    start_ns, started_at = shared.start_ns, shared.started_at
    aggregate = Aggregate(engine.kinds)
    cuts = Cuts(engine, aggregate, start_ns, started_at)
    remaining = threads
    interrupt: BaseException | None = None
    messages: list[str] = []
    planned_end = start_ns + int((cfg.warmup_s + cfg.duration_s) * NS)
    meter = engine.meter
    meter.start()
    safety_end = planned_end + int(cfg.safety_s * NS)
    tick_ns = int(cfg.tick_s * NS)
    try:
        while remaining:
            due = cuts.next_due(tick_ns)
            if due is None:  # the window has ended: wait for the threads to leave
                due = engine.clock() + tick_ns
            # Wake for the next sub-second window too; only ``due`` cuts a snapshot.
            wake = min(due, cuts.window_due(int(cfg.window_s * NS)))
            taken = engine.take(max(0.0, (wake - engine.clock()) / NS))
            if taken == "exit":
                remaining -= 1
                continue
            now = engine.clock()
            if cfg.controlled and now > safety_end and shared.end_ns == FAR:
                # The controller went silent: end the load on our own, and say so.
                messages.append(f"no STOP from the controller {cfg.safety_s:g}s after the "
                                f"planned end: the worker stopped on its own")
                engine.finish()
            if cfg.mode == "qps" and now < shared.end_ns:
                grow_if_behind(engine, now)
            meter.tick(now, shared.measure_ns, shared.end_ns)
            if now - start_ns > FAIR_START_NS and not shared.started.is_set():
                shared.unsent = 0  # a connection stuck in its first operation: stop waiting
                shared.started.set()
            cuts.advance(due=due, wake=taken == "wake", planned_end=planned_end)
    except BaseException as exc:  # Ctrl-C, pytest-timeout, …: stop, drain, keep the data
        interrupt = exc
        engine.stop()
        deadline = time.monotonic() + cfg.drain_timeout_s
        while remaining:
            taken = engine.take(max(0.0, deadline - time.monotonic()))
            if taken is None:
                break
            if taken == "exit":
                remaining -= 1
    end_now = engine.clock()
    if cfg.operations is not None and interrupt is None and shared.measure_ns != FAR \
            and shared.exits:
        # every thread ran its share and left: the window ends with the last of them
        shared.end_ns = min(shared.end_ns, max(shared.exits))
    meter.tick(end_now, shared.measure_ns, shared.end_ns)
    meter.close()
    schedule_error: dict[int, int] = {}
    for rec in engine.recorders:
        with rec.lock:
            for value, count in rec.schedule_error.items():
                schedule_error[value] = schedule_error.get(value, 0) + count
    if cfg.mode == "qps" and interrupt is None:
        drop_unclaimed(engine)
    cuts.final(end_now, planned_end)
    if shared.bounds_reached:
        messages.append(
            f"BOUNDS_LIMIT_REACHED: {cfg.connections} connection(s) on {cfg.worker_id} "
            f"could not keep up with {cfg.rate_qps:g} operations/s; raise "
            f"workers.max_connections or add workers"
        )
    if remaining:
        messages.append(
            f"{remaining} connection(s) did not finish within the drain timeout of "
            f"{cfg.drain_timeout_s:g}s; their in-flight operations are not counted"
        )
    # The window: operations that started in [measure_ns, end_ns) are measured; draining
    # the last in-flight operations after end_ns is not part of it.
    end_ns = min(shared.end_ns, end_now)
    measure_ns = min(shared.measure_ns, end_ns)
    measurement_s = max(0, end_ns - measure_ns) / NS
    warmup_s = (measure_ns - start_ns) / NS
    queries = [(engine.kinds[k], PHASE_NAMES[phase], started_at + (t0 - start_ns) / NS, us,
                ok, code)
               for rec in engine.recorders for k, phase, t0, us, ok, code in rec.queries]
    return EngineOutcome(
        queries=queries,
        status="CANCELLED" if interrupt is not None else "COMPLETED",
        kinds=engine.kinds,
        aggregate=aggregate,
        snapshots=cuts.snapshots,
        unavailable_s=cuts.unavailable_s,
        started_at=started_at,
        ended_at=time.time(),
        warmup_s=max(0.0, warmup_s),
        measurement_s=measurement_s,
        messages=messages,
        interrupt=interrupt,
        fine=cuts.fine.to_dict() if len(cuts.fine) else {},
        client={**meter.summary(schedule_error),
                "connections_sent": sum(1 for r in engine.recorders if r.sent),},
    )


def grow_if_behind(engine: Engine, now: int) -> None:
    """Open loop: add a connection when every busy one is taken and the schedule slips."""
    cfg, shared = engine.config, engine.shared
    behind = shared.next_ns < now - int(cfg.late_after_s * NS)
    busy = sum(r.in_flight for r in engine.recorders[:shared.active])
    if not behind or busy < shared.active:
        return
    if shared.active < cfg.connections:
        engine.set_active(min(cfg.connections, shared.active + max(1, shared.active // 4)))
    else:
        shared.bounds_reached = True

def drop_unclaimed(engine: Engine) -> None:
    """Open loop: operations due before the end that no thread could even claim (every
    connection was stalled until the end) are dropped, recorded at their lower bound
    (intended start -> end of the run), like the ones a thread claimed too late."""
    cfg, shared = engine.config, engine.shared
    end_ns = shared.end_ns
    intended = shared.next_ns
    if end_ns == FAR or intended >= end_ns or cfg.rate_qps <= 0 or not cfg.schedule:
        return
    interval = NS / cfg.rate_qps  # Poisson gaps have this mean: count them as constant
    schedule, kinds, measure_ns = cfg.schedule, len(cfg.plans), shared.measure_ns
    rec = engine.recorders[0]
    with shared.arrival_lock, rec.lock:  # a thread still draining may claim concurrently
        i = 0
        due = float(intended)
        while due < end_ns:
            k = schedule[i % len(schedule)]
            slot = k if due < measure_ns else k + kinds
            tally = rec.cells[slot]
            if tally is None:
                tally = rec.cells[slot] = Tally()
            us = int(end_ns - due) // 1000
            tally.latencies[us] = tally.latencies.get(us, 0) + 1
            tally.dropped += 1
            i += 1
            due = intended + i * interval
    shared.next_ns = end_ns


__all__ = ["drop_unclaimed", "grow_if_behind", "tick_until_done"]
