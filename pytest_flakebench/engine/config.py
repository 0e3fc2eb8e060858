"""What an engine runs and what it returns, and the state its threads share.

``EngineConfig`` (one process's share of a benchmark: plans, connections, timing, pacing),
``EngineOutcome`` (everything the engine measured) and ``SharedState`` (what every benchmark
thread reads once per operation: the window's instants, the active count, the stop flag).
Kept apart from the engine's lifecycle (``runner``) and its ticker (``ticker``), which both use
them, as do the workers that build a config and merge outcomes.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pytest_flakebench.engine.fine import WINDOW_S
from pytest_flakebench.engine.plan import KindPlan
from pytest_flakebench.engine.recorder import Aggregate
from pytest_flakebench.judge.results import Snapshot

NS = 1_000_000_000
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
                 "measure_ns", "next_ns", "resume", "start_ns", "started", "started_at", "step",
                 "stop", "unsent")
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
        # find_max: the controller's step the load is in (0: none, or between two steps); the
        # ticker stamps it on each snapshot, so a step is judged on exactly its own samples
        self.step = 0


__all__ = ["FAR", "NS", "EngineConfig", "EngineOutcome", "SharedState"]
