"""A run's result and verdict from merged measurements (pure; one path for every run).

Whether the load came from one process or from many workers, the same function turns the merged
cells into statistics, checks the SLOs and decides the verdict, so ``-n 0`` and ``-n N`` runs
have the same shape and the same rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_flakebench import __version__
from pytest_flakebench.engine.recorder import Cell
from pytest_flakebench.judge.client import judge_client
from pytest_flakebench.judge.fingerprint import make_fingerprint
from pytest_flakebench.judge.results import (
    KindStats,
    QueryRecord,
    RunResult,
    SLOCheck,
    Snapshot,
    Status,
    Verdict,
    WorkerSummary,
)
from pytest_flakebench.judge.slo import errors_not_allowed, evaluate
from pytest_flakebench.judge.stats import stats_from_aggregate
from pytest_flakebench.template.model import Template
from pytest_flakebench.urls import redact_url


@dataclass(frozen=True, slots=True)
class RunMeta:
    """What the run was pointed at, as its workers found it."""

    target_kind: str
    target: str  # redacted
    table: str
    server_version: str
    row_count: int
    server_settings: dict[str, str] = field(default_factory=dict)
    client_path: str | None = None  # the driver's execution path (PostgreSQL lean/cursor)


@dataclass(slots=True)
class Measured:
    """Merged measurements of a run, before judgement."""

    kinds: list[str]
    cells: list[list[Cell]]  # per phase, per kind
    measurement_s: float
    warmup_s: float
    started_at: float
    ended_at: float
    status: Status
    connections: int
    workers: tuple[WorkerSummary, ...]
    snapshots: tuple[Snapshot, ...] = ()
    messages: list[str] = field(default_factory=list)
    partial_fails: bool = True  # a PARTIAL run fails its test (else it only warns)
    control: dict[str, Any] = field(default_factory=dict)
    queries: tuple[QueryRecord, ...] = ()  # sampled per-query records
    steps: tuple[dict[str, Any], ...] = ()  # find_max
    find_max: dict[str, Any] = field(default_factory=dict)
    connections_allowed: int = 0  # qps mode: what the connections may grow to (0: unknown)
    samples: dict[str, Any] = field(default_factory=dict)  # sub-second windows
    host: dict[str, Any] = field(default_factory=dict)  # host noise
    unavailable_s: float = 0.0  # no success while operations failed (the worst worker's)
    clients: tuple[dict[str, Any], ...] = ()  # each worker's own CPU figures (worker_id, cpu…)


def build_result(template: Template, measured: Measured, meta: RunMeta, *, run_id: str,
                 test: str) -> RunResult:
    """Statistics, SLO checks, verdict and fingerprint of a run."""
    operations = {k: template.kind_operation(k) for k in measured.kinds}
    overall, kinds = stats_from_aggregate(measured.kinds, operations, measured.cells,
                                          measured.measurement_s)
    best = None
    if measured.find_max:
        best_c = measured.find_max.get("best_concurrency")
        best = (int(best_c or 0), float(measured.find_max.get("best_qps") or 0.0))
    checks = evaluate(template.slo, overall, kinds, best=best)
    if template.mode == "find_max":
        # Latency and error limits judged every step (find_max.py); the run's verdict is on
        # what the search found.
        checks = tuple(c for c in checks if c.metric in ("min_concurrency", "min_qps"))
    used = connections_used(measured.snapshots) or measured.connections
    if template.mode == "qps":
        checks, note = _rate_held(template, overall, checks, measured, used)
    messages = list(measured.messages)
    if template.mode == "qps" and note:
        messages.insert(0, note)
    if template.mode != "find_max":  # find_max judges errors per step (max_error_rate)
        implicit, why = errors_not_allowed(template.slo, overall, kinds)
        if implicit is not None:
            checks = (*checks, implicit)
            messages.insert(0, why)
    if measured.unavailable_s > 0:
        messages.append(f"UNAVAILABLE: no successful operation for "
                        f"{measured.unavailable_s:.2f}s of the {measured.measurement_s:.1f}s "
                        f"window while operations failed")
    client, client_note = judge_client(measured.clients, mode=template.mode,
                                       connections=used, qps=overall.qps)
    if client_note:
        messages.append(client_note)
    verdict: Verdict = "PASSED"
    if measured.status == "CANCELLED":
        verdict = "FAILED"
        messages.append(f"run cancelled after {measured.measurement_s:.1f}s of measurement; "
                        f"what was measured is kept")
    elif measured.status == "ABANDONED":
        verdict = "FAILED"
        messages.append(f"run ABANDONED: its controlling process died; recovered from what the "
                        f"workers reported ({measured.measurement_s:.1f}s of measurement)")
    elif measured.status == "FAILED" or (measured.status == "PARTIAL" and measured.partial_fails):
        verdict = "FAILED"
    if overall.ops == 0:
        verdict = "FAILED"
        messages.append("no successful operation in the measurement window")
    if template.operations is not None and measured.status in ("COMPLETED", "PARTIAL"):
        ran = overall.ops + overall.errors
        if ran < template.operations:
            # an operation-count run that hit its time limit: not the run that was asked for
            verdict = "FAILED"
            messages.insert(0, f"OPERATIONS_NOT_REACHED: {ran:,} of operations="
                               f"{template.operations:,} ran within the time limit duration="
                               f"{template.duration:g}s; raise duration or lower operations")
    if any(not c.ok for c in checks):
        verdict = "FAILED"
    template_dict = template.model_dump(mode="json")
    template_dict["target"] = redact_url(template_dict["target"])  # never a password in JSON
    return RunResult(
        run_id=run_id, test=test, status=measured.status, verdict=verdict,
        template=template_dict,
        fingerprint=make_fingerprint(
            template=template_dict, target_kind=meta.target_kind,
            server_version=meta.server_version, row_count=meta.row_count,
            server_settings=meta.server_settings, client_path=meta.client_path,
            connections=measured.connections,
            workers=sum(1 for w in measured.workers if w.connections > 0),
            plugin_version=__version__),
        target_kind=meta.target_kind, target=meta.target, table=meta.table, mode=template.mode,
        connections=measured.connections, connections_used=used, client=client,
        started_at=measured.started_at,
        ended_at=measured.ended_at, measurement_s=measured.measurement_s,
        warmup_s=measured.warmup_s, overall=overall, kinds=kinds, slo=checks,
        workers=measured.workers, snapshots=measured.snapshots, messages=tuple(messages),
        plugin_version=__version__, control=measured.control, steps=measured.steps,
        queries=measured.queries,
        find_max=measured.find_max, samples=measured.samples, host=measured.host,
        unavailable_s=round(measured.unavailable_s, 3),
    )


DEFAULT_MAX_LATE = 0.01  # qps mode: a run more than 1 % late or dropped did not hold its rate


def connections_used(snapshots: Sequence[Snapshot]) -> int:
    """The most connections each worker kept busy at once, summed over the workers."""
    most: dict[str, int] = {}
    for snap in snapshots:
        most[snap.worker_id] = max(most.get(snap.worker_id, 0), snap.active_connections)
    return sum(most.values())


def _rate_held(template: Template, overall: KindStats, checks: tuple[SLOCheck, ...],
               measured: Measured, used: int) -> tuple[tuple[SLOCheck, ...], str]:
    """qps mode: a run that did not hold its rate fails by default (late + dropped above
    ``DEFAULT_MAX_LATE`` unless the template's ``max_late`` says otherwise); the note names the
    rate asked, the rate held and the connections the run grew to."""
    if template.slo.max_late is None:
        late_rate = overall.late_rate
        checks = (*checks, SLOCheck(scope="overall", metric="max_late", limit=DEFAULT_MAX_LATE,
                                    measured=late_rate, ok=late_rate <= DEFAULT_MAX_LATE))
    check = next((c for c in checks if c.scope == "overall" and c.metric == "max_late"), None)
    if check is None or check.ok:
        return checks, ""
    window = measured.measurement_s or 1.0
    sent = overall.ops + overall.errors
    on_time = max(0, sent - overall.late) / window
    scheduled = sent + overall.dropped
    allowed = measured.connections_allowed or used
    if used > measured.connections:
        grown = f"connections grew from {measured.connections} to {used} of {allowed} allowed"
    else:
        grown = f"on {used} connection(s) of {allowed} allowed"
    if used >= allowed:
        grown += "; raise workers.max_connections or spread the load over processes (-n N)"
    return checks, (
        f"RATE_NOT_HELD: rate not held: asked {template.qps or 0:g}/s, held "
        f"{on_time:,.1f}/s on time ({sent / window:,.1f}/s sent); {overall.late} late + "
        f"{overall.dropped} dropped of {scheduled} scheduled ({check.measured:.1%}, limit "
        f"{check.limit:.0%}{'' if template.slo.max_late is not None else ', the default'}); "
        f"{grown}")


def worker_summary(worker_id: str, *, host: str, connections: int, status: Status,
                   measured: Sequence[Cell], measurement_s: float) -> WorkerSummary:
    """One worker's share of a run, from its measurement-phase cells."""
    total = Cell()
    for cell in measured:
        total.merge(cell)
    return WorkerSummary(worker_id=worker_id, host=host, connections=connections, status=status,
                         ops=total.ops, errors=total.errors,
                         qps=total.ops / measurement_s if measurement_s > 0 else 0.0,
                         p95_us=total.hist.percentile_us(95.0), histogram=total.hist.encode(),
                         measurement_s=measurement_s)


def lag_summary(lags_ms: Sequence[float]) -> dict[str, float]:
    """p50/p99/max of control-plane lags (event written → applied), in milliseconds."""
    if not lags_ms:
        return {"count": 0}
    ordered = sorted(lags_ms)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"count": len(ordered), "p50_ms": pick(0.50), "p99_ms": pick(0.99),
            "max_ms": round(ordered[-1], 3)}
