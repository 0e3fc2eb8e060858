"""The client's own load: is the harness process, not the database, what capped the figures?

During measurement the ticker samples the process's CPU time (every thread, user + system) over
wall time, leaving out the time the open loop spent spinning on purpose before an operation's
intended start. A probe thread sleeps 10 ms at a time and records how late it wakes: the
kernel's timer slack and wake-up time (~90 µs at the median on an idle 2-core VM), plus the
time it waited for the interpreter (the GIL) and for a CPU, which every benchmark thread pays
too before it can take its timestamps. So it tells milliseconds of contention (hundreds of
threads, a thread holding the interpreter) from none, not a few microseconds: from Python the
return from a system call cannot be timed apart from getting the interpreter back.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

NS = 1_000_000_000
PROBE_S = 0.01
PROBE_CAP = 100_000  # probe samples kept (over 15 min of measurement)


@dataclass(frozen=True, slots=True)
class _Sample:
    wall_ns: int
    cpu_s: float
    spin_ns: int


class ClientMeter:
    """CPU share and interpreter wait of this process while it measures."""

    def __init__(self, clock: Callable[[], int], spins: Callable[[], int]) -> None:
        self._clock = clock
        self._spins = spins
        self._first: _Sample | None = None
        self._last: _Sample | None = None
        self._prev: _Sample | None = None
        self.measuring = False
        self._ended = False
        self._end_ns_seen = 1 << 62
        self._sched_first: dict[str, tuple[int, int]] = {}
        self._sched_last: dict[str, tuple[int, int]] = {}
        self.interval_cpu = 0.0
        self.waits_us: list[int] = []
        self._done = threading.Event()
        self._probe = threading.Thread(target=self._run_probe, name="flakebench-probe",
                                       daemon=True)

    def start(self) -> None:
        """Start the probe thread."""
        self._prev = self._sample(self._clock())
        self._probe.start()

    def close(self) -> None:
        """Stop the probe thread."""
        self._done.set()
        if self._probe.is_alive():
            self._probe.join(timeout=1.0)

    def _run_probe(self) -> None:
        clock, waits, done = time.perf_counter_ns, self.waits_us, self._done
        step = int(PROBE_S * NS)
        while not done.is_set():
            before = clock()
            time.sleep(PROBE_S)
            late = clock() - before - step
            if self.measuring and len(waits) < PROBE_CAP:
                waits.append(max(0, late) // 1000)

    def _boundary(self, now: int, sample: _Sample) -> None:
        if self._first is None:
            self._first = sample
            self._sched_first = _sched_by_thread()
        self._last = sample
        if now >= self._end_ns_seen:
            self._sched_last = _sched_by_thread()

    def _sample(self, now: int) -> _Sample:
        return _Sample(now, time.process_time(), self._spins())

    @staticmethod
    def _busy(a: _Sample, b: _Sample) -> float:
        wall = (b.wall_ns - a.wall_ns) / NS
        if wall <= 0:
            return 0.0
        return max(0.0, (b.cpu_s - a.cpu_s) - (b.spin_ns - a.spin_ns) / NS) / wall

    def tick(self, now: int, measure_ns: int, end_ns: int) -> float:
        """A ticker wake at ``now``: the CPU share since the previous wake (for live views).
        The run's figure spans the first wake at or after ``measure_ns`` to the first at or
        after ``end_ns`` (the ticker wakes at both boundaries)."""
        sample = self._sample(now)
        self.measuring = measure_ns <= now < end_ns
        if measure_ns <= now and not self._ended:
            self._end_ns_seen = end_ns
            self._boundary(now, sample)
            self._ended = now >= end_ns
        busy = self._busy(self._prev, sample) if self._prev is not None else 0.0
        self._prev = sample
        self.interval_cpu = busy
        return busy

    def summary(self, schedule_error: dict[int, int]) -> dict[str, Any]:
        """This process's figures: ``cpu`` (share of one core), interpreter waits, and the
        open loop's start error as ``{µs: count}``."""
        first, last = self._first, self._last
        cpu = self._busy(first, last) if first is not None and last is not None else 0.0
        waits = sorted(self.waits_us)
        wall_s = (last.wall_ns - first.wall_ns) / NS if first is not None and last is not None \
            else 0.0
        cpu_wait = None
        demand = cpu
        if self._sched_first and self._sched_last and wall_s > 0 and first and last:
            # runqueue time of the threads alive at both ends: the time the process had work
            # ready but no CPU to run it on (a machine shared with other busy processes)
            queued = sum(self._sched_last[t][1] - self._sched_first[t][1] for t in
                         self._sched_last.keys() & self._sched_first.keys())
            # several threads can queue at once: at most "always waiting", 1
            cpu_wait = round(min(1.0, max(0.0, queued / NS / wall_s)), 3)
            # On a CPU or queued for one, less the open loop's deliberate spin (a spinning
            # thread is either of the two, or waiting for the interpreter, as wall time).
            spun = (last.spin_ns - first.spin_ns) / NS / wall_s
            ran = (last.cpu_s - first.cpu_s) / wall_s
            demand = max(0.0, ran + min(1.0, queued / NS / wall_s) - spun)
        return {"cpu": round(cpu, 3), "cpu_wait": cpu_wait, "demand": round(demand, 3),
                "cpus": os.cpu_count() or 1,
                "rss_mb": _rss_mb(),
                "interpreter_wait_p50_us": _pick(waits, 0.50),
                "interpreter_wait_p99_us": _pick(waits, 0.99),
                "schedule_error": {str(k): v for k, v in sorted(schedule_error.items())}}


def _sched_by_thread() -> dict[str, tuple[int, int]]:
    """Linux: each thread's (ns on a CPU, ns runnable but waiting for one); {} elsewhere.
    Read at the two ends of the measurement only (one small file per thread)."""
    found: dict[str, tuple[int, int]] = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return found
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/schedstat", encoding="ascii") as fh:
                ran, waited = fh.read().split()[:2]
            found[tid] = (int(ran), int(waited))
        except (OSError, ValueError):
            continue  # the thread has just left
    return found


def _rss_mb() -> float:
    """This process's peak resident set size, in MB (Linux reports KB)."""
    try:
        import resource

        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    except (ImportError, OSError):
        return 0.0


def _pick(ordered: Sequence[int], q: float) -> int:
    return int(ordered[min(len(ordered) - 1, int(q * len(ordered)))]) if ordered else 0


__all__ = ["ClientMeter"]
