"""The run driver: one run's state machine, one method per event (as xdist's DSession).

``drive()`` waits for the workers to join, plans the split, starts the load, then polls: each
poll turns what it sees into an event — ``on_heartbeats``, ``on_warmup_over``, ``on_step_over``
(find_max), ``on_measurement_over``, ``on_target_request``, ``on_cancel``,
``on_worker_interrupted``, ``on_all_dead``, ``on_error`` — and each event is a small method.

One rule ends every run: whatever ends it (the planned end, a cancel, a signal, every worker
dead, an error in the controller) goes through :meth:`RunDriver.stop`, which sends STOP first,
and then :meth:`RunDriver.end` waits for the drain and stores what was measured.

Statuses: PREPARED → STARTING → RUNNING → STOPPING → COMPLETED | PARTIAL, or CANCELLING →
CANCELLED, or FAILED (nothing measured); ABANDONED is set later by ``flakebench recover`` for a
run whose controller died. Phases: WARMUP → MEASUREMENT → COOLDOWN.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from pytest_flakebench.control.plane import Heartbeat
from pytest_flakebench.control.polling import policy_for
from pytest_flakebench.distributed.find_max import FindMax, step_stats
from pytest_flakebench.distributed.live import LiveView
from pytest_flakebench.distributed.merge import (
    host_of,
    merge_cells,
    queries_of,
    samples_of,
    snapshots_of,
)
from pytest_flakebench.distributed.run_book import RunBook, WorkerReport
from pytest_flakebench.distributed.split import split_connections, split_operations
from pytest_flakebench.errors import FlakebenchError
from pytest_flakebench.judge.results import RunResult, Status
from pytest_flakebench.judge.verdict import (
    Measured,
    RunMeta,
    build_result,
    lag_summary,
    worker_summary,
)
from pytest_flakebench.template.model import Template, WorkersSpec
from pytest_flakebench.urls import scheme_of

if TYPE_CHECKING:
    from pytest_flakebench.distributed.coordinator import Coordinator

log = logging.getLogger("pytest_flakebench.controller")

TICK_S = 0.02  # phase changes are decided to within this
BEAT_POLL_S = 0.25
DRAIN_GRACE_S = 5.0  # beyond the workers' drain timeout, for their reports to arrive


def run_window(reports: list[WorkerReport], fallback_s: float) -> float:
    """The run's one measurement window: the workers' windows, each from the controller's
    SET_PHASE to its STOP as that worker applied them on its own clock (equal to the planned
    duration unless the run was cut short); their mean when lag made them differ."""
    windows = [r.measurement_s for r in reports
               if r.connections > 0 and r.payload.get("started_at") is not None]
    return sum(windows) / len(windows) if windows else fallback_s


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
                self.ops_done = self._all_done()  # looked at with the heartbeats only
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
        nxt = self.fm.judge(step_stats(self.view.snaps, self.step_wall, mark),
                            elapsed_s=now - self.t_measure,
                            room_s=self.t_measure + self.duration_s - now)
        if nxt is None:
            self.duration_s = now - self.t_measure  # the search is over: stop at once
            return
        targets = split_connections(WorkersSpec(), nxt, self.ready)
        self.step_wall = time.time()  # before the events: the workers cut after it
        for w in self.ready:
            self.book.emit("SET_WORKER_TARGET", {"connections": targets[w]}, target=w)
        self.step_end = time.monotonic() + self.fm_step_s

    def on_measurement_over(self) -> None:
        """The planned end."""
        self.stop(None)

    def on_operations_done(self) -> None:
        """An operation-count run: every worker ran its share and reported; end it now
        instead of at its time limit."""
        self.stop(None)

    def _all_done(self) -> bool:
        """Every live worker with connections has posted its report (an operation-count run:
        each one's threads have run their shares); False while none is left alive."""
        live = [w for w in self.ready if w not in self.book.dead and self.split.get(w)]
        if not live:
            return False  # every worker died: on_all_dead ends the run, as a cancel
        if self.book.offline is not None:
            # the store is out of reach: the reports come through this machine's hand-off files
            reported = self.book.reports(None)
            return all(w in reported for w in live)
        return all((hb := self.current.get(w)) is not None and hb.status == "DONE"
                   and bool(hb.result_json) for w in live)

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
        reports = self._drain()
        measurement_s = run_window(
            reports, t_stop - self.t_measure if self.t_measure is not None else 0.0)
        self._finish(reports, measurement_s=measurement_s,
                     warmup_s=(self.t_measure or t_stop) - self.t_start)

    # -- before the load ---------------------------------------------------------------------

    def _fail_before_start(self, reason: str, status: Status = "FAILED") -> None:
        self.book.emit("STOP", {"cancel": True, "reason": reason})
        self.book.set_status(status, cancellation_reason=reason)

    def _await_joins(self, participants: list[str]) -> dict[str, Heartbeat] | None:
        deadline = time.monotonic() + self.s.join_timeout_s
        while True:
            hbs = {h.worker_id: h for h in self.plane.heartbeats(self.run_id)}
            failed = [w for w in participants if w in hbs and hbs[w].status == "FAILED"]
            if failed:
                reasons = "; ".join(f"{w}: {hbs[w].last_error}" for w in failed)
                self._fail_before_start(f"setup failed on {reasons}")
                return None
            missing = [w for w in participants if w not in hbs and w not in self.c.down]
            if not missing:
                ready = [w for w in participants if w in hbs and hbs[w].status == "READY"]
                if not ready:
                    self._fail_before_start("no worker could join the run")
                    return None
                for w in participants:
                    if w not in hbs:
                        self.book.dead[w] = f"worker {w} went down before joining"
                return hbs
            if self.c.cancel_reason:
                self._fail_before_start(self.c.cancel_reason, status="CANCELLED")
                return None
            if time.monotonic() > deadline:
                self._fail_before_start(
                    f"worker(s) {', '.join(missing)} did not join within "
                    f"{self.s.join_timeout_s:g}s (--flakebench-join-timeout)")
                return None
            time.sleep(self.poll.wait_s)

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
            self.split = split = split_connections(template.workers, template.concurrency, ready)
            if template.mode == "find_max" and template.find_max is not None:
                self.fm = FindMax(template.find_max, template.slo)
                split = self.split = split_connections(WorkersSpec(), self.fm.first(), ready)
                ceiling = split_connections(WorkersSpec(), template.find_max.ceiling, ready)
        except FlakebenchError as exc:
            self._fail_before_start(str(exc))
            return False
        cap = template.workers.max_connections
        if template.mode == "qps" and cap is None:
            cap = 0  # open loop: each worker may grow to twice its share (see below)
        threads = {w: (max(n, cap) if cap else (2 * n if template.mode == "qps" else n))
                   if n else 0 for w, n in split.items()}
        if self.fm is not None:
            threads = {w: max(ceiling[w], split[w]) for w in split}
        total_conns = sum(split.values())
        # qps: each worker's share of the rate follows its share of the connections
        rates = {w: (template.qps or 0.0) * n / total_conns if total_conns else 0.0
                 for w, n in split.items()}
        self.template = template
        self.warmup_s = template.warmup * self.s.duration_scale
        self.duration_s = template.duration * self.s.duration_scale
        if self.fm is not None:
            self.duration_s = self.fm.spec.budget * self.s.duration_scale  # steps end sooner
            self.fm_step_s = self.fm.spec.step_duration * self.s.duration_scale
        self._threads, self._rates = threads, rates
        if template.operations is not None:
            self._operations = split_operations(template.operations, split)
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
                **({"operations": self._operations[w]} if self._operations else {})}, target=w)
        deadline = time.monotonic() + self.s.join_timeout_s
        while True:
            hbs = {h.worker_id: h for h in self.plane.heartbeats(self.run_id)}
            failed = [w for w in self.ready if w in hbs and hbs[w].status == "FAILED"]
            if failed:
                reasons = "; ".join(f"{w}: {hbs[w].last_error}" for w in failed)
                self._fail_before_start(f"connections failed on {reasons}")
                return False
            down = [w for w in self.ready if w in self.c.down]
            if down:
                self._fail_before_start(f"worker(s) {', '.join(down)} went down while "
                                        f"opening their connections")
                return False
            waiting = [w for w in self.ready
                       if hbs.get(w) is None or hbs[w].status != "CONNECTED"]
            if not waiting:
                return True
            if self.c.cancel_reason:
                self._fail_before_start(self.c.cancel_reason, status="CANCELLED")
                return False
            if time.monotonic() > deadline:
                self._fail_before_start(
                    f"worker(s) {', '.join(waiting)} did not open their connections within "
                    f"{self.s.join_timeout_s:g}s (--flakebench-join-timeout)")
                return False
            time.sleep(self.poll.wait_s)

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
        self.book.emit("SNAPSHOT", {})
        deadline = time.monotonic() + 2.0
        live = [w for w in self.ready if w not in self.book.dead]
        while time.monotonic() < deadline:
            hbs = self.book.heartbeats()
            if hbs is None:
                break
            self.view.absorb(list(hbs.values()))
            newest = {str(s["worker_id"]): float(s["ts"]) for s in self.view.snaps}
            if all(newest.get(w, 0.0) >= mark for w in live):
                break
            time.sleep(self.poll.wait_s)
        return time.time()

    # -- after the load ----------------------------------------------------------------------

    def _drain(self) -> list[WorkerReport]:
        """Wait for the live workers' final reports (bounded by the drain timeout)."""
        deadline = time.monotonic() + self.s.drain_timeout_s + DRAIN_GRACE_S
        while True:
            hbs = self.book.heartbeats()
            if hbs is not None:
                self.book.liveness(hbs, self.c.down, self.s, self.ready, self.c.watched)
            reports = self.book.reports(hbs)
            waiting = [w for w in self.ready if w not in self.book.dead and w not in reports]
            if not waiting or time.monotonic() > deadline:
                for w in waiting:
                    self.book.dead[w] = (f"worker {w} did not report within the drain timeout "
                                         f"of {self.s.drain_timeout_s:g}s")
                return [reports[w] for w in self.ready if w in reports]
            time.sleep(self.poll.wait_s)

    def _finish(self, reports: list[WorkerReport], *, measurement_s: float,
                warmup_s: float) -> None:
        template = self.template
        assert template is not None
        book = self.book
        status: Status = "COMPLETED"
        messages: list[str] = []
        if self.cancelled:
            status = "CANCELLED"
            messages.append(f"cancelled: {self.cancelled}")
        elif book.dead:
            status = "PARTIAL"
        messages.extend(f"{reason}; the run is PARTIAL (its measurements are not included)"
                        if status == "PARTIAL" else reason for reason in book.dead.values())
        outage_s = self.plane.outage_s(self.started_at)
        if book.offline:
            messages.append(f"the results store was unreachable beyond "
                            f"{self.s.store_outage_s:g}s ({book.offline}); the run went on "
                            f"through this machine's hand-off files")
        elif outage_s > 0:
            messages.append(f"the results store was unreachable for {outage_s:.1f}s; the run "
                            f"rode it out (control events were late by up to that)")
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


def result_from_reports(template: Template, reports: list[WorkerReport], *, run_id: str,
                        test: str, status: Status, messages: list[str], measurement_s: float,
                        warmup_s: float, started_at: float, split: dict[str, int],
                        partial_fails: bool, control: dict[str, Any],
                        threads: dict[str, int] | None = None,
                        steps: tuple[dict[str, Any], ...] = (),
                        find_max: dict[str, Any] | None = None) -> RunResult:
    """The merged, judged result of a run from its workers' final reports (the controller at
    the end of a run; ``flakebench recover`` for a run whose controller died)."""
    kinds = list(template.weights())
    payloads = [r.payload for r in reports]
    messages = list(messages)
    workers = []
    for r in reports:
        messages.extend(f"{r.worker_id}: {m}" for m in r.messages)
        per = merge_cells([r.payload], kinds)
        workers.append(worker_summary(
            r.worker_id, host=r.host, connections=r.connections,
            status="CANCELLED" if r.status == "CANCELLED" else "COMPLETED",
            measured=per[1], measurement_s=measurement_s))  # the run's one window
    meta_src: dict[str, Any] = next((r.meta for r in reports if r.meta), {})
    target = str(meta_src.get("target", ""))
    meta = RunMeta(target_kind=scheme_of(target) if target else "", target=target,
                   table=str(meta_src.get("table", template.table)),
                   server_version=str(meta_src.get("server_version", "")),
                   row_count=int(meta_src.get("row_count", 0)),
                   server_settings=dict(meta_src.get("server_settings", {})),
                   client_path=meta_src.get("client_path"))
    measured = Measured(
        kinds=kinds, cells=merge_cells(payloads, kinds), measurement_s=measurement_s,
        warmup_s=warmup_s, started_at=started_at, ended_at=time.time(), status=status,
        connections=sum(split.values()), workers=tuple(workers),
        connections_allowed=sum((threads or split).values()),
        clients=tuple(dict(r.payload.get("client") or {}, worker_id=r.worker_id)
                      for r in reports if r.payload.get("client")),
        snapshots=tuple(snapshots_of(payloads)), messages=messages,
        partial_fails=partial_fails, control=control, queries=tuple(queries_of(payloads)),
        samples=samples_of(payloads), host=host_of(payloads),
        # the target is shared: the run was unavailable as long as its worst worker saw
        unavailable_s=max((float(p.get("unavailable_s", 0.0)) for p in payloads), default=0.0),
        steps=steps, find_max=find_max or {})
    from pytest_flakebench.evidence.attach import attach_evidence

    return attach_evidence(build_result(template, measured, meta, run_id=run_id, test=test),
                           payloads)


def final_line(result: Any) -> str:
    """The run's last live line."""
    from pytest_flakebench.units import format_us

    o = result.overall
    return (f"flakebench {result.test.rsplit('::', 1)[-1]}  {result.status}  "
            f"{result.measurement_s:.1f}s  qps {o.qps:,.0f}  p50 {format_us(o.latency.p50_us)}"
            f"  p95 {format_us(o.latency.p95_us)}  p99 {format_us(o.latency.p99_us)}  "
            f"errors {o.errors}  workers {len(result.workers)}")


__all__ = ["RunDriver", "final_line"]
