"""A worker's part of a run: preflight, join, follow the controller's events, report.

The worker opens its own connections to the target (its share of the run's connections), waits
for START, and applies every control event once, in order, from a poller thread (``follower``).
Each second it refreshes its heartbeat with the second's snapshot; at the end it posts its
measurements and waits for the merged result.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from pytest_flakebench.control.listen import EventWaiter
from pytest_flakebench.control.plane import TERMINAL, Event, PoolCache, RunRow
from pytest_flakebench.control.polling import policy_for
from pytest_flakebench.distributed.follower import EventFollower
from pytest_flakebench.distributed.merge import worker_payload
from pytest_flakebench.distributed.prepare import Prepared, engine_config, prepare
from pytest_flakebench.distributed.worker_context import RunAborted as RunAborted
from pytest_flakebench.distributed.worker_context import WorkerContext as WorkerContext
from pytest_flakebench.engine.runner import Engine, EngineOutcome, Tick
from pytest_flakebench.errors import FlakebenchError, StoreError, TargetError
from pytest_flakebench.hostnoise import HostRecorder
from pytest_flakebench.judge.results import RunResult
from pytest_flakebench.template.model import Template
from pytest_flakebench.template.targets import ResolvedTarget
from pytest_flakebench.workload.plans import PythonOp

SNAPSHOTS_PER_BEAT = 4  # the heartbeat's SNAPSHOT_JSON: this worker's latest snapshots


def _wait(predicate: Any, timeout_s: float, what: str, dialect: str = "sqlite") -> Any:
    policy = policy_for(dialect)
    interval = policy.min_s
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RunAborted(f"timed out after {timeout_s:g}s waiting for {what}")
        interval = policy.next_wait(interval)  # backs off on PostgreSQL and Snowflake
        time.sleep(interval)


def _result_of(row: RunRow) -> RunResult:
    if row.result_json:
        return RunResult.from_dict(json.loads(row.result_json))
    raise RunAborted(row.cancellation_reason or f"run ended {row.status} without a result")


def run_worker(ctx: WorkerContext, *, test_id: str, template: Template,
               target: ResolvedTarget, python_ops: dict[str, PythonOp] | None = None
               ) -> RunResult:
    """Take part in the run of ``test_id``; return the merged result of every worker."""
    plane = ctx.plane
    run = _wait(lambda: plane.find_run(ctx.session_id, test_id), ctx.join_timeout_s,
                f"the controller to create the run of {test_id}", dialect=plane.dialect)
    run_id = run.run_id
    host = socket.gethostname()
    try:
        prepared = prepare(template, target, base_dir=ctx.base_dir, python_ops=python_ops,
                           pools=PoolCache(plane), run_id=run_id,
                           duration_scale=ctx.duration_scale)
    except Exception as exc:
        # Any failure (a bug too) is reported at once: the controller must not wait its join
        # timeout for a worker that will never join.
        message = str(exc) if isinstance(exc, FlakebenchError) else f"{type(exc).__name__}: {exc}"
        plane.join(run_id, ctx.worker_id, host, "FAILED", last_error=message)
        raise
    from pytest_flakebench.evidence.collector import GONE_SHARE_OF_DRAIN, is_lead, open_collector

    evidence = open_collector(prepared, run_id)  # plans, "before" snapshots: before joining
    evidence.gone_timeout_s = min(evidence.gone_timeout_s,
                                  GONE_SHARE_OF_DRAIN * ctx.drain_timeout_s)
    prepared.driver.tag_run(run_id)  # before any benchmark connection opens
    outcome: EngineOutcome | None = None
    try:
        plane.join(run_id, ctx.worker_id, host, "READY",
                   template_json=json.dumps(template.model_dump(mode="json")))
        outcome, connections = _follow(ctx, run_id, prepared, on_start=lambda start: (
            evidence.begin(is_lead(ctx.worker_id, start.data.get("thread_base") or {}))))
        found = evidence.finish()
    except BaseException as exc:
        message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        plane.heartbeat(run_id, ctx.worker_id, status="FAILED", last_error=message)
        raise
    finally:
        evidence.close()
        prepared.close()
    status = "CANCELLED" if outcome is not None and outcome.interrupt is not None else "DONE"
    payload = worker_payload(outcome, worker_id=ctx.worker_id, host=host,
                             connections=connections,
                             status=outcome.status if outcome is not None else "COMPLETED",
                             messages=prepared.notes,
                             meta={"server_version": prepared.server_version,
                                   "server_settings": prepared.server_settings,
                                   "row_count": prepared.profile.row_count,
                                   "client_path": getattr(prepared.driver, "client_path", None),
                                   "target": prepared.driver.redacted_url,
                                   "table": str(prepared.profile.info.table),
                                   "evidence": found})
    if ctx.handoff is not None:
        # Also on this machine: the controller may lose the store before it reads the row.
        ctx.handoff.put_payload(run_id, ctx.worker_id, payload)
    try:
        plane.heartbeat(run_id, ctx.worker_id, status=status, result_json=json.dumps(payload))
    except StoreError:
        if ctx.handoff is None:
            raise
    if outcome is not None and outcome.interrupt is not None:
        # Leave the merged result to the controller; this process was interrupted.
        raise outcome.interrupt
    try:
        # The controller may ride out a store outage twice (while running, then storing).
        row = _wait(lambda: _terminal(ctx, run_id),
                    ctx.drain_timeout_s + 60 + 2 * ctx.store_outage_s,
                    "the controller to merge the run", dialect=plane.dialect)
    finally:
        if ctx.handoff is not None:
            ctx.handoff.forget(run_id, ctx.worker_id)
    return _result_of(row)


def _terminal(ctx: WorkerContext, run_id: str) -> RunRow | None:
    """The run's row once it ended: from the hand-off files when the controller had to put
    it there, else from the store (a store still out of reach: not yet)."""
    handed = ctx.handoff.result(run_id) if ctx.handoff is not None and ctx.handoff.active() \
        else None
    if handed is not None:
        return RunRow(run_id=run_id, session_id=ctx.session_id, test_id="",
                      status=str(handed["status"]), phase="COOLDOWN", leader=None,
                      participants=(), result_json=handed.get("result_json"),
                      cancellation_reason=handed.get("reason"))
    try:
        row = ctx.plane.get_run(run_id, retry=ctx.handoff is None)
    except StoreError:
        if ctx.handoff is None:
            raise
        return None
    return row if row is not None and row.status in TERMINAL else None


def _follow(ctx: WorkerContext, run_id: str, prepared: Prepared,
            on_start: Callable[[Event], object] | None = None
            ) -> tuple[EngineOutcome | None, int]:
    """Open this worker's connections, wait for START, run the engine under the controller.

    Returns ``(outcome, connections)``. The connections open when the controller sends this
    worker's SET_WORKER_TARGET, before START: the controller starts the run only once every
    worker has reported ``CONNECTED``, so connection set-up is never part of any window.
    """
    plane = ctx.plane
    connections = 0
    last_seq = 0
    start: Event | None = None
    engine: Engine | None = None
    targeted = False
    follower = EventFollower(ctx, run_id, 0)
    recent: deque[dict[str, Any]] = deque(maxlen=SNAPSHOTS_PER_BEAT)

    def on_tick(tick: Tick) -> None:
        # The heartbeat carries the last few snapshots: a step change can emit two at once.
        # Never retried, never raised: during a store outage this second's beat is skipped
        # (the engine's tick must not wait on the store), the next one goes through.
        recent.append(tick.snapshot.to_dict())
        with contextlib.suppress(StoreError):
            plane.heartbeat(run_id, ctx.worker_id, status="RUNNING", phase=tick.phase,
                            active=tick.active, target=connections, ops=tick.ops,
                            errors=tick.errors, last_event_seq=follower.last_seq,
                            snapshot_json=json.dumps(list(recent)), retry=False)

    deadline = time.monotonic() + ctx.join_timeout_s
    policy = policy_for(plane.dialect)
    waiter = EventWaiter(plane, run_id, ctx.worker_id, policy)
    try:
        while start is None:
            for event in plane.events_after(run_id, last_seq, ctx.worker_id):
                if event.type == "START":
                    start = event
                    break
                if event.type == "STOP":
                    # The reason travels with STOP: the status row that also holds it is
                    # written just after, and may not be there yet.
                    reason = event.data.get("reason")
                    if not reason:
                        row = plane.get_run(run_id)
                        reason = row.cancellation_reason if row else None
                    raise RunAborted(reason or "the controller stopped the run before it started")
                applied = time.time()
                plane.mark_applied(run_id, event.seq, ctx.worker_id, applied,
                                   (applied - event.created_at) * 1000.0)
                last_seq = event.seq
                if event.type == "SET_WORKER_TARGET" and not targeted:
                    targeted = True
                    connections = int(event.data["connections"])
                    engine = _open_engine(ctx, prepared, event.data, on_tick)
                    plane.heartbeat(run_id, ctx.worker_id, status="CONNECTED",
                                    active=connections, target=connections,
                                    last_event_seq=event.seq)
            if start is None:
                if time.monotonic() > deadline:
                    raise RunAborted(f"no START from the controller within "
                                     f"{ctx.join_timeout_s:g}s")
                # START follows the connections within moments: no back-off while waiting;
                # LISTEN (PostgreSQL): woken by it, else the fallback poll.
                try:
                    waiter.wait(policy.max_s if waiter.listen else policy.min_s)
                except StoreError:  # a lost connection: the next poll reconnects
                    time.sleep(policy.min_s)
        waiter.close()
        applied = time.time()
        plane.mark_applied(run_id, start.seq, ctx.worker_id, applied,
                           (applied - start.created_at) * 1000.0)
        if on_start is not None:
            on_start(start)  # evidence: the lead starts sampling wait events
        if engine is None:
            plane.heartbeat(run_id, ctx.worker_id, status="IDLE", active=0, target=0,
                            last_event_seq=start.seq)
            _wait_stop(ctx, run_id, start.seq)
            return None, 0
        engine.config = replace(engine.config,
                                start_in_measurement=start.data.get("phase") == "MEASUREMENT")
        follower.last_seq = start.seq
        engine.start()
    except BaseException:
        waiter.close()
        if engine is not None:
            engine.stop()
        raise
    plane.heartbeat(run_id, ctx.worker_id, status="RUNNING", active=connections,
                    target=connections, last_event_seq=start.seq)
    follower.start(engine)
    host = HostRecorder()  # what the host does around the load (never timed with it)
    host.start()
    try:
        outcome = engine.run()
    except TargetError:
        follower.join()
        raise
    outcome.host = host.finish()
    follower.join()
    if follower.lost:
        # Nobody can read this worker's report, and waiting for the merged result would hold
        # the session for a minute: say why and end this worker's part now.
        raise RunAborted(f"{ctx.worker_id} lost the control plane (no answer for more than "
                         f"{ctx.store_outage_s:g}s + {ctx.drain_timeout_s:g}s) and stopped "
                         f"its load; the controller reports the run without it")
    if follower.cancelled and outcome.status == "COMPLETED":
        outcome.status = "CANCELLED"
    return outcome, connections


def _open_engine(ctx: WorkerContext, prepared: Prepared, data: dict[str, Any],
                 on_tick: Callable[[Tick], None]) -> Engine | None:
    """This worker's engine, its connections open (``TargetError`` names the worker).

    None for a worker given no connections: it holds its place until the run stops.
    """
    connections = int(data["connections"])
    threads = int(data.get("threads", connections))
    if threads == 0:
        return None
    config = engine_config(prepared, duration_scale=ctx.duration_scale,
                           worker_id=ctx.worker_id, connections=threads,
                           thread_base=int(data.get("thread_base", 0)),
                           total_threads=int(data.get("total_threads", threads)) or None,
                           query_sample=ctx.query_sample)
    config = replace(config, controlled=True, active_connections=connections,
                     rate_qps=float(data.get("qps", 0.0))
                     if prepared.template.mode == "qps" else 0.0,
                     duration_s=float(data.get("duration_s", config.duration_s)),
                     operations=int(data["operations"]) if "operations" in data else None,
                     drain_timeout_s=ctx.drain_timeout_s,
                     # no STOP (the controller is gone): stop on our own a drain timeout after
                     # the planned end, never later
                     safety_s=ctx.drain_timeout_s)
    engine = Engine(config, prepared.driver, on_tick=on_tick)
    if "step" in data:  # find_max: the load starts in step 1
        engine.set_active(connections, step=int(data["step"]))
    engine.open()
    return engine


def _wait_stop(ctx: WorkerContext, run_id: str, last_seq: int) -> None:
    """A worker without connections holds its place until the run stops."""
    while True:
        for event in ctx.plane.events_after(run_id, last_seq, ctx.worker_id):
            applied = time.time()
            ctx.plane.mark_applied(run_id, event.seq, ctx.worker_id, applied,
                                   (applied - event.created_at) * 1000.0)
            last_seq = event.seq
            if event.type == "STOP":
                return
        ctx.plane.heartbeat(run_id, ctx.worker_id, status="IDLE")
        time.sleep(0.2)
