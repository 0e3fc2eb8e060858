"""The controller's settings and its book-keeping for the run it drives."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pytest_flakebench.control.plane import ControlPlane, Heartbeat


@dataclass(frozen=True, slots=True)
class ControllerSettings:
    """Timeouts and policies of the controller."""

    duration_scale: float = 1.0
    join_timeout_s: float = 120.0
    stale_after_s: float = 2.0
    dead_after_s: float = 5.0
    drain_timeout_s: float = 10.0
    partial_fails: bool = True


class RunBook:
    """Book-keeping of the run being driven: event numbering and worker liveness."""

    def __init__(self, plane: ControlPlane, run_id: str) -> None:
        self.plane = plane
        self.run_id = run_id
        self.seq = 0
        self.last_change: dict[str, tuple[float, float]] = {}  # worker: (hb value, seen at)
        self.dead: dict[str, str] = {}

    def emit(self, event_type: str, data: dict[str, Any], target: str | None = None) -> None:
        self.seq += 1
        self.plane.append_event(self.run_id, self.seq, event_type, data, target_worker=target)

    def liveness(self, hbs: dict[str, Heartbeat], down: set[str], settings: ControllerSettings,
                 workers: list[str]) -> tuple[int, int]:
        """Mark dead workers; return ``(alive, stale)`` counts among ``workers``."""
        now = time.monotonic()
        alive = stale = 0
        for w in workers:
            if w in self.dead:
                continue
            hb = hbs.get(w)
            if w in down:
                self.dead[w] = f"worker {w} went down (its process exited)"
                continue
            if hb is None:
                continue
            value, seen = self.last_change.get(w, (-1.0, now))
            if hb.last_heartbeat != value:
                self.last_change[w] = (hb.last_heartbeat, now)
                seen = now
            silent = now - seen
            if hb.status in ("DONE", "CANCELLED", "IDLE"):
                alive += 1
            elif silent > settings.dead_after_s:
                self.dead[w] = f"worker {w} sent no heartbeat for {silent:.1f}s"
            elif silent > settings.stale_after_s:
                stale += 1
            else:
                alive += 1
        return alive, stale
