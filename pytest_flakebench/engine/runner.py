"""The load engine: N threads, each holding one connection, walking the mix on one clock.

Timing rules (PRODUCT.md, "Measuring"): one monotonic clock (``time.perf_counter_ns``); the
timed region is execute + fetch of every row on a connection the thread already holds; parameter
generation, error classification and recording happen outside it. An operation belongs to the
phase in which it *started*, so warmup is never counted. The calling thread is the ticker
(``ticker``): once a second it swaps every thread's interval cells out, builds the snapshot and
reports progress. The configuration, the outcome and the threads' shared state are in
``config``.

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
from collections.abc import Callable

from pytest_flakebench.drivers.base import Driver, DriverConnection
from pytest_flakebench.engine.client import ClientMeter
from pytest_flakebench.engine.config import FAR, NS, EngineConfig, EngineOutcome, SharedState
from pytest_flakebench.engine.cuts import Tick
from pytest_flakebench.engine.loops import load_loop
from pytest_flakebench.engine.reconnect import Reconnector
from pytest_flakebench.engine.recorder import PHASE_NAMES, ThreadRecorder
from pytest_flakebench.engine.ticker import tick_until_done
from pytest_flakebench.errors import TargetError

Clock = Callable[[], int]
MANY_THREADS = 64  # from this many threads, a shorter switch interval (see run())
MANY_THREADS_SWITCH_S = 0.0005
CONNECTING = 16  # connections opened at once per engine


class Engine:
    """Runs one process's share of a benchmark.

    ``shared`` (the state every thread reads per operation), ``recorders`` (one per thread),
    ``meter`` (the client's CPU) and ``take`` (the ticker's wait) are used by the engine's own
    ``loops``, ``cuts`` and ``ticker`` modules; nothing outside the engine package touches them.
    """

    def __init__(self, config: EngineConfig, driver: Driver, *, clock: Clock = time.perf_counter_ns,
                 on_tick: Callable[[Tick], None] | None = None) -> None:
        self.config = config
        self.driver = driver
        self.clock = clock
        self.on_tick = on_tick
        self.shared = SharedState(config.active_connections
                               if config.active_connections is not None else config.connections)
        self.kinds = [p.kind for p in config.plans]
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
        shared = self.shared
        self.reconnector = Reconnector(
            done=lambda: shared.stop or clock() >= shared.end_ns, pause=shared.resume.wait,
            connecting=self._connecting)
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

    def recover(self, conn: DriverConnection) -> None:
        """After an error on a broken connection, reopen it (outside any timed region).

        While the target is away one thread probes it and the others wait (``reconnect``); the
        wait ends early when the run ends or stops.
        """
        self.reconnector.recover(conn)

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

    def request_tick(self, *, end_step: bool = False) -> None:
        """Cut the current one-second interval now (a step of the load changed).

        ``end_step``: the controller closed its current find_max step; what follows belongs to
        no step until the next one is set."""
        if end_step:
            self.shared.step = 0
        with self._wake_lock:
            self._wakes += 1
        self._done.release()

    def take(self, timeout: float) -> str | None:
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
        self.reconnector.wake()
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

    def set_active(self, connections: int, *, step: int | None = None) -> None:
        """Keep ``connections`` of this engine's threads sending load; park the others.

        ``step``: the find_max step this load begins (stamped on the snapshots cut after it)."""
        if step is not None:
            self.shared.step = step
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
            return tick_until_done(self, len(self._threads))
        finally:
            sys.setswitchinterval(switch)


__all__ = ["PHASE_NAMES", "Engine", "EngineConfig", "EngineOutcome", "Tick"]
