"""A worker's event follower: applies the controller's events to the running engine, once each
and in order, from its own thread, and gives the control plane up when it has been silent too
long.

SET_PHASE moves the measurement boundary, SET_WORKER_TARGET parks or wakes connections,
SNAPSHOT cuts an interval, STOP ends the load (``cancel`` in its data: the run is being
cancelled). Events come from the store, or from this machine's hand-off files while the store is
out of reach; each one's lag is recorded after every effect of its batch.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

from pytest_flakebench.control.listen import EventWaiter
from pytest_flakebench.control.plane import Event
from pytest_flakebench.control.polling import policy_for
from pytest_flakebench.distributed.worker_context import WorkerContext
from pytest_flakebench.engine.runner import Engine
from pytest_flakebench.errors import FlakebenchError, StoreError

log = logging.getLogger("pytest_flakebench")

WATCH_S = 0.1  # how often the watchdog looks at the time since the last control-plane answer
POLL_S = 0.02  # event poll interval without LISTEN (control/polling): lag in the tens of ms
OUTAGE_POLL_S = 0.1  # while the store is out of reach (reconnect attempts, hand-off files)


class EventFollower:
    """Applies control events to a running engine, from its own thread."""

    def __init__(self, ctx: WorkerContext, run_id: str, last_seq: int) -> None:
        self.ctx = ctx
        self.run_id = run_id
        self.last_seq = last_seq
        self.engine: Engine | None = None
        self.stopped = threading.Event()
        self.cancelled = False
        self.last_contact = time.monotonic()  # the last answer from the control plane
        self.lost = False  # the watchdog gave the control plane up
        self._thread = threading.Thread(target=self._loop, name="flakebench-events", daemon=True)
        self._watchdog = threading.Thread(target=self._watch, name="flakebench-watchdog",
                                          daemon=True)

    def start(self, engine: Engine) -> None:
        """Follow the control events on ``engine`` (and watch for a lost control plane)."""
        self.engine = engine
        self.last_contact = time.monotonic()
        self._thread.start()
        self._watchdog.start()

    def apply(self, event: Event, *, record: bool = True) -> None:
        """Give ``event`` its effect on the engine; then record it unless ``record`` is False
        (the caller records a batch after every effect)."""
        engine = self.engine
        assert engine is not None  # start() sets it before the thread runs
        if event.type == "SET_PHASE" and event.data.get("phase") == "MEASUREMENT":
            engine.begin_measurement()
        elif event.type == "SET_WORKER_TARGET":
            step = event.data.get("step")
            engine.set_active(int(event.data["connections"]),
                              step=None if step is None else int(step))
            engine.request_tick()  # snapshots then never straddle two load steps
        elif event.type == "SNAPSHOT":
            engine.request_tick(end_step=bool(event.data.get("end_step")))
        elif event.type == "STOP":
            if event.data.get("cancel"):
                self.cancelled = True
                engine.stop()
            else:
                engine.finish(planned=bool(event.data.get("planned")))
            self.stopped.set()
        self.last_seq = event.seq
        if record:
            self.mark(event, time.time())

    def mark(self, event: Event, applied: float) -> None:
        """Record when ``event`` took effect (its control-plane lag)."""
        # Not retried: during a store outage the lag record is lost, never the event's effect
        # (a follower waiting on the store would see a handed-off STOP late).
        with contextlib.suppress(StoreError):
            self.ctx.plane.mark_applied(self.run_id, event.seq, self.ctx.worker_id, applied,
                                        (applied - event.created_at) * 1000.0, retry=False)

    def _loop(self) -> None:
        handoff = self.ctx.handoff
        policy = policy_for(self.ctx.plane.dialect)
        waiter = EventWaiter(self.ctx.plane, self.run_id, self.ctx.worker_id, policy,
                             self.stopped)
        interval = policy.min_s
        try:
            while not self.stopped.is_set():
                reached = False
                try:
                    # Not retried here: this loop is the retry, and it must keep looking at the
                    # hand-off files while the store is away.
                    changed = False
                    applied: list[tuple[Event, float]] = []
                    for event in self.ctx.plane.events_after(self.run_id, self.last_seq,
                                                             self.ctx.worker_id, retry=False):
                        # Every effect first, then the lag records: a record waiting on the
                        # store's write lock must not delay the next event (SET_PHASE, STOP).
                        self.apply(event, record=False)
                        applied.append((event, time.time()))
                        changed = True
                    for event, at in applied:
                        self.mark(event, at)
                    interval = policy.next(interval, changed)  # backs off on Snowflake only
                    reached = True
                    self.last_contact = time.monotonic()
                except FlakebenchError:
                    pass  # the store is away: keep measuring, poll gently
                if handoff is not None and handoff.active():
                    self.last_contact = time.monotonic()  # the controller speaks through files
                    for raw in handoff.events_after(self.run_id, self.last_seq,
                                                    self.ctx.worker_id):
                        self.apply(Event(int(raw["seq"]), str(raw["type"]), raw.get("target"),
                                         dict(raw["data"]), float(raw["created_at"])))
                if not reached:
                    self.stopped.wait(OUTAGE_POLL_S)
                    continue
                if handoff is not None and handoff.active():  # files announce nothing
                    self.stopped.wait(policy.min_s if waiter.listen else interval)
                    continue
                # LISTEN (PostgreSQL): woken by the next event's notification, else the
                # fallback poll; no need to look again right after an event (the next one
                # will be announced). Elsewhere: the policy's interval.
                with contextlib.suppress(FlakebenchError):  # a lost connection: poll next
                    waiter.wait(policy.max_s if waiter.listen else interval)
        finally:
            waiter.close()

    def _watch(self) -> None:
        """Its own thread, so that a store call hanging on a dead network (up to a connect
        timeout) cannot delay it: beyond the outage the controller rides out, it hands off
        (local workers see the files) or gives this worker up; the drain timeout is the
        margin for the former."""
        limit = self.ctx.store_outage_s + self.ctx.drain_timeout_s
        while not self.stopped.wait(WATCH_S):
            silent = time.monotonic() - self.last_contact
            if silent > limit:
                self._lost(silent)
                return

    def _lost(self, silent_s: float) -> None:
        """No word from the controller for longer than the store outage it rides out plus the
        drain timeout: it has given this worker up (a host cut off from the network), so stop
        loading the target now rather than at the safety margin after the planned end."""
        log.warning("%s: no control-plane contact for %.1fs (beyond --flakebench-store-outage "
                    "%gs + --flakebench-drain-timeout %gs): stopping this worker's load",
                    self.ctx.worker_id, silent_s, self.ctx.store_outage_s,
                    self.ctx.drain_timeout_s)
        self.cancelled = True
        self.lost = True
        if self.engine is not None:
            self.engine.stop()
        self.stopped.set()

    def join(self) -> None:
        """Stop following and wait (≤ 5 s) for the follower thread."""
        self.stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
