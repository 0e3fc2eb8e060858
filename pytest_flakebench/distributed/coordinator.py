"""The controller: drives each run's state machine through the control plane.

It runs in a thread of the controlling process (the xdist controller, or the single pytest
process) and owns every decision: when the expected workers have joined, how connections are
split, when warmup ends and measurement starts, when load stops, which workers are dead, and the
merged result (stored once, by this process). Phases are timed on this process's monotonic clock
and reach the workers as events, so every worker measures the same window.

Statuses: PREPARED → STARTING → RUNNING → STOPPING → COMPLETED | PARTIAL, or CANCELLING →
CANCELLED, or FAILED (nothing measured). Phases: WARMUP → MEASUREMENT → COOLDOWN.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from pytest_flakebench.control.plane import ControlPlane, Heartbeat
from pytest_flakebench.distributed.find_max import FindMax, step_stats
from pytest_flakebench.distributed.live import LiveView
from pytest_flakebench.distributed.merge import (
    host_of,
    merge_cells,
    queries_of,
    samples_of,
    snapshots_of,
)
from pytest_flakebench.distributed.run_book import ControllerSettings, RunBook
from pytest_flakebench.distributed.split import split_connections
from pytest_flakebench.errors import FlakebenchError
from pytest_flakebench.results import RunResult, Status
from pytest_flakebench.template import Template, WorkersSpec
from pytest_flakebench.urls import scheme_of
from pytest_flakebench.verdict import Measured, RunMeta, build_result, lag_summary, worker_summary

log = logging.getLogger("pytest_flakebench.controller")

TICK_S = 0.02  # phase changes are decided to within this
BEAT_POLL_S = 0.25


def run_window(payloads: list[dict[str, Any]], fallback_s: float) -> float:
    """The run's one measurement window: the workers' windows, each from the controller's
    SET_PHASE to its STOP as that worker applied them on its own clock (equal to the planned
    duration unless the run was cut short); their mean when lag made them differ."""
    windows = [float(p["measurement_s"]) for p in payloads
               if int(p.get("connections", 0)) > 0 and p.get("started_at") is not None]
    return sum(windows) / len(windows) if windows else fallback_s


class Coordinator:
    """Drives runs one after another from a background thread."""

    def __init__(self, plane: ControlPlane, *, settings: ControllerSettings,
                 keep: Callable[[RunResult], RunResult],
                 show: Callable[[str, bool], None] | None = None) -> None:
        self.plane = plane
        self.settings = settings
        self.keep = keep
        self.show = show
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._down: set[str] = set()
        self._targets: queue.Queue[tuple[str, int]] = queue.Queue()
        self._cancel: str | None = None
        self._busy = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._loop, name="flakebench-controller",
                                        daemon=True)
        self._thread.start()

    # -- called from other threads --------------------------------------------------------

    def submit(self, run_id: str) -> None:
        """Drive ``run_id`` after the runs already submitted."""
        self._idle.clear()
        self._queue.put(run_id)

    def node_down(self, worker_id: str) -> None:
        """xdist reported that a worker process exited."""
        self._down.add(worker_id)

    def cancel(self, reason: str) -> None:
        """Cancel the running run and every queued one (Ctrl-C, timeout, controller error)."""
        self._cancel = reason

    def set_worker_target(self, worker_id: str, connections: int) -> None:
        """Ask ``worker_id`` to keep ``connections`` connections busy in the running run."""
        self._targets.put((worker_id, connections))

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until every submitted run has ended."""
        return self._idle.wait(timeout_s)

    def close(self) -> None:
        """Stop the thread once the queued runs are done."""
        self._queue.put(None)
        self._thread.join(timeout=5)

    # -- the controller thread ---------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            run_id = self._queue.get()
            if run_id is None:
                return
            try:
                self._drive(run_id)
            except BaseException as exc:  # never leave workers waiting on a dead controller
                log.exception("controller failed on run %s", run_id)
                self._abort(run_id, f"controller error: {type(exc).__name__}: {exc}")
            finally:
                if self._queue.empty():
                    self._idle.set()

    def _abort(self, run_id: str, reason: str) -> None:
        try:
            run = RunBook(self.plane, run_id)
            run.seq = 10_000  # above anything emitted: the STOP must sort last
            run.emit("STOP", {"cancel": True, "reason": reason})
            self.plane.set_status(run_id, "FAILED", cancellation_reason=reason)
        except FlakebenchError:
            log.exception("could not record the failure of run %s", run_id)

    def _fail_before_start(self, run: RunBook, reason: str, status: Status = "FAILED") -> None:
        run.emit("STOP", {"cancel": True, "reason": reason})
        self.plane.set_status(run.run_id, status, cancellation_reason=reason)

    def _drive(self, run_id: str) -> None:
        s = self.settings
        plane = self.plane
        row = plane.get_run(run_id)
        if row is None:
            return
        run = RunBook(plane, run_id)
        participants = list(row.participants)
        hbs = self._await_joins(run, participants)
        if hbs is None:
            return
        ready = [w for w in participants if w in hbs and hbs[w].status == "READY"]
        template = Template.model_validate(json.loads(hbs[ready[0]].template_json or "{}"))
        first = json.loads(hbs[ready[0]].template_json or "{}")
        differing = [w for w in ready if json.loads(hbs[w].template_json or "{}") != first]
        if differing:
            self._fail_before_start(run, f"workers {', '.join(differing)} resolved a different "
                                         f"template than {ready[0]}: same code on every worker?")
            return
        try:
            split = split_connections(template.workers, template.concurrency, ready)
        except FlakebenchError as exc:
            self._fail_before_start(run, str(exc))
            return
        fm: FindMax | None = None
        if template.mode == "find_max" and template.find_max is not None:
            fm = FindMax(template.find_max, template.slo)
            auto = WorkersSpec()
            try:
                split = split_connections(auto, fm.first(), ready)
                ceiling = split_connections(auto, template.find_max.ceiling, ready)
            except FlakebenchError as exc:
                self._fail_before_start(run, str(exc))
                return
        cap = template.workers.max_connections
        if template.mode == "qps" and cap is None:
            cap = 0  # open loop: each worker may grow to twice its share (see below)
        threads = {w: (max(n, cap) if cap else (2 * n if template.mode == "qps" else n))
                   if n else 0 for w, n in split.items()}
        if fm is not None:
            threads = {w: max(ceiling[w], split[w]) for w in split}
        total_conns = sum(split.values())
        # qps: each worker's share of the rate follows its share of the connections
        rates = {w: (template.qps or 0.0) * n / total_conns if total_conns else 0.0
                 for w, n in split.items()}
        bases, total = {}, 0
        for w in ready:
            bases[w] = total
            total += threads[w]
        warmup_s = template.warmup * s.duration_scale
        duration_s = template.duration * s.duration_scale
        if fm is not None:
            duration_s = fm.spec.budget * s.duration_scale  # the steps end it sooner
        plane.set_status(run_id, "STARTING", scenario_config=json.dumps(
            template.model_dump(mode="json")), worker_targets_json=json.dumps(split))
        for w in ready:
            # Each worker opens its connections on this event, before START.
            run.emit("SET_WORKER_TARGET", {"connections": split[w], "threads": threads[w],
                                           "qps": rates[w], "thread_base": bases[w],
                                           "total_threads": total, "duration_s": duration_s},
                     target=w)
        if not self._await_connected(run, ready):
            return
        first_phase = "WARMUP" if warmup_s > 0 else "MEASUREMENT"
        run.emit("START", {"phase": first_phase, "warmup_s": warmup_s, "duration_s": duration_s,
                           "thread_base": bases, "total_threads": total})
        t_start = time.monotonic()
        started_at = time.time()
        plane.set_status(run_id, "RUNNING", phase=first_phase, start_time=started_at)
        t_measure = t_start if first_phase == "MEASUREMENT" else None
        fm_step_s = (fm.spec.step_duration * s.duration_scale) if fm is not None else 0.0
        step_wall, step_end = started_at, t_start + fm_step_s
        view = LiveView(name=row.test_id.rsplit("::", 1)[-1], total_s=warmup_s + duration_s)
        cancelled: str | None = None
        next_show = t_start + 1.0
        current: dict[str, Heartbeat] = {}
        alive = stale = 0
        next_beats = t_start
        while True:
            now = time.monotonic()
            if now >= next_beats:
                # Heartbeats change once a second: reading them 4 times a second is enough,
                # and keeps the controller's share of the CPU away from the benchmark threads.
                current = {h.worker_id: h for h in plane.heartbeats(run_id)}
                alive, stale = run.liveness(current, self._down, s, ready)
                view.absorb(list(current.values()))
                next_beats = now + BEAT_POLL_S
            interrupted = [w for w in ready if current.get(w) is not None
                           and current[w].status in ("CANCELLED", "FAILED")]
            if self._cancel or interrupted:
                cancelled = self._cancel or (
                    f"worker {interrupted[0]} was interrupted: "
                    f"{current[interrupted[0]].last_error or current[interrupted[0]].status}")
                plane.set_status(run_id, "CANCELLING", cancellation_reason=cancelled)
                run.emit("STOP", {"cancel": True, "reason": cancelled})
                break
            if t_measure is None and now >= t_start + warmup_s:
                step_wall = time.time()  # before the event: every worker's cut comes after
                run.emit("SET_PHASE", {"phase": "MEASUREMENT"})
                t_measure = time.monotonic()
                step_end = t_measure + fm_step_s
                plane.set_status(run_id, "RUNNING", phase="MEASUREMENT", warmup_end=time.time())
            if fm is not None and t_measure is not None and now >= step_end:
                mark = self._mark_step(run, ready, view)
                nxt = fm.judge(step_stats(view.snaps, step_wall, mark),
                               elapsed_s=now - t_measure,
                               room_s=t_measure + duration_s - now)
                if nxt is None:
                    duration_s = now - t_measure  # the search is over: stop below
                else:
                    targets = split_connections(WorkersSpec(), nxt, ready)
                    step_wall = time.time()  # before the events: the workers cut after it
                    for w in ready:
                        run.emit("SET_WORKER_TARGET", {"connections": targets[w]}, target=w)
                    step_end = time.monotonic() + fm_step_s
            if t_measure is not None and now >= t_measure + duration_s:
                run.emit("SET_PHASE", {"phase": "COOLDOWN"})
                # planned: each worker ends on its own clock, duration_s after it applied
                # SET_PHASE(MEASUREMENT); find_max's early end cuts the window now
                run.emit("STOP", {"planned": fm is None})
                plane.set_status(run_id, "STOPPING", phase="COOLDOWN", end_time=time.time())
                break
            while not self._targets.empty():
                worker, n = self._targets.get_nowait()
                if worker in ready:
                    run.emit("SET_WORKER_TARGET", {"connections": n}, target=worker)
            if len(run.dead) == len(ready):
                cancelled = "every worker died"
                break
            if self.show is not None and now >= next_show:
                phase = "WARMUP" if t_measure is None else "MEASUREMENT"
                self.show(view.line(phase=phase, elapsed_s=now - t_start, alive=alive,
                                    stale=stale, dead=len(run.dead)), False)
                next_show = now + 1.0
            time.sleep(TICK_S)
        t_stop = time.monotonic()
        payloads = self._drain(run, ready)
        measurement_s = run_window(payloads, t_stop - t_measure if t_measure is not None else 0.0)
        self._finish(run, row.test_id, template, ready, split, payloads, cancelled,
                     measurement_s=measurement_s, warmup_s=(t_measure or t_stop) - t_start,
                     started_at=started_at, find_max=fm, threads=threads)

    def _mark_step(self, run: RunBook, ready: list[str], view: LiveView) -> float:
        """Ask every worker to cut its interval now; wait (≤ 2 s) until their cuts arrive."""
        mark = time.time()
        run.emit("SNAPSHOT", {})
        deadline = time.monotonic() + 2.0
        live = [w for w in ready if w not in run.dead]
        while time.monotonic() < deadline:
            view.absorb(self.plane.heartbeats(run.run_id))
            newest = {str(s["worker_id"]): float(s["ts"]) for s in view.snaps}
            if all(newest.get(w, 0.0) >= mark for w in live):
                break
            time.sleep(TICK_S)
        return time.time()

    def _await_connected(self, run: RunBook, ready: list[str]) -> bool:
        """Wait until every worker has opened its connections; False (run failed) otherwise."""
        deadline = time.monotonic() + self.settings.join_timeout_s
        while True:
            hbs = {h.worker_id: h for h in self.plane.heartbeats(run.run_id)}
            failed = [w for w in ready if w in hbs and hbs[w].status == "FAILED"]
            if failed:
                reasons = "; ".join(f"{w}: {hbs[w].last_error}" for w in failed)
                self._fail_before_start(run, f"connections failed on {reasons}")
                return False
            down = [w for w in ready if w in self._down]
            if down:
                self._fail_before_start(run, f"worker(s) {', '.join(down)} went down while "
                                             f"opening their connections")
                return False
            waiting = [w for w in ready if hbs.get(w) is None or hbs[w].status != "CONNECTED"]
            if not waiting:
                return True
            if self._cancel:
                self._fail_before_start(run, self._cancel, status="CANCELLED")
                return False
            if time.monotonic() > deadline:
                self._fail_before_start(
                    run, f"worker(s) {', '.join(waiting)} did not open their connections "
                         f"within {self.settings.join_timeout_s:g}s (--flakebench-join-timeout)")
                return False
            time.sleep(TICK_S)

    def _await_joins(self, run: RunBook, participants: list[str]) -> dict[str, Heartbeat] | None:
        deadline = time.monotonic() + self.settings.join_timeout_s
        while True:
            hbs = {h.worker_id: h for h in self.plane.heartbeats(run.run_id)}
            failed = [w for w in participants if w in hbs and hbs[w].status == "FAILED"]
            if failed:
                reasons = "; ".join(f"{w}: {hbs[w].last_error}" for w in failed)
                self._fail_before_start(run, f"setup failed on {reasons}")
                return None
            missing = [w for w in participants if w not in hbs and w not in self._down]
            if not missing:
                ready = [w for w in participants if w in hbs and hbs[w].status == "READY"]
                if not ready:
                    self._fail_before_start(run, "no worker could join the run")
                    return None
                for w in participants:
                    if w not in hbs:
                        run.dead[w] = f"worker {w} went down before joining"
                return hbs
            if self._cancel:
                self._fail_before_start(run, self._cancel, status="CANCELLED")
                return None
            if time.monotonic() > deadline:
                self._fail_before_start(
                    run, f"worker(s) {', '.join(missing)} did not join within "
                         f"{self.settings.join_timeout_s:g}s (--flakebench-join-timeout)")
                return None
            time.sleep(TICK_S)

    def _drain(self, run: RunBook, ready: list[str]) -> list[dict[str, Any]]:
        """Wait for the live workers' final reports (bounded by the drain timeout)."""
        deadline = time.monotonic() + self.settings.drain_timeout_s + 5.0
        while True:
            hbs = {h.worker_id: h for h in self.plane.heartbeats(run.run_id)}
            run.liveness(hbs, self._down, self.settings, ready)
            waiting = [w for w in ready if w not in run.dead and not hbs[w].result_json]
            if not waiting or time.monotonic() > deadline:
                for w in waiting:
                    run.dead[w] = (f"worker {w} did not report within the drain timeout of "
                                   f"{self.settings.drain_timeout_s:g}s")
                return [json.loads(hbs[w].result_json or "{}") for w in ready
                        if hbs[w].result_json]
            time.sleep(TICK_S)

    def _finish(self, run: RunBook, test_id: str, template: Template, ready: list[str],
                split: dict[str, int], payloads: list[dict[str, Any]], cancelled: str | None, *,
                measurement_s: float, warmup_s: float, started_at: float,
                find_max: FindMax | None = None, threads: dict[str, int] | None = None) -> None:
        kinds = list(template.weights())
        cells = merge_cells(payloads, kinds)
        status: Status = "COMPLETED"
        messages: list[str] = []
        if cancelled:
            status = "CANCELLED"
            messages.append(f"cancelled: {cancelled}")
        elif run.dead:
            status = "PARTIAL"
        messages.extend(f"{reason}; the run is PARTIAL (its measurements are not included)"
                        if status == "PARTIAL" else reason for reason in run.dead.values())
        workers = []
        for p in payloads:
            messages.extend(f"{p['worker_id']}: {m}" for m in p.get("messages", []))
            per = merge_cells([p], kinds)
            # every row uses the run's one window (QPS = ops / that window)
            workers.append(worker_summary(
                p["worker_id"], host=p["host"], connections=int(p["connections"]),
                status="CANCELLED" if p["status"] == "CANCELLED" else "COMPLETED",
                measured=per[1], measurement_s=measurement_s))
        meta_src: dict[str, Any] = next((p["meta"] for p in payloads if p.get("meta")), {})
        target = str(meta_src.get("target", ""))
        meta = RunMeta(target_kind=scheme_of(target) if target else "", target=target,
                       table=str(meta_src.get("table", template.table)),
                       server_version=str(meta_src.get("server_version", "")),
                       row_count=int(meta_src.get("row_count", 0)),
                       server_settings=dict(meta_src.get("server_settings", {})),
                       client_path=meta_src.get("client_path"))
        measured = Measured(
            kinds=kinds, cells=cells, measurement_s=measurement_s, warmup_s=warmup_s,
            started_at=started_at, ended_at=time.time(), status=status,
            connections=sum(split.values()), workers=tuple(workers),
            connections_allowed=sum((threads or split).values()),
            snapshots=tuple(snapshots_of(payloads)), messages=messages,
            partial_fails=self.settings.partial_fails,
            control={"lag_ms": lag_summary(self.plane.lags_ms(run.run_id)),
                     "split": split, "dead": sorted(run.dead)},
            queries=tuple(queries_of(payloads)),
            samples=samples_of(payloads), host=host_of(payloads),
            steps=tuple(find_max.steps) if find_max else (),
            # the target is shared: the run was unavailable as long as its worst worker saw
            unavailable_s=max((float(p.get("unavailable_s", 0.0)) for p in payloads),
                              default=0.0),
            find_max=find_max.summary() if find_max else {})
        result = build_result(template, measured, meta, run_id=run.run_id, test=test_id)
        try:
            result = self.keep(result)  # the session may add user fingerprint fields
        finally:
            self.plane.set_status(run.run_id, status, phase="COOLDOWN",
                                  result_json=json.dumps(result.to_dict(with_snapshots=False)),
                                  cancellation_reason=cancelled)
        if self.show is not None:
            self.show(self._final_line(result), True)

    @staticmethod
    def _final_line(result: RunResult) -> str:
        from pytest_flakebench.units import format_us

        o = result.overall
        return (f"flakebench {result.test.rsplit('::', 1)[-1]}  {result.status}  "
                f"{result.measurement_s:.1f}s  qps {o.qps:,.0f}  p50 {format_us(o.latency.p50_us)}"
                f"  p95 {format_us(o.latency.p95_us)}  p99 {format_us(o.latency.p99_us)}  "
                f"errors {o.errors}  workers {len(result.workers)}")


__all__ = ["ControllerSettings", "Coordinator"]
