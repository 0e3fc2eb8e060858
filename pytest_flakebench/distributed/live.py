"""The controller's live view of a run: merged figures from the workers' latest snapshots."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from pytest_flakebench.control.plane import Heartbeat
from pytest_flakebench.histogram import LatencyHistogram
from pytest_flakebench.units import format_us


@dataclass(slots=True)
class LiveView:
    """Accumulates every worker snapshot once and renders one progress line."""

    name: str
    total_s: float
    seen: set[tuple[str, int]] = field(default_factory=set)
    measured: LatencyHistogram = field(default_factory=LatencyHistogram)
    errors: int = 0
    latest_qps: dict[str, float] = field(default_factory=dict)

    def absorb(self, heartbeats: Sequence[Heartbeat]) -> None:
        """Take in each worker's newest snapshot (each one counted once)."""
        for hb in heartbeats:
            if not hb.snapshot_json:
                continue
            snap = json.loads(hb.snapshot_json)
            key = (hb.worker_id, int(snap["seq"]))
            if key in self.seen:
                continue
            self.seen.add(key)
            self.latest_qps[hb.worker_id] = float(snap["qps"])
            if snap["phase"] == "MEASUREMENT":
                self.measured.add_encoded(snap["histogram"])
                self.errors += int(snap["errors"])

    def line(self, *, phase: str, elapsed_s: float, alive: int, stale: int, dead: int) -> str:
        """``flakebench NAME  MEASUREMENT  12s/35s  qps …  p50 …  errors …  workers …``."""
        s = self.measured.summary()
        workers = f"workers {alive} alive"
        if stale:
            workers += f", {stale} stale"
        if dead:
            workers += f", {dead} dead"
        return "  ".join([
            f"flakebench {self.name}", phase, f"{elapsed_s:4.0f}s/{self.total_s:.0f}s",
            f"qps {sum(self.latest_qps.values()):,.0f}", f"p50 {format_us(s.p50_us)}",
            f"p95 {format_us(s.p95_us)}", f"p99 {format_us(s.p99_us)}",
            f"errors {self.errors}", workers,
        ])
