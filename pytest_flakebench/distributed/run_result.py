"""A run's result from its workers' final reports: the measurement window, the end status and
its messages, the merged and judged ``RunResult``, and the run's last live line.

Shared by the controller at the end of a run (``driver``) and by ``flakebench recover`` for a run
whose controller died (``recover``).
"""

from __future__ import annotations

import time
from typing import Any

from pytest_flakebench.distributed.merge import (
    host_of,
    merge_cells,
    queries_of,
    samples_of,
    snapshots_of,
)
from pytest_flakebench.distributed.run_book import WorkerReport
from pytest_flakebench.judge.results import RunResult, Status
from pytest_flakebench.judge.verdict import Measured, RunMeta, build_result, worker_summary
from pytest_flakebench.template.model import Template
from pytest_flakebench.urls import scheme_of


def run_window(reports: list[WorkerReport], fallback_s: float) -> float:
    """The run's one measurement window: the workers' windows, each from the controller's
    SET_PHASE to its STOP as that worker applied them on its own clock (equal to the planned
    duration unless the run was cut short); their mean when lag made them differ."""
    windows = [r.measurement_s for r in reports
               if r.connections > 0 and r.payload.get("started_at") is not None]
    return sum(windows) / len(windows) if windows else fallback_s


def end_status(*, cancelled: str | None, dead: dict[str, str], offline: str | None,
               outage_s: float, store_outage_s: float) -> tuple[Status, list[str]]:
    """How a run ended and what its result says about it: cancelled, PARTIAL (a worker given
    up on), the store out of reach beyond the outage a run rides out, or a ridden-out outage."""
    status: Status = "COMPLETED"
    messages: list[str] = []
    if cancelled:
        status = "CANCELLED"
        messages.append(f"cancelled: {cancelled}")
    elif dead:
        status = "PARTIAL"
    messages.extend(f"{reason}; the run is PARTIAL (its measurements are not included)"
                    if status == "PARTIAL" else reason for reason in dead.values())
    if offline:
        messages.append(f"the results store was unreachable beyond "
                        f"{store_outage_s:g}s ({offline}); the run went on "
                        f"through this machine's hand-off files")
    elif outage_s > 0:
        messages.append(f"the results store was unreachable for {outage_s:.1f}s; the run "
                        f"rode it out (control events were late by up to that)")
    return status, messages


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


__all__ = ["end_status", "final_line", "result_from_reports", "run_window"]
