"""What a worker reports at the end of a run, and how the controller merges the reports (pure).

A worker's report carries, per kind and phase, its counters and the HDR histogram in wire form;
merging adds the histograms bucket by bucket, so merged percentiles are exactly those of the
union of every worker's samples (never an average or maximum of percentiles).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pytest_flakebench.engine.recorder import PHASE_MEASUREMENT, PHASE_WARMUP, Cell
from pytest_flakebench.engine.runner import EngineOutcome
from pytest_flakebench.histogram import LatencyHistogram
from pytest_flakebench.judge.results import QueryRecord, Snapshot

PAYLOAD_VERSION = 1


def cell_to_dict(cell: Cell) -> dict[str, Any]:
    """A cell as builtins (histogram in wire form)."""
    return {"ops": cell.ops, "errors": cell.errors, "error_classes": dict(cell.error_classes),
            "error_samples": list(cell.error_samples), "clamped": cell.hist.clamped,
            "histogram": cell.hist.encode(), "late": cell.late, "dropped": cell.dropped,
            "retries": cell.retries, "rows": cell.rows, "misses": cell.misses,
            "error_histogram": cell.error_hist.encode() if cell.error_hist is not None else "",
            "lag_sum_us": cell.lag_sum_us, "lag_max_us": cell.lag_max_us}


def cell_from_dict(data: dict[str, Any]) -> Cell:
    """Inverse of :func:`cell_to_dict`."""
    hist = LatencyHistogram.decode(data["histogram"])
    hist.clamped = int(data.get("clamped", 0))
    encoded_errors = data.get("error_histogram") or ""
    return Cell(hist=hist, ops=int(data["ops"]), errors=int(data["errors"]),
                rows=int(data.get("rows", 0)), misses=int(data.get("misses", 0)),
                error_hist=LatencyHistogram.decode(encoded_errors) if encoded_errors else None,
                error_classes={str(k): int(v) for k, v in data["error_classes"].items()},
                error_samples=list(data["error_samples"]), late=int(data.get("late", 0)),
                dropped=int(data.get("dropped", 0)), retries=int(data.get("retries", 0)),
                lag_sum_us=int(data.get("lag_sum_us", 0)),
                lag_max_us=int(data.get("lag_max_us", 0)))


def worker_payload(outcome: EngineOutcome | None, *, worker_id: str, host: str,
                   connections: int, status: str, messages: Sequence[str] = (),
                   meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """A worker's final report; ``outcome`` is None for a worker that sent no load."""
    kinds: dict[str, Any] = {}
    snapshots: list[dict[str, Any]] = []
    extra: dict[str, Any] = {"measurement_s": 0.0, "warmup_s": 0.0, "started_at": None,
                             "ended_at": None}
    extra_queries: list[list[Any]] = []
    fine: dict[str, Any] = {}
    noise: dict[str, Any] = {}
    if outcome is not None:
        fine, noise = outcome.fine, outcome.host
        for index, kind in enumerate(outcome.kinds):
            kinds[kind] = {
                "measured": cell_to_dict(outcome.aggregate.cells[PHASE_MEASUREMENT][index]),
                "warmup": cell_to_dict(outcome.aggregate.cells[PHASE_WARMUP][index]),
            }
        snapshots = [s.to_dict() for s in outcome.snapshots]
        extra_queries = [list(q) for q in outcome.queries]
        extra = {"measurement_s": outcome.measurement_s, "warmup_s": outcome.warmup_s,
                 "unavailable_s": outcome.unavailable_s,
                 "started_at": outcome.started_at, "ended_at": outcome.ended_at}
        messages = [*outcome.messages, *messages]
        extra["client"] = outcome.client
    return {"v": PAYLOAD_VERSION, "worker_id": worker_id, "host": host, "status": status,
            "connections": connections, "kinds": kinds, "snapshots": snapshots,
            "messages": list(messages), "meta": dict(meta or {}), "queries": extra_queries,
            "fine": fine, "host_noise": noise, **extra}


def merge_cells(payloads: Sequence[dict[str, Any]], kinds: Sequence[str]) -> list[list[Cell]]:
    """Per phase, per kind: the sum of every worker's cells."""
    merged = [[Cell() for _ in kinds] for _ in (PHASE_WARMUP, PHASE_MEASUREMENT)]
    for payload in payloads:
        for index, kind in enumerate(kinds):
            part = payload["kinds"].get(kind)
            if part is None:
                continue
            merged[PHASE_WARMUP][index].merge(cell_from_dict(part["warmup"]))
            merged[PHASE_MEASUREMENT][index].merge(cell_from_dict(part["measured"]))
    return merged


def worker_totals(payload: dict[str, Any]) -> tuple[int, int, LatencyHistogram]:
    """A worker's measurement ops, errors and merged histogram."""
    ops = errors = 0
    hist = LatencyHistogram()
    for part in payload["kinds"].values():
        cell = cell_from_dict(part["measured"])
        ops += cell.ops
        errors += cell.errors
        hist.add(cell.hist)
    return ops, errors, hist


def snapshots_of(payloads: Sequence[dict[str, Any]]) -> list[Snapshot]:
    """Every worker's snapshots, ordered by time then worker."""
    found = [Snapshot.from_dict(s) for p in payloads for s in p["snapshots"]]
    return sorted(found, key=lambda s: (s.ts, s.worker_id))


def samples_of(payloads: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``RunResult.samples``: every worker's sub-second windows."""
    from pytest_flakebench.engine.fine import samples_record

    return samples_record({str(p["worker_id"]): p.get("fine") or {} for p in payloads})


def host_of(payloads: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``RunResult.host``: every worker's host noise record."""
    found = {str(p["worker_id"]): p["host_noise"] for p in payloads if p.get("host_noise")}
    return {"workers": found} if found else {}


def queries_of(payloads: Sequence[dict[str, Any]]) -> list[QueryRecord]:
    """Every worker's sampled operations, numbered per worker."""
    found: list[QueryRecord] = []
    for p in payloads:
        for seq, (kind, phase, started_at, latency_us, ok, code) in enumerate(
                p.get("queries", [])):
            found.append(QueryRecord(worker_id=str(p["worker_id"]), seq=seq, kind=str(kind),
                                     phase=str(phase), started_at=float(started_at),
                                     latency_us=int(latency_us), ok=bool(ok),
                                     error_code=None if code is None else str(code)))
    return found


Operation = Literal["read", "write"]
