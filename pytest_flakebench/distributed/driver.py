"""The run driver: one run's state machine, one method per event (as xdist's DSession).

``drive()`` waits for the workers to join, plans the split, starts the load, then polls: each
poll turns what it sees into an event — ``on_heartbeats``, ``on_warmup_over``, ``on_step_over``
(find_max), ``on_measurement_over``, ``on_target_request``, ``on_cancel``,
``on_worker_interrupted``, ``on_all_dead``, ``on_error`` — and each event is a small method.

One rule ends every run: whatever ends it (the planned end, a cancel, a signal, every worker
dead, an error in the controller) goes through :meth:`RunDriver.stop`, which sends STOP first,
and then :meth:`RunDriver.end` waits for the drain and stores what was measured.

Waiting for the workers to join and connect is ``joining``; how the run is spread over them is
``run_plan``; the result built from the workers' reports is ``run_result``.

Statuses: PREPARED → STARTING → RUNNING → STOPPING → COMPLETED | PARTIAL, or CANCELLING →
CANCELLED, or FAILED (nothing measured); ABANDONED is set later by ``flakebench recover`` for a
run whose controller died. Phases: WARMUP → MEASUREMENT → COOLDOWN.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING

from pytest_flakebench.control.plane import Heartbeat
from pytest_flakebench.control.polling import policy_for
from pytest_flakebench.distributed.find_max import FindMax, step_stats
from pytest_flakebench.distributed.joining import NotStarted, await_connected, await_joins
from pytest_flakebench.distributed.live import LiveView
from pytest_flakebench.distributed.run_book import RunBook, WorkerReport
from pytest_flakebench.distributed.run_plan import plan_run
from pytest_flakebench.distributed.run_result import (
    end_status,
    final_line,
    result_from_reports,
    run_window,
)
from pytest_flakebench.distributed.split import split_connections
from pytest_flakebench.errors import FlakebenchError
from pytest_flakebench.judge.results import Status
from pytest_flakebench.judge.verdict import lag_summary
from pytest_flakebench.template.model import Template, WorkersSpec

if TYPE_CHECKING:
    from pytest_flakebench.distributed.coordinator import Coordinator

log = logging.getLogger("pytest_flakebench.controller")

TICK_S = 0.02  # phase changes are decided to within this
BEAT_POLL_S = 0.25


class RunDriver:
    """Drives one run from PREPARED to its end."""

    def __init__(self, coordinator: Coordinator, run_id: str) -> None:
        self.c = coordinator
        self.s = coordinator.settings
        self.plane = coordinator.plane
        self.poll = policy_for(self.plane.dialect)  # fewer queries on Snowflake (control/polling)
        self.book = RunBook(self.plane, run_id, coordinator.handoff)
        self.run_id = run_id
        self.test_id = ""
        self.ready: list[str] = []
        self.split: dict[str, int] = {}
        self.template: Template | None = None
        self.fm: FindMax | None = None
        self.warmup_s = self.duration_s = 0.0
        self.t_start = self.started_at = 0.0
        self.t_measure: float | None = None
        self.t_stop: float | None = None
        self.step_wall = self.step_end = self.fm_step_s = 0.0
        self.view = LiveView(name="", total_s=0.0)
        self.current: dict[str, Heartbeat] = {}
        self.alive = self.stale = 0
        self.next_beats = self.next_show = 0.0
        self.stopped = False
        self.cancelled: str | None = None
        self._threads: dict[str, int] = {}
        self._rates: dict[str, float] = {}
        self._bases: dict[str, int] = {}
        self._total_threads = 0
        self._operations: dict[str, int] = {}  # operation-count runs: each worker's share
        self.ops_done = False  # an operation-count run: every worker has run its share

    # -- the run ------------------------------------------------------------------------------

    def drive(self) -> None:
        """The whole run; returns once it is stored (or failed before any load)."""
        row = self.plane.get_run(self.run_id)
        if row is None:
            return
        self.test_id = row.test_id
        hbs = self._await_joins(list(row.participants))
        if hbs is None or not self._plan(hbs) or not self._connect():
            return
        self._start()
        try:
            while not self.stopped:
                self._poll()
                time.sleep(TICK_S)
        except Exception as exc:  # keep what was measured: stop, drain, store CANCELLED
            log.exception("controller failed during run %s", self.run_id)
            self.on_error(exc)
        self.end()

    def _poll(self) -> None:
        """Look at the clock, the workers and the requests; dispatch what happened."""
        now = time.monotonic()
        if now >= self.next_beats:
            # Heartbeats change once a second: reading them 4 times a second is enough, and
            # keeps the controller's share of the CPU away from the benchmark threads.
            self.on_heartbeats(self.book.heartbeats())
            self.next_beats = now + self.poll.beats_s  # Snowflake: once a second
            if self._operations and self.t_measure is not None:
                # An operation-count run ends once every live worker with connections ran its
                # share and reported (none alive: on_all_dead ends it, as a cancel).
                live = [w for w in self.ready if w not in self.book.dead and self.split.get(w)]
                self.ops_done = self.book.all_reported(live, self.current)
        interrupted = [w for w in self.ready if (hb := self.current.get(w)) is not None
                       and hb.status in ("CANCELLED", "FAILED")
                       and w not in self.book.dead]  # a worker given up on was sent STOP
        if self.c.cancel_reason:
            return self.on_cancel(self.c.cancel_reason)
        if interrupted:
            return self.on_worker_interrupted(interrupted[0])
        if self.t_measure is None and now >= self.t_start + self.warmup_s:
            self.on_warmup_over()
        if self.fm is not None and self.t_measure is not None and now >= self.step_end:
            self.on_step_over(now)
        if self.t_measure is not None and now >= self.t_measure + self.duration_s:
            return self.on_measurement_over()  # an operation-count run: its time limit
        if self.ops_done:
            return self.on_operations_done()
        for worker, connections in self.c.target_requests():
            self.on_target_request(worker, connections)
        if len(self.book.dead) == len(self.ready):
            return self.on_all_dead()
        if self.c.show is not None and now >= self.next_show:
            phase = "WARMUP" if self.t_measure is None else "MEASUREMENT"
            progress = None
            if self.template is not None and self.template.operations is not None \
                    and self.t_measure is not None:
                progress = (f"ops {self.view.measured.count + self.view.errors:,}/"
                            f"{self.template.operations:,}")
            self.c.show(self.view.line(phase=phase, elapsed_s=now - self.t_start,
                                       alive=self.alive, stale=self.stale,
                                       dead=len(self.book.dead), progress=progress), False)
            self.next_show = now + 1.0
        return None

    # -- events --------------------------------------------------------------------------------

    def on_heartbeats(self, hbs: dict[str, Heartbeat] | None) -> None:
        """Fresh worker rows (None: the store is out of reach; nothing new to judge)."""
        if hbs is None:
            return
        self.current = hbs
        dead = set(self.book.dead)
        self.alive, self.stale = self.book.liveness(hbs, self.c.down, self.s, self.ready,
                                                    self.c.watched)
        for worker in sorted(set(self.book.dead) - dead):
            # Given up on: it must stop loading the target all the same (if it still can).
            self.book.emit("STOP", {"cancel": True, "reason": self.book.dead[worker]},
                           target=worker)
        self.view.absorb(list(hbs.values()))

    def on_warmup_over(self) -> None:
        """Measurement starts now on every worker."""
        self.step_wall = time.time()  # before the event: every worker's cut comes after
        self.book.emit("SET_PHASE", {"phase": "MEASUREMENT"})
        self.t_measure = time.monotonic()
        self.step_end = self.t_measure + self.fm_step_s
        self.book.set_status("RUNNING", phase="MEASUREMENT", warmup_end=time.time())

    def on_step_over(self, now: float) -> None:
        """find_max: judge the step that just ended, then set the next one (or end)."""
        assert self.fm is not None
        assert self.t_measure is not None
        mark = self._mark_step()
        step = len(self.fm.steps) + 1  # the step that just ended
        nxt = self.fm.judge(step_stats(self.view.take_step(step), step, self.step_wall, mark),
                            elapsed_s=now - self.t_measure,
                            room_s=self.t_measure + self.duration_s - now)
        if nxt is None:
            self.duration_s = now - self.t_measure  # the search is over: stop at once
            return
        targets = split_connections(WorkersSpec(), nxt, self.ready)
        self.step_wall = time.time()  # before the events: the workers cut after it
        for w in self.ready:
            self.book.emit("SET_WORKER_TARGET", {"connections": targets[w], "step": step + 1},
                           target=w)
        self.step_end = time.monotonic() + self.fm_step_s

    def on_measurement_over(self) -> None:
        """The planned end."""
        self.stop(None)

    def on_operations_done(self) -> None:
        """An operation-count run: every worker ran its share and reported; end it now
        instead of at its time limit."""
        self.stop(None)

    def on_target_request(self, worker: str, connections: int) -> None:
        """``Coordinator.set_worker_target``: change one worker's active connections."""
        if worker in self.ready:
            self.book.emit("SET_WORKER_TARGET", {"connections": connections}, target=worker)

    def on_cancel(self, reason: str) -> None:
        """Ctrl-C, SIGTERM, a timeout or the session ending: cancel, keep what was measured."""
        self.stop(reason)

    def on_worker_interrupted(self, worker: str) -> None:
        """A worker was interrupted (its own Ctrl-C or a failure): the run is cancelled."""
        hb = self.current[worker]
        self.stop(f"worker {worker} was interrupted: {hb.last_error or hb.status}")

    def on_all_dead(self) -> None:
        """No worker left to measure."""
        self.stop("every worker died")

    def on_error(self, exc: BaseException) -> None:
        """The controller itself failed mid-run."""
        if not self.stopped:
            self.stop(f"controller error: {type(exc).__name__}: {exc}")

    # -- the one way a run ends ------------------------------------------------------------

    def stop(self, reason: str | None) -> None:
        """Send STOP to every worker (``reason``: cancel, keeping what was measured); the
        drain and the stored result follow in :meth:`end`."""
        if self.stopped:
            return
        self.stopped = True
        self.t_stop = time.monotonic()
        if reason is not None:
            self.cancelled = reason
            self.book.set_status("CANCELLING", cancellation_reason=reason)
            self.book.emit("STOP", {"cancel": True, "reason": reason})
            return
        self.book.emit("SET_PHASE", {"phase": "COOLDOWN"})
        # planned: each worker ends on its own clock, duration_s after it applied
        # SET_PHASE(MEASUREMENT); find_max's early end cuts the window now
        self.book.emit("STOP", {"planned": self.fm is None})
        self.book.set_status("STOPPING", phase="COOLDOWN", end_time=time.time())

    def end(self) -> None:
        """Wait for the drain, merge the reports, keep the result (stored or spooled)."""
        t_stop = self.t_stop if self.t_stop is not None else time.monotonic()
        reports = self.book.drain(self.ready, self.c.down, self.s, self.c.watched,
                                  self.poll.wait_s)
        measurement_s = run_window(
            reports, t_stop - self.t_measure if self.t_measure is not None else 0.0)
        self._finish(reports, measurement_s=measurement_s,
                     warmup_s=(self.t_measure or t_stop) - self.t_start)

    # -- before the load ---------------------------------------------------------------------

    def _fail_before_start(self, reason: str, status: Status = "FAILED") -> None:
        self.book.emit("STOP", {"cancel": True, "reason": reason})
        self.book.set_status(status, cancellation_reason=reason)

    def _await_joins(self, participants: list[str]) -> dict[str, Heartbeat] | None:
        joined = await_joins(self.c, self.run_id, participants, self.poll.wait_s)
        if isinstance(joined, NotStarted):
            self._fail_before_start(joined.reason, joined.status)
            return None
        for w in participants:
            if w not in joined:
                self.book.dead[w] = f"worker {w} went down before joining"
        return joined

    def _plan(self, hbs: dict[str, Heartbeat]) -> bool:
        """The template every worker resolved, the split, the threads; False if it failed."""
        self.ready = ready = [w for w in hbs if hbs[w].status == "READY"]
        first = json.loads(hbs[ready[0]].template_json or "{}")
        template = Template.model_validate(first)
        differing = [w for w in ready if json.loads(hbs[w].template_json or "{}") != first]
        if differing:
            self._fail_before_start(f"workers {', '.join(differing)} resolved a different "
                                    f"template than {ready[0]}: same code on every worker?")
            return False
        try:
            plan = plan_run(template, ready, self.s.duration_scale)
        except FlakebenchError as exc:
            self._fail_before_start(str(exc))
            return False
        self.template = template
        self.split, self.fm = plan.split, plan.fm
        self.warmup_s, self.duration_s, self.fm_step_s = (plan.warmup_s, plan.duration_s,
                                                          plan.fm_step_s)
        self._threads, self._rates, self._operations = plan.threads, plan.rates, plan.operations
        return True

    def _connect(self) -> bool:
        """Each worker opens its connections (on its SET_WORKER_TARGET, before START); wait
        until all have: connection set-up is never part of any window. False: run failed."""
        template = self.template
        assert template is not None
        self.book.set_status("STARTING", scenario_config=json.dumps(
            template.model_dump(mode="json")), worker_targets_json=json.dumps(self.split))
        total = 0
        for w in self.ready:
            self._bases[w] = total
            total += self._threads[w]
        self._total_threads = total
        for w in self.ready:
            self.book.emit("SET_WORKER_TARGET", {
                "connections": self.split[w], "threads": self._threads[w],
                "qps": self._rates[w], "thread_base": self._bases[w], "total_threads": total,
                "duration_s": self.duration_s,
                **({"operations": self._operations[w]} if self._operations else {}),
                **({"step": 1} if self.fm is not None else {})}, target=w)
        failed = await_connected(self.c, self.run_id, self.ready, self.poll.wait_s)
        if failed is not None:
            self._fail_before_start(failed.reason, failed.status)
            return False
        return True

    def _start(self) -> None:
        first_phase = "WARMUP" if self.warmup_s > 0 else "MEASUREMENT"
        self.book.emit("START", {"phase": first_phase, "warmup_s": self.warmup_s,
                                 "duration_s": self.duration_s, "thread_base": self._bases,
                                 "total_threads": self._total_threads})
        self.t_start = time.monotonic()
        self.started_at = time.time()
        self.book.set_status("RUNNING", phase=first_phase, start_time=self.started_at)
        self.t_measure = self.t_start if first_phase == "MEASUREMENT" else None
        self.step_wall, self.step_end = self.started_at, self.t_start + self.fm_step_s
        # an operation-count run shows its warmup's length, then ops done/N (not its limit)
        self.view = LiveView(name=self.test_id.rsplit("::", 1)[-1],
                             total_s=self.warmup_s + (0.0 if self._operations
                                                      else self.duration_s))
        self.next_show = self.t_start + 1.0
        self.next_beats = self.t_start

    def _mark_step(self) -> float:
        """Ask every worker to cut its interval now; wait (≤ 2 s) until their cuts arrive."""
        mark = time.time()
        self.book.emit("SNAPSHOT", {"end_step": True})
        deadline = time.monotonic() + 2.0
        live = [w for w in self.ready if w not in self.book.dead]
        while time.monotonic() < deadline:
            hbs = self.book.heartbeats()
            if hbs is None:
                break
            self.view.absorb(list(hbs.values()))
            newest = self.view.newest_ts
            if all(newest.get(w, 0.0) >= mark for w in live):
                break
            time.sleep(self.poll.wait_s)
        return time.time()

    # -- after the load ----------------------------------------------------------------------

    def _finish(self, reports: list[WorkerReport], *, measurement_s: float,
                warmup_s: float) -> None:
        template = self.template
        assert template is not None
        book = self.book
        outage_s = self.plane.outage_s(self.started_at)
        status, messages = end_status(cancelled=self.cancelled, dead=book.dead,
                                      offline=book.offline, outage_s=outage_s,
                                      store_outage_s=self.s.store_outage_s)
        fm = self.fm
        result = result_from_reports(
            template, reports, run_id=self.run_id, test=self.test_id, status=status,
            messages=messages, measurement_s=measurement_s, warmup_s=warmup_s,
            started_at=self.started_at, split=self.split, partial_fails=self.s.partial_fails,
            threads=self._threads,
            control={"lag_ms": lag_summary(book.lags_ms()), "split": self.split,
                     "dead": sorted(book.dead), "store_outage_s": round(outage_s, 3)},
            steps=tuple(fm.steps) if fm else (), find_max=fm.summary() if fm else {})
        result_json = json.dumps(result.to_dict(with_snapshots=False))
        if book.offline is not None and self.c.handoff is not None:
            # The workers cannot read the end from the store: hand it over first, so the test
            # is judged while the result is being stored or spooled.
            self.c.handoff.put_result(self.run_id, status, result_json, self.cancelled)
        try:
            result = self.c.keep(result)  # the session may add user fingerprint fields
            result_json = json.dumps(result.to_dict(with_snapshots=False))
        finally:
            book.set_status(status, phase="COOLDOWN", result_json=result_json,
                            cancellation_reason=self.cancelled)
            if book.offline is not None and self.c.handoff is not None:
                # the store went away while the run was being stored (at STOPPING)
                self.c.handoff.put_result(self.run_id, status, result_json, self.cancelled)
        if self.c.show is not None:
            self.c.show(final_line(result), True)


