"""The controller's live view of a run: merged figures from the workers' latest snapshots."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_flakebench.control.plane import Heartbeat
from pytest_flakebench.histogram import LatencyHistogram
from pytest_flakebench.judge.client import CLIENT_BOUND_CPU
from pytest_flakebench.units import format_us

UNKNOWN = "–"  # a figure not known yet (no worker has reported one)


@dataclass(slots=True)
class LiveView:
    """Takes in every worker snapshot once and renders one progress line.

    It keeps what the controller uses, not the snapshots themselves (a run's workers send one a
    second each, with its histogram, for as long as the run lasts): the merged measured
    histogram, each worker's newest figures, and the snapshots of find_max steps not judged yet.
    """

    name: str
    total_s: float
    last_seq: dict[str, int] = field(default_factory=dict)  # worker: newest snapshot taken
    taken: int = 0  # snapshots taken in all
    newest_ts: dict[str, float] = field(default_factory=dict)  # worker: its newest one's end
    steps: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # open find_max steps
    measured: LatencyHistogram = field(default_factory=LatencyHistogram)
    errors: int = 0
    latest_qps: dict[str, float] = field(default_factory=dict)
    latest: dict[str, str] = field(default_factory=dict)  # worker: newest interval histogram
    beat_seen: dict[str, float] = field(default_factory=dict)  # worker: last heartbeat parsed
    client_cpu: dict[str, float] = field(default_factory=dict)  # worker: its last second's CPU

    def absorb(self, heartbeats: Sequence[Heartbeat]) -> None:
        """Take in each worker's newest snapshot (each one counted once)."""
        for hb in heartbeats:
            if not hb.snapshot_json or self.beat_seen.get(hb.worker_id) == hb.last_heartbeat:
                continue
            self.beat_seen[hb.worker_id] = hb.last_heartbeat
            found = json.loads(hb.snapshot_json)
            # a worker's heartbeat carries its latest few snapshots (one, from older workers)
            for snap in found if isinstance(found, list) else [found]:
                self._take(hb.worker_id, snap)

    def _take(self, worker_id: str, snap: dict[str, Any]) -> None:
        # a worker numbers its snapshots 0, 1, 2… and every heartbeat lists its latest in order
        seq = int(snap["seq"])
        if seq <= self.last_seq.get(worker_id, -1):
            return
        self.last_seq[worker_id] = seq
        self.taken += 1
        self.newest_ts[worker_id] = max(self.newest_ts.get(worker_id, 0.0), float(snap["ts"]))
        step = int(snap.get("step", 0))
        if step:
            self.steps.setdefault(step, []).append(snap)
        self.latest_qps[worker_id] = float(snap["qps"])
        self.client_cpu[worker_id] = float(snap.get("client_cpu", 0.0))
        self.latest[worker_id] = snap["histogram"]
        if snap["phase"] == "MEASUREMENT":
            self.measured.add_encoded(snap["histogram"])
            self.errors += int(snap["errors"])

    def line(self, *, phase: str, elapsed_s: float, alive: int, stale: int, dead: int,
             progress: str | None = None) -> str:
        """``flakebench NAME  MEASUREMENT  12s/35s  qps …  p50 …  errors …  workers …``.

        ``phase`` is the one the run is in (WARMUP until the controller started the
        measurement); a figure no worker has reported yet reads ``–``, never 0. ``progress``
        replaces the elapsed/total time (an operation-count run: ``ops 1,200/10,000``)."""
        source = self.measured
        if not source.count:  # warmup: show the latest second rather than nothing
            source = LatencyHistogram()
            for encoded in self.latest.values():
                source.add_encoded(encoded)
        if source.count:
            p50, p95, p99 = (format_us(v) for v in source.percentiles_us((50.0, 95.0, 99.0)))
        else:
            p50 = p95 = p99 = UNKNOWN  # no operation has completed in any second seen so far
        qps = f"{sum(self.latest_qps.values()):,.0f}" if self.latest_qps else UNKNOWN
        workers = f"workers {alive} alive"
        if stale:
            workers += f", {stale} stale"
        if dead:
            workers += f", {dead} dead"
        busy = [w for w, cpu in self.client_cpu.items() if cpu >= CLIENT_BOUND_CPU]
        if busy:
            # the client, not the database, may be the ceiling: say so while it runs
            workers += (f"  client-bound: {busy[0]} at {self.client_cpu[busy[0]]:.0%} CPU, "
                        f"spread over processes with -n {2 * len(self.client_cpu)}")
        return "  ".join([
            f"flakebench {self.name}", phase,
            progress if progress is not None else f"{elapsed_s:4.0f}s/{self.total_s:.0f}s",
            f"qps {qps}", f"p50 {p50}", f"p95 {p95}", f"p99 {p99}",
            f"errors {self.errors if self.taken else UNKNOWN}", workers,
        ])

    def take_step(self, step: int) -> list[dict[str, Any]]:
        """The snapshots of find_max step ``step``, handed over once (it is being judged): the
        view forgets them and any of an earlier step."""
        for earlier in [s for s in self.steps if s < step]:
            del self.steps[earlier]
        return self.steps.pop(step, [])
