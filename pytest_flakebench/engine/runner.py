"""The load engine: N threads, each holding one connection, walking the mix on one clock.

Timing rules (PRODUCT.md, "Measuring"): one monotonic clock (``time.perf_counter_ns``); the
timed region is execute + fetch of every row on a connection the thread already holds; parameter
generation, error classification and recording happen outside it. An operation belongs to the
phase in which it *started*, so warmup is never counted. The calling thread is the ticker: once a
second it swaps every thread's interval cells out, builds the snapshot and reports progress.

Snapshots never span two phases or two load steps: the ticker cuts at the measurement start
(on this engine's clock), every ``tick_s`` after it, at each ``request_tick()`` (a step change),
and last when every thread has left. A snapshot holds only operations of its own phase (by
start time), so the MEASUREMENT snapshots sum exactly to the measured operations and errors.
Connections are opened by ``open()`` before the start barrier; ``start()`` releases the threads
and starts the clock, so connection set-up never counts in any window.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pytest_flakebench.drivers.base import Driver, DriverConnection
from pytest_flakebench.engine.client import ClientMeter
from pytest_flakebench.engine.cuts import Cuts, Tick
from pytest_flakebench.engine.fine import WINDOW_S
from pytest_flakebench.engine.loops import load_loop
from pytest_flakebench.engine.plan import KindPlan
from pytest_flakebench.engine.recorder import (
    PHASE_NAMES,
    Aggregate,
    Tally,
    ThreadRecorder,
)
from pytest_flakebench.errors import TargetError
from pytest_flakebench.judge.results import Snapshot

Clock = Callable[[], int]
NS = 1_000_000_000
RECONNECT_FIRST_S = 0.05  # reconnect back-off: first wait, doubled up to the maximum
RECONNECT_MAX_S = 2.0
MANY_THREADS = 64  # from this many threads, a shorter switch interval (see run())
MANY_THREADS_SWITCH_S = 0.0005
FAIR_START_NS = 2 * NS  # how long the others make way for connections yet to send
CONNECTING = 16  # connections opened at once per engine
FAR = 1 << 62  # "not yet": a phase boundary a controller has not set



@dataclass(frozen=True, slots=True)
class EngineConfig:
    """What one process runs: its connections, the schedule and the timing."""

    plans: Sequence[KindPlan]
    schedule: Sequence[int]  # one mix cycle, as indexes into ``plans``
    connections: int
    warmup_s: float
    duration_s: float
    think_time_s: tuple[float, float] = (0.0, 0.0)  # uniform in [low, high] after each op
    max_tries: int = 1  # serialization failures and deadlocks are retried up to this many times
    seed: int = 1
    thread_base: int = 0  # global index of this process's first thread
    total_threads: int | None = None  # threads over every worker (insert-key stride)
    worker_id: str = "main"
    tick_s: float = 1.0
    window_s: float = WINDOW_S  # sub-second windows kept for the regression verdict (fine.py)
    drain_timeout_s: float = 10.0
    connect_timeout_s: float = 60.0
    # Controlled runs (a controller drives the phases through control events): measurement
    # starts at begin_measurement(), load ends at finish(); safety_s ends the run on its own if
    # the controller falls silent for that long past the planned end.
    controlled: bool = False
    start_in_measurement: bool = False
    safety_s: float = 30.0
    active_connections: int | None = None  # start with fewer busy connections than threads
    # Open loop (mode "qps"): operations are due at intended times, rate_qps per second over
    # this engine's threads; latency counts from the intended time (no coordinated omission).
    mode: str = "concurrency"
    rate_qps: float = 0.0
    arrivals: str = "constant"
    late_after_s: float = 0.01
    drop_after_s: float = 1.0
    query_sample: float = 0.0  # fraction of operations kept as QUERY_EXECUTIONS records
    # Operation-count runs: this engine's share of the run's measured operations (successes and
    # errors), split over its first ``active_connections`` threads; each leaves after its share
    # and the window ends when the last one has. ``duration_s`` is then the time limit.
    operations: int | None = None


@dataclass(slots=True)
class EngineOutcome:
    """Everything the engine measured."""

    status: Literal["COMPLETED", "CANCELLED"]
    kinds: list[str]
    aggregate: Aggregate
    snapshots: list[Snapshot]
    started_at: float
    ended_at: float
    warmup_s: float
    measurement_s: float
    messages: list[str] = field(default_factory=list)
    interrupt: BaseException | None = None
    unavailable_s: float = 0.0  # measurement time with no success while operations failed
    # sampled operations: (kind, phase, started_at epoch, latency_us, ok, error code)
    queries: list[tuple[str, str, float, int, bool, str | None]] = field(default_factory=list)
    fine: dict[str, list[Any]] = field(default_factory=dict)  # sub-second windows (fine.py)
    host: dict[str, Any] = field(default_factory=dict)  # host noise (hostnoise.py), by the caller
    # this process as a client: CPU share, interpreter waits, open-loop start error
    client: dict[str, Any] = field(default_factory=dict)


class SharedState:
    """State the threads read on every operation; plain attributes are cheapest to read."""

    __slots__ = ("active", "arrival_lock", "arrival_rng", "bounds_reached", "end_ns", "exits",
                 "measure_ns", "next_ns", "resume", "start_ns", "started", "started_at", "stop",
                 "unsent")
    # measure_ns / end_ns: the measurement window on this engine's clock (FAR until known)

    def __init__(self, active: int) -> None:
        # connections that have not sent their first operation yet: while any, the others
        # yield the interpreter after each operation, so every connection gets going
        self.unsent = 0
        self.started = threading.Event()  # set once every connection has sent (or 2 s)
        self.stop = False
        self.next_ns = 0  # open loop: the intended time of the next unclaimed operation
        self.arrival_lock = threading.Lock()
        self.arrival_rng = random.Random(0)  # Poisson gaps; drawn under arrival_lock
        self.bounds_reached = False
        self.active = active  # threads with an index below this send load; the rest wait
        self.resume = threading.Event()
        self.start_ns = 0
        self.started_at = 0.0
        self.measure_ns = FAR
        self.end_ns = FAR
        self.exits: list[int] = []


class Engine:
    """Runs one process's share of a benchmark.

    ``shared`` (the state every thread reads per operation), ``recorders`` (one per thread)
    and ``meter`` (the client's CPU) are read by the engine's own ``loops`` and ``cuts``
    modules; nothing outside the engine package touches them.
    """

    def __init__(self, config: EngineConfig, driver: Driver, *, clock: Clock = time.perf_counter_ns,
                 on_tick: Callable[[Tick], None] | None = None) -> None:
        self.config = config
        self.driver = driver
        self.clock = clock
        self.on_tick = on_tick
        self.shared = SharedState(config.active_connections
                               if config.active_connections is not None else config.connections)
        self._kinds = [p.kind for p in config.plans]
        self.recorders = [ThreadRecorder(len(config.plans)) for _ in range(config.connections)]
        recorders = self.recorders
        self._connecting = threading.BoundedSemaphore(CONNECTING)
        self.meter = ClientMeter(clock, lambda: sum(r.spin_ns for r in recorders))
        # The ticker sleeps on one semaphore: threads release it when they exit, and
        # request_tick() releases it (counted in _wakes) to cut the current interval early.
        self._done = threading.Semaphore(0)
        self._wakes = 0
        self._wake_lock = threading.Lock()
        self._opened: list[int] = []
        self._backoff: dict[int, float] = {}  # connection id: next reconnect wait (seconds)
        self._threads: list[threading.Thread] = []
        self._go: threading.Barrier | None = None
        self._started = False

    def _thread(self, index: int, connected: threading.Barrier, go: threading.Barrier,
                failures: list[BaseException], done: threading.Semaphore) -> None:
        conn: DriverConnection | None = None
        try:
            try:
                # A few at a time: hundreds of simultaneous connects queue at the server's
                # postmaster and each one's connect_timeout runs out while it waits in line.
                with self._connecting:
                    conn = self.driver.connect()
                self._opened.append(index)
            except BaseException as exc:  # reported by open() before any load is sent
                failures.append(exc)
            try:
                connected.wait()
                go.wait()
            except threading.BrokenBarrierError:
                return
            if conn is None or self.shared.stop:
                return
            load_loop(self, index, conn)
        finally:
            self.shared.exits.append(self.clock())
            if conn is not None:
                conn.close()
            done.release()

    def _grow_if_behind(self, now: int) -> None:
        """Open loop: add a connection when every busy one is taken and the schedule slips."""
        cfg, shared = self.config, self.shared
        behind = shared.next_ns < now - int(cfg.late_after_s * NS)
        busy = sum(r.in_flight for r in self.recorders[:shared.active])
        if not behind or busy < shared.active:
            return
        if shared.active < cfg.connections:
            self.set_active(min(cfg.connections, shared.active + max(1, shared.active // 4)))
        else:
            shared.bounds_reached = True

    def _drop_unclaimed(self) -> None:
        """Open loop: operations due before the end that no thread could even claim (every
        connection was stalled until the end) are dropped, recorded at their lower bound
        (intended start -> end of the run), like the ones a thread claimed too late."""
        cfg, shared = self.config, self.shared
        end_ns = shared.end_ns
        intended = shared.next_ns
        if end_ns == FAR or intended >= end_ns or cfg.rate_qps <= 0 or not cfg.schedule:
            return
        interval = NS / cfg.rate_qps  # Poisson gaps have this mean: count them as constant
        schedule, kinds, measure_ns = cfg.schedule, len(cfg.plans), shared.measure_ns
        rec = self.recorders[0]
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

    def recover(self, conn: DriverConnection) -> None:
        """After an error on a broken connection, reconnect (outside any timed region).

        A failed reconnect waits before the next attempt: 50 ms, doubling to 2 s, with jitter
        (so the threads do not knock together), reset by the first reconnect that works. The
        wait ends early when the run stops.
        """
        if not conn.broken:
            return
        key = id(conn)
        try:
            conn.reconnect()
        except Exception:
            delay = self._backoff.get(key, RECONNECT_FIRST_S)
            self._backoff[key] = min(RECONNECT_MAX_S, delay * 2)
            self.shared.resume.wait(delay * random.uniform(0.5, 1.0))
        else:
            self._backoff.pop(key, None)

    def _start_clock(self) -> None:
        # Runs once, in the last thread to reach the barrier, before any thread is released,
        # so every thread sees the same start, measurement and end instants.
        cfg, shared = self.config, self.shared
        self._started = True
        shared.start_ns = self.clock()
        shared.started_at = time.time()
        shared.next_ns = shared.start_ns
        shared.arrival_rng = random.Random(f"{cfg.seed}:arrivals:{cfg.worker_id}")
        shared.unsent = shared.active if shared.active >= MANY_THREADS else 0
        if cfg.controlled and not cfg.start_in_measurement:
            # begin_measurement() sets the window when the controller's SET_PHASE arrives
            shared.measure_ns = FAR
            shared.end_ns = FAR
        else:
            shared.measure_ns = shared.start_ns + (0 if cfg.controlled else int(cfg.warmup_s * NS))
            shared.end_ns = shared.measure_ns + int(cfg.duration_s * NS)

    def request_tick(self) -> None:
        """Cut the current one-second interval now (a step of the load changed)."""
        with self._wake_lock:
            self._wakes += 1
        self._done.release()

    def _take(self, timeout: float) -> str | None:
        """Wait for a thread exit or a tick request: ``"exit"``, ``"wake"`` or None (timeout)."""
        if not self._done.acquire(timeout=timeout):
            return None
        with self._wake_lock:
            if self._wakes:
                self._wakes -= 1
                return "wake"
        return "exit"

    def stop(self) -> None:
        """Cancel: every thread finishes its current operation and leaves (run CANCELLED)."""
        self._end_now()
        self.shared.stop = True
        self.shared.resume.set()
        self.shared.started.set()
        if not self._started and self._go is not None:
            self._go.abort()  # connections open, load never started: the threads leave
        self.request_tick()

    def _end_now(self) -> None:
        shared = self.shared
        if not self._started:
            return
        now = self.clock()
        shared.measure_ns = min(shared.measure_ns, now)
        shared.end_ns = min(shared.end_ns, now)

    def begin_measurement(self) -> None:
        """Controlled runs: operations starting from now on are measured, for ``duration_s``.

        The window ends on this engine's own clock ``duration_s`` later, so every worker
        measures the same length whatever the control plane's lag; STOP can only shorten it.
        """
        shared = self.shared
        if shared.measure_ns == FAR:
            now = self.clock()
            shared.end_ns = min(shared.end_ns, now + int(self.config.duration_s * NS))
            shared.measure_ns = now
            self.request_tick()  # the ticker cuts the warmup snapshot here

    def finish(self, *, planned: bool = False) -> None:
        """Controlled runs: no operation starts from now on; the run ends COMPLETED.

        ``planned``: the controller's STOP at the planned end, which the engine reaches on its
        own clock; it then keeps its own end (a few milliseconds away) instead of cutting short.
        """
        shared = self.shared
        shared.resume.set()
        shared.started.set()
        if not (planned and shared.end_ns != FAR):
            self._end_now()
            self.request_tick()  # the window ended now: the ticker notices at once

    def set_active(self, connections: int) -> None:
        """Keep ``connections`` of this engine's threads sending load; park the others."""
        self.shared.active = max(0, min(connections, self.config.connections))
        self.shared.resume.set()
        self.shared.resume.clear()

    @property
    def active(self) -> int:
        """How many threads are currently allowed to send load."""
        return self.shared.active

    def open(self) -> None:
        """Open every connection (one per thread) and hold them before the start barrier.

        Raises ``TargetError`` naming this worker when a connection fails or they cannot all
        open within ``connect_timeout_s``; nothing has been sent then.
        """
        if self._go is not None:
            return
        cfg = self.config
        n = cfg.connections
        connected = threading.Barrier(n + 1)
        go = threading.Barrier(n + 1, action=self._start_clock)
        self._go = go
        failures: list[BaseException] = []
        self._threads = [
            threading.Thread(target=self._thread, args=(i, connected, go, failures, self._done),
                             name=f"flakebench-{cfg.worker_id}-{i}", daemon=True)
            for i in range(n)
        ]
        for t in self._threads:
            t.start()
        try:
            connected.wait(timeout=cfg.connect_timeout_s)
        except threading.BrokenBarrierError:
            self._abandon(connected)
            raise TargetError(
                f"worker {cfg.worker_id}: opened {len(self._opened)} of {n} connection(s) "
                f"within {cfg.connect_timeout_s:g}s; is the server's max_connections high "
                f"enough, or is it slow to accept connections?"
            ) from (failures[0] if failures else None)
        if failures:
            # Some connections failed: nothing has been sent yet, so stop before any load.
            self._abandon(connected)
            first = failures[0]
            if isinstance(first, TargetError):
                raise TargetError(f"worker {cfg.worker_id}: {first}") from None
            raise TargetError(f"worker {cfg.worker_id}: could not open connection "
                              f"{len(self._opened) + 1} of {n}: {first}") from None

    def _abandon(self, connected: threading.Barrier) -> None:
        self.shared.stop = True
        connected.abort()
        if self._go is not None:
            self._go.abort()

    def start(self) -> None:
        """Release the threads: the clock starts now (warmup, or measurement)."""
        self.open()
        if self._started:
            return
        assert self._go is not None  # open() made it
        self._go.wait()

    def run(self) -> EngineOutcome:
        """Open the connections, run warmup and measurement, and return what was measured."""
        switch = sys.getswitchinterval()
        if self.config.connections >= MANY_THREADS:
            # A thread coming back from I/O takes the interpreter at once, while a waiting one
            # only gets it at a forced switch (every switch interval, 5 ms): with hundreds of
            # threads some connections never send and the ticker (heartbeats) starves. Forced
            # switches ten times as often serve the waiters in turn.
            sys.setswitchinterval(MANY_THREADS_SWITCH_S)
        try:
            self.start()
            return self._tick_until_done(self._threads, self._done)
        finally:
            sys.setswitchinterval(switch)

    def _tick_until_done(self, threads: list[threading.Thread],
                         done: threading.Semaphore) -> EngineOutcome:
        cfg = self.config
        shared = self.shared
        start_ns, started_at = shared.start_ns, shared.started_at
        aggregate = Aggregate(self._kinds)
        cuts = Cuts(self, aggregate, start_ns, started_at)
        remaining = len(threads)
        interrupt: BaseException | None = None
        messages: list[str] = []
        planned_end = start_ns + int((cfg.warmup_s + cfg.duration_s) * NS)
        meter = self.meter
        meter.start()
        safety_end = planned_end + int(cfg.safety_s * NS)
        tick_ns = int(cfg.tick_s * NS)
        try:
            while remaining:
                due = cuts.next_due(tick_ns)
                if due is None:  # the window has ended: wait for the threads to leave
                    due = self.clock() + tick_ns
                # Wake for the next sub-second window too; only ``due`` cuts a snapshot.
                wake = min(due, cuts.window_due(int(cfg.window_s * NS)))
                taken = self._take(max(0.0, (wake - self.clock()) / NS))
                if taken == "exit":
                    remaining -= 1
                    continue
                now = self.clock()
                if cfg.controlled and now > safety_end and shared.end_ns == FAR:
                    # The controller went silent: end the load on our own, and say so.
                    messages.append(f"no STOP from the controller {cfg.safety_s:g}s after the "
                                    f"planned end: the worker stopped on its own")
                    self.finish()
                if cfg.mode == "qps" and now < shared.end_ns:
                    self._grow_if_behind(now)
                meter.tick(now, shared.measure_ns, shared.end_ns)
                if now - start_ns > FAIR_START_NS and not shared.started.is_set():
                    shared.unsent = 0  # a connection stuck in its first operation: stop waiting
                    shared.started.set()
                cuts.advance(due=due, wake=taken == "wake", planned_end=planned_end)
        except BaseException as exc:  # Ctrl-C, pytest-timeout, …: stop, drain, keep the data
            interrupt = exc
            self.stop()
            deadline = time.monotonic() + cfg.drain_timeout_s
            while remaining:
                taken = self._take(max(0.0, deadline - time.monotonic()))
                if taken is None:
                    break
                if taken == "exit":
                    remaining -= 1
        end_now = self.clock()
        if cfg.operations is not None and interrupt is None and shared.measure_ns != FAR \
                and shared.exits:
            # every thread ran its share and left: the window ends with the last of them
            shared.end_ns = min(shared.end_ns, max(shared.exits))
        meter.tick(end_now, shared.measure_ns, shared.end_ns)
        meter.close()
        schedule_error: dict[int, int] = {}
        for rec in self.recorders:
            with rec.lock:
                for value, count in rec.schedule_error.items():
                    schedule_error[value] = schedule_error.get(value, 0) + count
        if cfg.mode == "qps" and interrupt is None:
            self._drop_unclaimed()
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
        queries = [(self._kinds[k], PHASE_NAMES[phase], started_at + (t0 - start_ns) / NS, us,
                    ok, code)
                   for rec in self.recorders for k, phase, t0, us, ok, code in rec.queries]
        return EngineOutcome(
            queries=queries,
            status="CANCELLED" if interrupt is not None else "COMPLETED",
            kinds=self._kinds,
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
                    "connections_sent": sum(1 for r in self.recorders if r.sent),},
        )


__all__ = ["PHASE_NAMES", "Engine", "EngineConfig", "EngineOutcome", "Tick"]
