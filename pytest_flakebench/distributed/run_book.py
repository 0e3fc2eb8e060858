"""The controller's settings, the typed reports of its workers, and its book-keeping for the
run it drives: event numbering, the channel events go through, worker liveness and the drain
of the workers' final reports."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from pytest_flakebench.control.plane import ControlPlane, Heartbeat
from pytest_flakebench.distributed.handoff import Handoff
from pytest_flakebench.errors import StoreError

log = logging.getLogger("pytest_flakebench.controller")

DRAIN_GRACE_S = 5.0  # beyond the workers' drain timeout, for their reports to arrive


@dataclass(frozen=True, slots=True)
class ControllerSettings:
    """Timeouts and policies of the controller."""

    duration_scale: float = 1.0
    join_timeout_s: float = 120.0
    stale_after_s: float = 2.0
    dead_after_s: float = 5.0
    drain_timeout_s: float = 10.0
    partial_fails: bool = True
    store_outage_s: float = 30.0


@dataclass(frozen=True, slots=True)
class WorkerReport:
    """A worker's final report (``merge.worker_payload``), typed; ``payload`` is the wire form
    the merge functions read."""

    worker_id: str
    host: str
    connections: int
    status: str  # COMPLETED | CANCELLED (what the worker's engine saw)
    measurement_s: float
    messages: tuple[str, ...]
    meta: dict[str, Any]
    payload: dict[str, Any] = field(repr=False)

    @classmethod
    def parse(cls, payload: dict[str, Any]) -> WorkerReport:
        """From the JSON a worker posted."""
        return cls(worker_id=str(payload["worker_id"]), host=str(payload.get("host", "")),
                   connections=int(payload.get("connections", 0)),
                   status=str(payload.get("status", "COMPLETED")),
                   measurement_s=float(payload.get("measurement_s", 0.0)),
                   messages=tuple(str(m) for m in payload.get("messages", [])),
                   meta=dict(payload.get("meta") or {}), payload=payload)


class RunBook:
    """Book-keeping of the run being driven.

    Events and status changes go to the store; once the store has been out of reach for
    longer than the stated outage the run goes *offline*: events go through the local
    ``Handoff`` instead and status changes wait for the end (then the run is spooled).
    """

    def __init__(self, plane: ControlPlane, run_id: str, handoff: Handoff | None = None) -> None:
        self.plane = plane
        self.run_id = run_id
        self.handoff = handoff
        self.seq = 0
        self.last_change: dict[str, tuple[float, float]] = {}  # worker: (hb value, seen at)
        self.dead: dict[str, str] = {}
        self.offline: str | None = None  # why the store is out of reach, once it is
        self._last_read: float | None = None

    # -- the channel -------------------------------------------------------------------------

    def go_offline(self, exc: StoreError) -> None:
        """The store stayed unreachable beyond the stated outage: continue without it."""
        if self.offline is None:
            self.offline = str(exc)
            log.warning("run %s continues without the store: %s", self.run_id, exc)

    def emit(self, event_type: str, data: dict[str, Any], target: str | None = None) -> None:
        """Send an event to the workers (numbered here, so either channel keeps the order)."""
        self.seq += 1
        if self.offline is None:
            try:
                self.plane.append_event(self.run_id, self.seq, event_type, data,
                                        target_worker=target)
                return
            except StoreError as exc:
                self.go_offline(exc)
        if self.handoff is not None:
            self.handoff.emit(self.run_id, self.seq, event_type, data, target, time.time())

    def set_status(self, status: str, *, phase: str | None = None, **fields: Any) -> None:
        """Move the stored state machine (skipped while offline: the end is spooled)."""
        if self.offline is not None:
            return
        try:
            self.plane.set_status(self.run_id, status, phase=phase, **fields)
        except StoreError as exc:
            self.go_offline(exc)

    def heartbeats(self) -> dict[str, Heartbeat] | None:
        """Every worker's row, or None while offline."""
        if self.offline is not None:
            return None
        try:
            return {h.worker_id: h for h in self.plane.heartbeats(self.run_id)}
        except StoreError as exc:
            self.go_offline(exc)
            return None

    def reports(self, hbs: dict[str, Heartbeat] | None) -> dict[str, WorkerReport]:
        """Final reports posted so far: through the store, else handed off on this machine."""
        found: dict[str, WorkerReport] = {}
        if self.handoff is not None and self.handoff.active():
            found.update({w: WorkerReport.parse(p)
                          for w, p in self.handoff.payloads(self.run_id).items()})
        for w, hb in (hbs or {}).items():
            if hb.result_json:
                found[w] = WorkerReport.parse(json.loads(hb.result_json))
        return found

    def all_reported(self, workers: list[str], current: dict[str, Heartbeat]) -> bool:
        """Every one of ``workers`` has posted its report (``current``: their latest
        heartbeats); False for no worker at all."""
        if not workers:
            return False
        if self.offline is not None:
            # the store is out of reach: the reports come through this machine's hand-off files
            reported = self.reports(None)
            return all(w in reported for w in workers)
        return all((hb := current.get(w)) is not None and hb.status == "DONE"
                   and bool(hb.result_json) for w in workers)

    def lags_ms(self) -> list[float]:
        """Event-to-application lags recorded in the store (none while offline)."""
        if self.offline is not None:
            return []
        try:
            return self.plane.lags_ms(self.run_id)
        except StoreError as exc:
            self.go_offline(exc)
            return []

    # -- liveness ----------------------------------------------------------------------------

    def liveness(self, hbs: dict[str, Heartbeat], down: set[str], settings: ControllerSettings,
                 workers: list[str], watched: set[str] | frozenset[str] = frozenset()
                 ) -> tuple[int, int]:
        """Mark dead workers; return ``(alive, stale)`` counts among ``workers``.

        A worker in ``watched`` (its process is up, as the controller sees through a channel
        of its own) is never declared dead for a silent heartbeat, only stale: hundreds of load
        threads in one process can hold off its heartbeat thread for seconds. The others are
        dead after ``dead_after_s`` of silence."""
        now = time.monotonic()
        if self._last_read is not None and now - self._last_read > settings.stale_after_s:
            # We could not read the store for a while (an outage): the workers could not write
            # either. Their silence restarts from now rather than counting the outage.
            self.last_change = {w: (v, now) for w, (v, _) in self.last_change.items()}
        self._last_read = now
        alive = stale = 0
        for w in workers:
            if w in self.dead:
                continue
            hb = hbs.get(w)
            # the host too: on several machines it says which one to look at
            named = f"worker {w} on {hb.host}" if hb is not None and hb.host else f"worker {w}"
            if w in down:
                self.dead[w] = f"{named} went down (its process exited or its link was lost)"
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
            elif silent > settings.dead_after_s and w not in watched:
                self.dead[w] = f"{named} sent no heartbeat for {silent:.1f}s"
            elif silent > settings.stale_after_s:
                stale += 1
            else:
                alive += 1
        return alive, stale

    def drain(self, ready: list[str], down: set[str], settings: ControllerSettings,
              watched: set[str] | frozenset[str], wait_s: float) -> list[WorkerReport]:
        """Wait for the live workers' final reports (bounded by the drain timeout); a worker
        that does not report in time is marked dead."""
        deadline = time.monotonic() + settings.drain_timeout_s + DRAIN_GRACE_S
        while True:
            hbs = self.heartbeats()
            if hbs is not None:
                self.liveness(hbs, down, settings, ready, watched)
            reports = self.reports(hbs)
            waiting = [w for w in ready if w not in self.dead and w not in reports]
            if not waiting or time.monotonic() > deadline:
                for w in waiting:
                    self.dead[w] = (f"worker {w} did not report within the drain timeout "
                                    f"of {settings.drain_timeout_s:g}s")
                return [reports[w] for w in ready if w in reports]
            time.sleep(wait_s)
