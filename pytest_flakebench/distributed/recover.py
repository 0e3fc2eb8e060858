"""Runs whose controlling process died (SIGKILL, power loss, OOM): found and stored ABANDONED.

Such a run stays in ``RUN_STATUS`` in a non-final status, while its workers, left without a
controller, stop on their own and post their final measurements in ``WORKER_HEARTBEATS``. A run
counts as abandoned once neither its status nor any worker heartbeat changed for
``quiet_for_s`` seconds (default :data:`RECOVER_AFTER_S`: a live run's workers beat every
second). Recovery merges the posted measurements exactly as the controller would have, stores
the run ABANDONED (its verdict FAILED, its figures kept) and closes its ``RUN_STATUS`` row. A run
already stored (its spool file was uploaded, or only the status write was lost) just gets its
status row closed.

Called by the next ``pytest --flakebench`` session's controller and by ``flakebench recover``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from pytest_flakebench.control.plane import ControlPlane, UnfinishedRun
from pytest_flakebench.distributed.run_book import WorkerReport
from pytest_flakebench.distributed.run_result import result_from_reports, run_window
from pytest_flakebench.errors import FlakebenchError
from pytest_flakebench.stores.base import ResultStore

RECOVER_AFTER_S = 60.0
JOIN_GRACE_S = 120.0  # the default --flakebench-join-timeout


@dataclass(frozen=True, slots=True)
class Recovered:
    """What was done about one abandoned run."""

    run_id: str
    test: str
    status: str  # what the run is now: ABANDONED, or the status it was already stored with
    workers: int  # workers whose final measurements were recovered
    ops: int
    note: str

    def line(self) -> str:
        """One line for the terminal."""
        return f"run {self.run_id[:8]} ({self.test}) {self.note}"


def recover_runs(plane: ControlPlane, store: ResultStore | None, *,
                 quiet_for_s: float = RECOVER_AFTER_S,
                 now: float | None = None) -> list[Recovered]:
    """Store every abandoned run found in ``plane``; return what was done."""
    now = time.time() if now is None else now
    done = []
    for run in plane.unfinished_runs():
        hbs = plane.heartbeats(run.run_id)
        last = max([run.updated_at, *(h.last_heartbeat for h in hbs)])
        # A PREPARED run may be waiting for its workers to join (quietly, up to the join
        # timeout, default 120 s): give it that long too.
        wait = quiet_for_s + (JOIN_GRACE_S if run.status == "PREPARED" and not hbs else 0.0)
        if now - last < wait:
            continue  # possibly alive: a controller of another session may still drive it
        done.append(_recover(plane, store, run, [h.result_json for h in hbs if h.result_json],
                             quiet_s=now - last))
    return done


def _recover(plane: ControlPlane, store: ResultStore | None, run: UnfinishedRun,
             posted: list[str], *, quiet_s: float) -> Recovered:
    existing = None
    if store is not None:
        try:
            existing = store.get_run(run.run_id)
        except FlakebenchError:
            existing = None
    if existing is not None:
        plane.set_status(run.run_id, existing.status, result_json=json.dumps(
            existing.to_dict(with_snapshots=False)))
        return Recovered(run.run_id, run.test_id, existing.status, len(existing.workers),
                         existing.overall.ops,
                         f"was left {run.status} but is already stored ({existing.status}): "
                         f"its status row is closed")
    reason = (f"the controlling process died ({run.status} with no change for "
              f"{quiet_s:.0f}s); recovered from the workers' final measurements")
    if not run.scenario_config:
        plane.set_status(run.run_id, "ABANDONED", cancellation_reason=reason)
        return Recovered(run.run_id, run.test_id, "ABANDONED", 0, 0,
                         f"was left {run.status} before any load: marked ABANDONED")
    from pytest_flakebench.template.model import Template

    template = Template.model_validate(json.loads(run.scenario_config))
    reports = [WorkerReport.parse(json.loads(p)) for p in posted]
    started = run.start_time or time.time()
    measurement_s = run_window(reports, 0.0)
    warmup_s = (run.warmup_end - started) if run.warmup_end else 0.0
    missing = sorted(set(run.split) - {r.worker_id for r in reports})
    messages = [f"ABANDONED: {reason}"]
    messages += [f"worker {w} posted no final measurements: its share is not included"
                 for w in missing]
    result = result_from_reports(
        template, reports, run_id=run.run_id, test=run.test_id, status="ABANDONED",
        messages=messages, measurement_s=measurement_s, warmup_s=max(0.0, warmup_s),
        started_at=started, split=run.split, partial_fails=True,
        control={"split": run.split, "dead": missing, "recovered": True})
    if store is not None:
        store.save_run(result)
    plane.set_status(run.run_id, "ABANDONED", phase="COOLDOWN", cancellation_reason=reason,
                     result_json=json.dumps(result.to_dict(with_snapshots=False)))
    where = "stored" if store is not None else "closed (no results store to keep it in)"
    return Recovered(run.run_id, run.test_id, "ABANDONED", len(reports), result.overall.ops,
                     f"was left {run.status} by a controller that died: {where} ABANDONED "
                     f"with what {len(reports)} worker(s) measured "
                     f"({result.overall.ops} ops in {measurement_s:.1f}s)")
