"""What the host was doing around a run: other processes' CPU, steal time, a calibration loop.

A benchmark on a shared CI runner is slowed by its neighbours; two runs measured under different
neighbours differ for a reason that is not the code. Each worker records, for its run:

- a **probe** just before and just after the measurement (the load is not running then): a
  fixed pure-Python CPU loop (its duration says how fast this process gets a CPU right now),
  while ``/proc/stat`` and our own ``getrusage`` give the CPU used by *other* processes during
  the loop (host busy time minus ours, in cores);
- over the whole run, steal time (hypervisor) as a share of the host's CPU time, and, for
  information, other processes' CPU during the load (it includes a local database server, which
  the benchmark itself keeps busy, so it is shown but never used to judge).

:func:`difference` says whether two runs' hosts differ beyond the stated bounds
(:data:`CALIBRATION_RATIO`, :data:`OTHER_LOAD_CORES`, :data:`STEAL_SHARE`) and how much slower
that could make a run on its own (the calibration ratio; 1 + the extra cores taken over the
host's cores; 1 / (1 - the extra steal)). The regression verdict then says INCONCLUSIVE instead
of REGRESSED for any change the host could explain (up to :data:`EXPLAINS` times that factor).
Pure: no database, no pytest; on a host without ``/proc/stat`` only the calibration loop is
recorded.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

# The stated bounds: two runs whose hosts differ by more than this are not compared.
CALIBRATION_RATIO = 1.30  # the calibration loop ran 30% slower in one run than the other
OTHER_LOAD_CORES = 0.60  # other processes used 0.6 cores more (probe before/after the load)
STEAL_SHARE = 0.05  # 5 percentage points more of the host's CPU time stolen

CALIBRATION_ROUNDS = 7  # the loop is timed this many times per probe; the median is kept
CALIBRATION_WORK = 100_000  # iterations per round (~10-15 ms): a probe takes ~0.1 s
_STAT = Path("/proc/stat")


@dataclass(frozen=True, slots=True)
class CpuTimes:
    """The host's CPU counters (seconds, summed over every core) and this process's CPU time."""

    busy_s: float
    total_s: float
    steal_s: float
    ours_s: float
    wall_s: float


def cpu_times() -> CpuTimes | None:
    """Now: host busy/total/steal from ``/proc/stat``; ours from ``getrusage`` (None: no procfs)."""
    try:
        import resource
    except ImportError:  # not a Unix: no getrusage, and no /proc/stat either
        return None
    usage = resource.getrusage(resource.RUSAGE_SELF)
    ours = usage.ru_utime + usage.ru_stime
    wall = time.monotonic()
    try:
        first = _STAT.read_text(encoding="ascii").split("\n", 1)[0].split()
    except OSError:
        return None
    if not first or first[0] != "cpu":
        return None
    hz = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0
    ticks = [int(x) for x in first[1:]]
    # user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is
    # already counted in user, so only the first eight fields are summed.
    fields = (ticks + [0] * 8)[:8]
    idle = fields[3] + fields[4]
    total = sum(fields)
    return CpuTimes(busy_s=(total - idle) / hz, total_s=total / hz, steal_s=fields[7] / hz,
                    ours_s=ours, wall_s=wall)


def _other_cores(before: CpuTimes | None, after: CpuTimes | None) -> float | None:
    """CPU used by other processes between two readings, in cores (never below 0)."""
    if before is None or after is None:
        return None
    wall = after.wall_s - before.wall_s
    if wall <= 0:
        return None
    other = (after.busy_s - before.busy_s) - (after.ours_s - before.ours_s)
    return max(0.0, other / wall)


def _spin(work: int) -> int:
    """The fixed calibration work: integer arithmetic the interpreter cannot skip."""
    acc = 0
    for i in range(work):
        acc = (acc * 31 + i) & 0xFFFF
    return acc


def probe(*, rounds: int = CALIBRATION_ROUNDS, work: int = CALIBRATION_WORK) -> dict[str, Any]:
    """Time the calibration loop ``rounds`` times; other processes' CPU while it ran."""
    before = cpu_times()
    times: list[float] = []
    for _ in range(rounds):
        start = time.perf_counter()
        _spin(work)
        times.append(time.perf_counter() - start)
    after = cpu_times()
    times.sort()
    return {"calibration_ms": round(times[len(times) // 2] * 1000.0, 3),
            "other_cores": _round(_other_cores(before, after))}


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


class HostRecorder:
    """Record one run's host noise: ``start()`` before the load, ``finish()`` after it."""

    def __init__(self) -> None:
        self._before: dict[str, Any] = {}
        self._start: CpuTimes | None = None

    def start(self) -> None:
        """Probe, then start counting the run's CPU time."""
        self._before = probe()
        self._start = cpu_times()

    def finish(self) -> dict[str, Any]:
        """Stop counting, probe again; the run's host record (JSON-ready)."""
        end = cpu_times()
        after = probe()
        record: dict[str, Any] = {
            "cores": os.cpu_count() or 1,
            "calibration_ms": [self._before.get("calibration_ms"), after["calibration_ms"]],
            "other_cores": [self._before.get("other_cores"), after["other_cores"]],
            "steal": None, "other_cores_during_load": None,
        }
        if self._start is not None and end is not None:
            total = end.total_s - self._start.total_s
            if total > 0:
                record["steal"] = round((end.steal_s - self._start.steal_s) / total, 4)
            record["other_cores_during_load"] = _round(_other_cores(self._start, end))
        return record


def _mean(values: Sequence[Any]) -> float | None:
    found = [float(v) for v in values if isinstance(v, (int, float))]
    return sum(found) / len(found) if found else None


def summary(host: Mapping[str, Any]) -> dict[str, float | None]:
    """One run's figures: calibration (ms), other processes (cores), steal (share)."""
    workers = host.get("workers")
    records: list[Mapping[str, Any]] = (list(workers.values()) if isinstance(workers, Mapping)
                                        else [host])
    cal = [_mean(r.get("calibration_ms") or ()) for r in records]
    other = [_mean(r.get("other_cores") or ()) for r in records]
    steal = [r.get("steal") for r in records]

    def worst(values: Sequence[float | None]) -> float | None:
        found = [v for v in values if v is not None]
        return max(found) if found else None

    # Several workers: the most disturbed one speaks for the run.
    return {"calibration_ms": worst(cal), "other_cores": worst(other),
            "steal": worst([s if isinstance(s, (int, float)) else None for s in steal]),
            "cores": worst([float(r["cores"]) if isinstance(r.get("cores"), int) else None
                            for r in records])}


def describe(host: Mapping[str, Any]) -> str:
    """``calibration 11.2ms, other processes 0.10 cores, steal 0%`` (or "not recorded")."""
    s = summary(host) if host else {}
    parts = []
    cal, other, steal = s.get("calibration_ms"), s.get("other_cores"), s.get("steal")
    if cal is not None:
        parts.append(f"calibration {cal:.1f}ms")
    if other is not None:
        parts.append(f"other processes {other:.2f} cores")
    if steal is not None:
        parts.append(f"steal {steal * 100:.0f}%")
    return ", ".join(parts) or "not recorded"


@dataclass(frozen=True, slots=True)
class HostDifference:
    """Two runs' hosts differ beyond the bounds: why, and how much slower one host was."""

    reason: str
    factor: float  # the slowdown the difference could cause on its own (x1.5)

    def explains(self, change_factor: float) -> bool:
        """True when a change of ``change_factor`` could be the host's doing.

        A host ``factor`` times slower can explain a change up to :data:`EXPLAINS` times that
        (latency grows faster than the CPU share shrinks once queues form); beyond, the change
        is the code's, whatever the neighbours did.
        """
        return change_factor <= EXPLAINS * self.factor


EXPLAINS = 2.0


def difference(baseline: Mapping[str, Any], candidate: Mapping[str, Any], *,
               slower: Literal["candidate", "baseline"] = "candidate",
               ) -> HostDifference | None:
    """How much slower the ``slower`` run's host was than the other's, where beyond the stated
    bounds (None: not slower beyond them, or unknown). Figures are shown baseline → candidate.

    One way at a time: a baseline measured on the slower host looks worse than its code is, so
    against it a candidate looks better, never worse; that cannot explain a regression (it did:
    a dropped index, p95 x3.06, was forgiven because the *baseline* had run with 16% of its CPU
    stolen, in one CI run), only an improvement (``slower="baseline"``).
    """
    if not baseline or not candidate:
        return None
    a, b = summary(baseline), summary(candidate)
    fast, slow = (a, b) if slower == "candidate" else (b, a)
    factor = 1.0
    reasons = []
    ca, cb = a["calibration_ms"], b["calibration_ms"]
    cf, cs = fast["calibration_ms"], slow["calibration_ms"]
    if cf and cs and ca and cb and cs > cf:
        factor = max(factor, cs / cf)
        if cs / cf > CALIBRATION_RATIO:
            reasons.append(f"calibration loop {ca:.1f}ms → {cb:.1f}ms "
                           f"(x{cs / cf:.2f}, bound x{CALIBRATION_RATIO:g})")
    oa, ob = a["other_cores"], b["other_cores"]
    of, os_ = fast["other_cores"], slow["other_cores"]
    cores = a["cores"] or b["cores"] or 1.0
    if oa is not None and ob is not None and of is not None and os_ is not None and os_ > of:
        factor = max(factor, 1 + (os_ - of) / cores)
        if os_ - of > OTHER_LOAD_CORES:
            reasons.append(f"other processes' CPU {oa:.2f} → {ob:.2f} cores "
                           f"(bound ±{OTHER_LOAD_CORES:g})")
    sa, sb = a["steal"], b["steal"]
    sf, ss = fast["steal"], slow["steal"]
    if sa is not None and sb is not None and sf is not None and ss is not None and ss > sf:
        factor = max(factor, 1 / max(0.05, 1 - (ss - sf)))
        if ss - sf > STEAL_SHARE:
            reasons.append(f"steal {sa * 100:.1f}% → {sb * 100:.1f}% "
                           f"(bound ±{STEAL_SHARE * 100:g}pp)")
    if not reasons:
        return None
    return HostDifference("; ".join(reasons), factor)
