"""FIND_MAX: step the run's concurrency up until a step breaks a criterion (controller side).

Every step is judged on its own samples only: the workers' snapshots stamped with its number
(workers cut their interval at each step change and at the controller's end-of-step mark, and
stamp each interval with the step it ran in, so the step is covered by whole samples and no
sample is attributed by its timestamps). A step's QPS is its operations over its
seconds (the samples' summed spans, per worker, averaged over the workers). A step
is STABLE unless its p95 rose more than ``max_latency_rise`` over step 1's, its QPS did not grow
by ``min_qps_growth`` over the best step so far, its error rate exceeds ``max_error_rate``, or
it breaks a latency/error SLO of the template. After the first failed step, one back-off step
runs at the midpoint between the best and the failed concurrency; then the search stops. It
never exceeds ``ceiling`` nor ``budget``. All workers change in lockstep (one SET_WORKER_TARGET
each per step, written together).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_flakebench.histogram import LatencyHistogram
from pytest_flakebench.template.model import FindMaxSpec, SLOSpec


@dataclass(slots=True)
class StepStats:
    """What one step measured."""

    qps: float
    p50_us: int
    p95_us: int
    p99_us: int
    ops: int
    errors: int
    seconds: float = 0.0  # the step's measured time: its samples' spans (mean over workers)
    samples: int = 0
    started_at: float = 0.0  # wall clock: the step's change was sent
    ended_at: float = 0.0  # wall clock: every worker had cut the step's last sample

    @property
    def error_rate(self) -> float:
        """Errors over attempts."""
        attempts = self.ops + self.errors
        return self.errors / attempts if attempts else 0.0


def step_stats(snapshots: Sequence[dict[str, Any]], step: int, start_ts: float,
               end_ts: float) -> StepStats:
    """Merge the measurement snapshots of step number ``step``, which ran from ``start_ts`` to
    ``end_ts`` (wall clock, reported with the step)."""
    inside = [s for s in snapshots
              if int(s.get("step", 0)) == step and s["phase"] == "MEASUREMENT"]
    hist = LatencyHistogram()
    spans: dict[str, float] = {}
    ops = errors = 0
    for snap in inside:
        hist.add_encoded(snap["histogram"])
        ops += int(snap["ops"])
        errors += int(snap["errors"])
        w = str(snap["worker_id"])
        spans[w] = spans.get(w, 0.0) + float(snap.get("span_s", 0.0))
    seconds = sum(spans.values()) / len(spans) if spans else 0.0
    p50, p95, p99 = hist.percentiles_us((50.0, 95.0, 99.0))
    return StepStats(qps=ops / seconds if seconds > 0 else 0.0, p50_us=p50, p95_us=p95,
                     p99_us=p99, ops=ops, errors=errors, seconds=seconds, samples=len(inside),
                     started_at=start_ts, ended_at=end_ts)


@dataclass(slots=True)
class FindMax:
    """The step plan and its verdicts."""

    spec: FindMaxSpec
    slo: SLOSpec
    concurrency: int = 0
    steps: list[dict[str, Any]] = field(default_factory=list)
    best: tuple[int, float] | None = None
    baseline_p95: int | None = None
    failed_at: int | None = None
    backed_off: bool = False
    stop_reason: str = ""

    def first(self) -> int:
        """The first step's concurrency."""
        self.concurrency = self.spec.start
        return self.concurrency

    def _breaches(self, stats: StepStats) -> list[str]:
        s = self.spec
        reasons: list[str] = []
        if not stats.ops:
            return ["no successful operation in the step"]
        if self.baseline_p95 is not None and \
                stats.p95_us > self.baseline_p95 * (1 + s.max_latency_rise):
            reasons.append(f"p95 {stats.p95_us}us rose more than {s.max_latency_rise:.0%} over "
                           f"step 1's {self.baseline_p95}us")
        if self.best is not None and not self.backed_off and \
                stats.qps < self.best[1] * (1 + s.min_qps_growth):
            reasons.append(f"QPS {stats.qps:.0f} did not grow {s.min_qps_growth:.0%} over "
                           f"{self.best[1]:.0f} at concurrency {self.best[0]}")
        if stats.error_rate > s.max_error_rate:
            reasons.append(f"error rate {stats.error_rate:.2%} above {s.max_error_rate:.2%}")
        for metric, value in (("p50", stats.p50_us), ("p95", stats.p95_us),
                              ("p99", stats.p99_us)):
            limit = getattr(self.slo, metric)
            if limit is not None and value > limit:
                reasons.append(f"SLO {metric} {value}us above {limit}us")
        if self.slo.error_rate is not None and stats.error_rate > self.slo.error_rate:
            reasons.append(f"SLO error_rate {stats.error_rate:.2%} above {self.slo.error_rate:.2%}")
        return reasons

    def judge(self, stats: StepStats, *, elapsed_s: float, room_s: float) -> int | None:
        """Record the step; return the next step's concurrency, or None to stop."""
        reasons = self._breaches(stats)
        self.steps.append({
            "step": len(self.steps) + 1, "concurrency": self.concurrency,
            "qps": round(stats.qps, 2), "p50_us": stats.p50_us, "p95_us": stats.p95_us,
            "p99_us": stats.p99_us, "ops": stats.ops, "errors": stats.errors,
            "seconds": round(stats.seconds, 6), "samples": stats.samples,
            "started_at": stats.started_at, "ended_at": stats.ended_at,
            "error_rate": stats.error_rate, "outcome": "DEGRADED" if reasons else "STABLE",
            "reason": "; ".join(reasons), "back_off": self.backed_off,
            "elapsed_s": round(elapsed_s, 2),
        })
        if self.baseline_p95 is None and stats.ops:
            self.baseline_p95 = stats.p95_us
        if not reasons and (self.best is None or stats.qps > self.best[1]):
            self.best = (self.concurrency, stats.qps)
        if self.backed_off:
            return None  # the back-off step was the last one
        if reasons:
            self.failed_at = self.concurrency
            self.stop_reason = reasons[0]
            if self.best is not None and self.concurrency - self.best[0] > 1:
                self.backed_off = True
                self.concurrency = (self.best[0] + self.concurrency) // 2
                return self.concurrency if room_s >= self.spec.step_duration else None
            return None
        nxt = self.concurrency + self.spec.step
        if nxt > self.spec.ceiling:
            self.stop_reason = f"ceiling {self.spec.ceiling} reached"
            return None
        if room_s < self.spec.step_duration:
            self.stop_reason = f"time budget {self.spec.budget:g}s reached"
            return None
        self.concurrency = nxt
        return nxt

    def summary(self) -> dict[str, Any]:
        """Best concurrency and QPS, why the search stopped, and where it first failed."""
        return {"best_concurrency": self.best[0] if self.best else None,
                "best_qps": round(self.best[1], 2) if self.best else None,
                "stop_reason": self.stop_reason, "failed_at": self.failed_at,
                "steps": len(self.steps)}
