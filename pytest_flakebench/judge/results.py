"""Results of a benchmark run, as plain frozen values that serialise to builtins.

``RunResult.to_dict()`` is the shape of one entry of ``--flakebench-json`` (``{"version": 1,
"runs": [...]}``), of the stored ``RESULT_JSON`` column and of what crosses process boundaries.
Latencies are integer microseconds; histograms travel in HDR wire form.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Self, cast

from pytest_flakebench.histogram import LatencyHistogram, LatencySummary

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

# ABANDONED: the controlling process died; `flakebench recover` stored what workers reported.
Status = Literal["COMPLETED", "PARTIAL", "CANCELLED", "FAILED", "ABANDONED"]
Verdict = Literal["PASSED", "FAILED", "ERROR"]
Phase = Literal["WARMUP", "MEASUREMENT", "COOLDOWN"]


class Plain:
    """``to_dict``/``from_dict`` of a dataclass whose fields are builtins. Reading ignores keys
    the class does not have, so a row written by a later version with more fields still reads."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """Builtins only."""
        return asdict(cast("DataclassInstance", self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Inverse of :meth:`to_dict`."""
        # the dataclass's own field table: no per-call work (snapshots are read by the
        # thousand by the controller and the stores)
        known = cast("type[DataclassInstance]", cls).__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True, slots=True)
class KindStats:
    """Measurement-phase statistics of one kind (or ``overall``)."""

    kind: str
    operation: Literal["read", "write", "mixed"]
    ops: int  # successful operations
    errors: int
    qps: float  # successful operations per second of the measurement window
    latency: LatencySummary
    # wire form of the latencies of the successful operations and, in qps mode, of the dropped
    # ones at their lower bound (intended start -> when the run knew it could not start them)
    histogram: str
    error_classes: dict[str, int] = field(default_factory=dict)
    error_samples: tuple[str, ...] = ()
    clamped: int = 0  # latencies above the histogram's range, recorded at its maximum
    warmup_ops: int = 0
    warmup_errors: int = 0
    late: int = 0  # qps mode: started more than late_after after the intended time
    dropped: int = 0  # qps mode: not started within drop_after; never sent
    lag_mean_us: float = 0.0  # qps mode: schedule lag of the operations sent
    lag_max_us: int = 0
    retries: int = 0  # extra tries of serialization failures / deadlocks (max_tries)
    rows: int = 0  # rows returned (reads) or affected (writes) by the successful operations
    misses: int = 0  # successes that touched no row where one was expected (not errors)
    error_p99_us: int = 0  # latency of the failed operations (their own histogram)
    error_max_us: int = 0
    error_histogram: str = ""  # wire form of the failed operations' latencies ("" if none)

    plan: dict[str, Any] = field(default_factory=dict)  # evidence: shape, hash, text
    server: dict[str, Any] = field(default_factory=dict)  # evidence: the server's figures

    @property
    def miss_rate(self) -> float:
        """Misses over successful operations (0 when nothing ran)."""
        return self.misses / self.ops if self.ops else 0.0

    @property
    def error_rate(self) -> float:
        """Errors over attempts (0 when nothing ran)."""
        attempts = self.ops + self.errors
        return self.errors / attempts if attempts else 0.0

    @property
    def late_rate(self) -> float:
        """Late or dropped operations over every scheduled one (qps mode; 0 otherwise)."""
        scheduled = self.ops + self.errors + self.dropped
        return (self.late + self.dropped) / scheduled if scheduled else 0.0

    def metric(self, name: str) -> float:
        """A metric by its SLO name: ``p95``, ``max``, ``min_qps`` (= qps), ``error_rate``…"""
        if name == "min_qps":
            return self.qps
        if name == "error_rate":
            return self.error_rate
        if name == "max_late":
            return self.late_rate
        if name == "max_miss":
            return self.miss_rate
        return self.latency.value(name)

    def to_dict(self) -> dict[str, Any]:
        """Builtins only; latencies flattened as ``p50_us`` … ``max_us``."""
        lat = asdict(self.latency)
        return {
            "kind": self.kind,
            "operation": self.operation,
            "ops": self.ops,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "qps": self.qps,
            **lat,
            "error_classes": dict(self.error_classes),
            "error_samples": list(self.error_samples),
            "clamped": self.clamped,
            "warmup_ops": self.warmup_ops,
            "warmup_errors": self.warmup_errors,
            "late": self.late,
            "dropped": self.dropped,
            "late_rate": self.late_rate,
            "lag_mean_us": self.lag_mean_us,
            "lag_max_us": self.lag_max_us,
            "retries": self.retries,
            "rows": self.rows,
            "misses": self.misses,
            "miss_rate": self.miss_rate,
            "error_p99_us": self.error_p99_us,
            "error_max_us": self.error_max_us,
            "error_histogram": self.error_histogram,
            "plan": dict(self.plan),
            "server": dict(self.server),
            "histogram": self.histogram,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KindStats:
        """Inverse of :meth:`to_dict`."""
        lat = LatencySummary(**{k: data[k] for k in LatencySummary.__slots__})
        return cls(
            kind=data["kind"],
            operation=data["operation"],
            ops=data["ops"],
            errors=data["errors"],
            qps=data["qps"],
            latency=lat,
            histogram=data["histogram"],
            error_classes=dict(data.get("error_classes", {})),
            error_samples=tuple(data.get("error_samples", ())),
            clamped=data.get("clamped", 0),
            warmup_ops=data.get("warmup_ops", 0),
            warmup_errors=data.get("warmup_errors", 0),
            late=data.get("late", 0),
            dropped=data.get("dropped", 0),
            lag_mean_us=data.get("lag_mean_us", 0.0),
            lag_max_us=data.get("lag_max_us", 0),
            retries=data.get("retries", 0),
            rows=data.get("rows", 0),
            misses=data.get("misses", 0),
            error_p99_us=data.get("error_p99_us", 0),
            error_max_us=data.get("error_max_us", 0),
            error_histogram=data.get("error_histogram", ""),
            plan=dict(data.get("plan") or {}),
            server=dict(data.get("server") or {}),
        )

    def hist(self) -> LatencyHistogram:
        """The decoded histogram."""
        return LatencyHistogram.decode(self.histogram)


@dataclass(frozen=True, slots=True)
class Snapshot(Plain):
    """One worker's second: operations, errors and the interval's latency histogram."""

    worker_id: str
    seq: int
    ts: float  # wall clock (epoch seconds) at the end of the interval
    elapsed_s: float  # since the start of the run, on the monotonic clock
    phase: Phase
    ops: int
    errors: int
    in_flight: int
    qps: float
    p50_us: int
    p95_us: int
    p99_us: int
    histogram: str
    active_connections: int = 0  # connections the worker was told to keep busy
    span_s: float = 0.0  # the interval's length on the worker's clock (0: not recorded)
    client_cpu: float = 0.0  # the worker process's CPU over the interval, share of one core
    # find_max: the step the interval belongs to (0: none); live and in JSON, not in the store
    step: int = 0


@dataclass(frozen=True, slots=True)
class QueryRecord:
    """One sampled operation (``QUERY_EXECUTIONS``)."""

    worker_id: str
    seq: int
    kind: str
    phase: str
    started_at: float  # epoch seconds
    latency_us: int
    ok: bool
    error_code: str | None


@dataclass(frozen=True, slots=True)
class SLOCheck(Plain):
    """One SLO limit and what was measured against it."""

    scope: str  # "overall" or a kind
    metric: str  # p50 … p999, max, min_qps, error_rate
    limit: float
    measured: float
    ok: bool


@dataclass(frozen=True, slots=True)
class WorkerSummary(Plain):
    """One worker's share of a run (a single process run has one worker, ``main``)."""

    worker_id: str
    host: str
    connections: int
    status: Status
    ops: int
    errors: int
    qps: float
    p95_us: int
    histogram: str = ""  # this worker's measurement latencies (all kinds), HDR wire form
    measurement_s: float = 0.0


@dataclass(frozen=True, slots=True)
class RunResult:
    """The merged result of one benchmark run."""

    run_id: str
    test: str  # pytest node id
    status: Status
    verdict: Verdict
    template: dict[str, Any]  # fully resolved template (model_dump)
    fingerprint: dict[str, Any]
    target_kind: str
    target: str  # redacted URL
    table: str
    mode: str
    connections: int
    started_at: float  # epoch seconds
    ended_at: float
    measurement_s: float  # actual measurement window
    warmup_s: float
    overall: KindStats
    kinds: dict[str, KindStats]
    slo: tuple[SLOCheck, ...]
    workers: tuple[WorkerSummary, ...]
    snapshots: tuple[Snapshot, ...] = ()
    messages: tuple[str, ...] = ()  # notes shown with the result (partial run, cancelled…)
    plugin_version: str = ""
    control: dict[str, Any] = field(default_factory=dict)  # control-plane lag, connection split
    queries: tuple[QueryRecord, ...] = ()  # sampled per-query records (not in to_dict)
    steps: tuple[dict[str, Any], ...] = ()  # find_max: one entry per step
    find_max: dict[str, Any] = field(default_factory=dict)  # best concurrency, qps, stop reason
    # measurement time with no successful operation while operations failed (worst worker)
    unavailable_s: float = 0.0
    connections_used: int = 0  # most connections busy at once (qps mode grows; 0: unknown)
    # Within-run sub-second windows (compare/samples.py) and host noise (hostnoise.py).
    samples: dict[str, Any] = field(default_factory=dict)
    host: dict[str, Any] = field(default_factory=dict)
    # the client processes: bound, cpu, interpreter waits, schedule_error_p50/p99_us (qps)
    client: dict[str, Any] = field(default_factory=dict)
    cost: dict[str, Any] = field(default_factory=dict)  # Snowflake: credits (cost.RunCost)
    server: dict[str, Any] = field(default_factory=dict)  # evidence: waits, check, deltas, notes

    @property
    def breaches(self) -> tuple[SLOCheck, ...]:
        """The SLO checks that failed."""
        return tuple(c for c in self.slo if not c.ok)

    def to_dict(self, *, with_snapshots: bool = True) -> dict[str, Any]:
        """The JSON/wire shape."""
        data: dict[str, Any] = {
            "run_id": self.run_id,
            "test": self.test,
            "status": self.status,
            "verdict": self.verdict,
            "template": self.template,
            "fingerprint": self.fingerprint,
            "target_kind": self.target_kind,
            "target": self.target,
            "table": self.table,
            "mode": self.mode,
            "connections": self.connections,
            "connections_used": self.connections_used,
            "client": self.client,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "measurement_s": self.measurement_s,
            "warmup_s": self.warmup_s,
            "unavailable_s": self.unavailable_s,
            "overall": self.overall.to_dict(),
            "kinds": {k: v.to_dict() for k, v in self.kinds.items()},
            "slo": [c.to_dict() for c in self.slo],
            "workers": [w.to_dict() for w in self.workers],
            "messages": list(self.messages),
            "plugin_version": self.plugin_version,
            "control": self.control,
            "steps": list(self.steps),
            "find_max": self.find_max,
            "samples": self.samples,
            "host": self.host,
            "cost": self.cost,
            "server": self.server,
        }
        if with_snapshots:
            data["snapshots"] = [s.to_dict() for s in self.snapshots]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        """Inverse of :meth:`to_dict`."""
        return cls(
            run_id=data["run_id"],
            test=data["test"],
            status=data["status"],
            verdict=data["verdict"],
            template=data["template"],
            fingerprint=data["fingerprint"],
            target_kind=data["target_kind"],
            target=data["target"],
            table=data["table"],
            mode=data["mode"],
            connections=data["connections"],
            connections_used=data.get("connections_used", 0),
            client=dict(data.get("client", {})),
            started_at=data["started_at"],
            ended_at=data["ended_at"],
            measurement_s=data["measurement_s"],
            warmup_s=data["warmup_s"],
            overall=KindStats.from_dict(data["overall"]),
            kinds={k: KindStats.from_dict(v) for k, v in data["kinds"].items()},
            slo=tuple(SLOCheck.from_dict(c) for c in data["slo"]),
            workers=tuple(WorkerSummary.from_dict(w) for w in data["workers"]),
            snapshots=tuple(Snapshot.from_dict(s) for s in data.get("snapshots", ())),
            messages=tuple(data.get("messages", ())),
            plugin_version=data.get("plugin_version", ""),
            control=dict(data.get("control", {})),
            steps=tuple(data.get("steps", ())),
            find_max=dict(data.get("find_max", {})),
            unavailable_s=float(data.get("unavailable_s", 0.0)),
            samples=dict(data.get("samples") or {}),
            host=dict(data.get("host") or {}),
            cost=dict(data.get("cost") or {}),
            server=dict(data.get("server") or {}),
        )
