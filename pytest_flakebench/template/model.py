"""The benchmark template: a strict, frozen pydantic model of everything a run needs.

A template comes from marker keywords, a TOML/YAML/JSON file, or both (see ``template.load``).
Validation is pure: no database is contacted, so a bad template is refused at collection time,
before any load is sent.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    PlainSerializer,
    model_validator,
)

from pytest_flakebench.excerpt import excerpt
from pytest_flakebench.identifiers import TableName, check_identifier
from pytest_flakebench.template.params import (
    CustomQuery,
)
from pytest_flakebench.template.types import (
    INT64_MAX,
    MAX_CONNECTIONS,
    MAX_KEY_SPAN,
    MAX_MIN_QPS,
    MAX_OPERATIONS,
    MAX_QPS,
    MAX_VALUE_SIZE,
    MIN_QPS,
    DurationS,
    LatencyUs,
    Rate,
    ShortDurationS,
    TableText,
    TargetText,
    ThinkTime,
    valid_key_column,
    valid_new_key,
    valid_update_columns,
)
from pytest_flakebench.template.types import STRICT as _STRICT
from pytest_flakebench.urls import redact_target
from pytest_flakebench.workload.keys import KeySpec

BUILTIN_KINDS: tuple[str, ...] = ("point_lookup", "range_scan", "insert", "update")
"""Operation kinds whose SQL is generated for the table and dialect."""

WRITE_KINDS = frozenset({"insert", "update"})


def _closest(name: str, choices: set[str]) -> str | None:
    """The choice ``name`` is most likely a typo of (did-you-mean), if any."""
    close = difflib.get_close_matches(name[:200], sorted(choices), n=1)
    return close[0] if close else None


class LimitSet(BaseModel):
    """SLO limits for one scope (the whole run, or one kind)."""

    model_config = _STRICT

    p50: LatencyUs | None = None
    p90: LatencyUs | None = None
    p95: LatencyUs | None = None
    p99: LatencyUs | None = None
    p999: LatencyUs | None = None
    max: LatencyUs | None = None
    min_qps: float | None = Field(default=None, ge=0, le=MAX_MIN_QPS)
    error_rate: Rate | None = None
    max_late: Rate | None = None  # qps mode: (late + dropped) / scheduled operations
    max_miss: Rate | None = None  # successes that touched no row / successes (expect_row kinds)
    min_concurrency: int | None = Field(default=None, ge=1,  # find_max: best concurrency
                                        le=MAX_CONNECTIONS)

    def limits(self) -> dict[str, float]:
        """The limits that are set, by metric name."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


LATENCY_METRICS: tuple[str, ...] = ("p50", "p90", "p95", "p99", "p999", "max")
SLO_METRICS: tuple[str, ...] = (*LATENCY_METRICS, "min_qps", "error_rate", "max_late",
                                 "max_miss", "min_concurrency")


class SLOSpec(LimitSet):
    """Overall limits plus per-kind limits: ``{"p95": "20ms", "insert": {"p99": "50ms"}}``."""

    kinds: dict[str, LimitSet] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _split_kinds(cls, data: Any) -> Any:
        # Per-kind limits sit beside the overall ones in the user's dict; move them apart.
        if not isinstance(data, dict) or "kinds" in data:
            return data
        overall = {k: v for k, v in data.items() if k in SLO_METRICS}
        kinds = {k: v for k, v in data.items() if k not in SLO_METRICS}
        for key, value in kinds.items():
            if not isinstance(value, dict):
                close = difflib.get_close_matches(str(key), SLO_METRICS, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise ValueError(
                    f"unknown SLO metric {excerpt(key)}: {hint}metrics are "
                    f"{', '.join(SLO_METRICS)}; "
                    f"limits for one kind take a dict, e.g. {{'insert': {{'p99': '50ms'}}}}"
                )
        return {**overall, "kinds": kinds}


class FindMaxSpec(BaseModel):
    """Step load: raise concurrency until a step breaks a criterion; report the best."""

    model_config = _STRICT

    start: int = Field(default=4, ge=1, le=MAX_CONNECTIONS)
    step: int = Field(default=4, ge=1, le=MAX_CONNECTIONS)
    step_duration: DurationS = 10.0
    ceiling: int = Field(default=256, ge=1, le=MAX_CONNECTIONS)
    budget: DurationS = 300.0
    max_latency_rise: Rate = 1.0  # p95 more than (1 + this) x step 1's p95 breaks a step
    min_qps_growth: Rate = 0.05  # QPS must grow by this fraction over the best step so far
    max_error_rate: Rate = 0.01

    @model_validator(mode="after")
    def _order(self) -> FindMaxSpec:
        if self.ceiling < self.start:
            raise ValueError(f"find_max ceiling={self.ceiling} is below start={self.start}")
        if self.step_duration <= 0 or self.budget < self.step_duration:
            raise ValueError("find_max needs step_duration > 0 and budget >= step_duration")
        return self


class RegressionSpec(BaseModel):
    """Allowed change against the baseline: ``{"p95": "+10%", "qps": "-5%"}`` (a gate).

    Latencies regress when they rise, ``qps`` when it falls; ``error_rate`` takes percentage
    points. See ``compare.thresholds``.
    """

    model_config = _STRICT

    p50: str | None = None
    p90: str | None = None
    p95: str | None = None
    p99: str | None = None
    p999: str | None = None
    max: str | None = None
    qps: str | None = None
    error_rate: str | None = None

    @model_validator(mode="after")
    def _parse(self) -> RegressionSpec:
        from pytest_flakebench.compare.thresholds import from_mapping

        from_mapping(self.limits())  # raises ThresholdError (a ValueError) with the fix
        return self

    def limits(self) -> dict[str, str]:
        """The limits that are set, by metric."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class WorkersSpec(BaseModel):
    """How a run is spread over xdist workers (``-n N``) and their connections."""

    model_config = _STRICT

    mode: Literal["auto", "bounded", "fixed"] = "auto"
    min_workers: int = Field(default=1, ge=1, le=MAX_CONNECTIONS)
    max_workers: int | None = Field(default=None, ge=1, le=MAX_CONNECTIONS)
    min_connections: int = Field(default=1, ge=1, le=MAX_CONNECTIONS)
    max_connections: int | None = Field(default=None, ge=1, le=MAX_CONNECTIONS)

    @model_validator(mode="after")
    def _bounds(self) -> WorkersSpec:
        if self.max_workers is not None and self.max_workers < self.min_workers:
            raise ValueError(f"max_workers={self.max_workers} is below "
                             f"min_workers={self.min_workers}")
        if self.max_connections is not None and self.max_connections < self.min_connections:
            raise ValueError(f"max_connections={self.max_connections} is below "
                             f"min_connections={self.min_connections}")
        return self


class Template(BaseModel):
    """A fully validated benchmark template."""

    model_config = _STRICT

    name: str | None = Field(default=None, max_length=200)
    template_source: str | None = None  # set by the loader: file path or store:NAME@V
    # Serialised (JSON, stored rows, worker heartbeats) without its password: a worker resolves
    # the real target from the marker it collected itself, never from stored JSON.
    target: Annotated[TargetText, PlainSerializer(redact_target, return_type=str)]
    table: TableText
    key_column: Annotated[str | None, AfterValidator(valid_key_column)] = None
    table_type: Literal["standard", "hybrid", "interactive", "dynamic"] = "standard"
    # PostgreSQL execution path: lean (libpq layer) or cursor; auto = FLAKEBENCH_CLIENT_PATH
    # or lean. Recorded in the fingerprint as client.path, so it is not hashed with the rest.
    client_path: Literal["auto", "lean", "cursor"] = "auto"
    # Snowflake: refuse (before any load) a run whose planned duration would cost more credits
    # than this on the URL's warehouse (cost.py: size × clusters × max(planned s, 60) / 3600).
    max_credits: float | None = Field(default=None, gt=0, le=1_000_000)
    mix: dict[str, Annotated[float, Field(ge=0, le=100)]] = Field(default_factory=dict)
    queries: dict[str, CustomQuery] = Field(default_factory=dict)
    sql: dict[str, str] = Field(default_factory=dict)
    python: dict[str, Literal["read", "write"]] = Field(default_factory=dict)
    mode: Literal["concurrency", "qps", "find_max"] = "concurrency"
    concurrency: int = Field(default=4, ge=1, le=MAX_CONNECTIONS)
    qps: float | None = Field(default=None, ge=MIN_QPS, le=MAX_QPS)
    arrivals: Literal["constant", "poisson"] = "constant"
    late_after: ShortDurationS = 0.01
    drop_after: ShortDurationS = 1.0
    find_max: FindMaxSpec | None = None
    think_time: ThinkTime = (0.0, 0.0)
    max_tries: int = Field(default=1, ge=1, le=100)
    # An operation count instead of a duration (YCSB operationcount, pgbench -t): the
    # measurement ends once exactly this many operations (successes and errors) ran over every
    # worker; ``duration`` is then the time limit.
    operations: int | None = Field(default=None, ge=1, le=MAX_OPERATIONS)
    duration: DurationS = 10.0
    warmup: DurationS = 2.0
    seed: int = Field(default=1, ge=-INT64_MAX, le=INT64_MAX)
    range_size: int = Field(default=100, ge=1, le=MAX_KEY_SPAN)
    # Built-in writes: size of generated text values (default: the column's declared length,
    # else a short value), the columns an update writes (default: one chosen per operation
    # among the non-key columns), and the shape of new non-integer keys (default: a UUID drawn
    # from the seeded generator).
    value_size: int | None = Field(default=None, ge=1, le=MAX_VALUE_SIZE)
    update_columns: Annotated[list[str] | None, AfterValidator(valid_update_columns)] = None
    new_key: Annotated[str | None, AfterValidator(valid_new_key)] = None
    slo: SLOSpec = Field(default_factory=SLOSpec)
    regression: RegressionSpec = Field(default_factory=RegressionSpec)
    # A/B mode: the other target, trials interleaved (compare/ab.py); never its password.
    ab: Annotated[TargetText, PlainSerializer(redact_target, return_type=str)] | None = None
    workers: WorkersSpec = Field(default_factory=WorkersSpec)
    keys: KeySpec = Field(default_factory=KeySpec)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # A repr reaches tracebacks (--tb=long, --showlocals) and logs: never the password.
        for key, value in super().__repr_args__():
            yield key, redact_target(value) if key in ("target", "ab") and value else value

    def table_name(self) -> TableName:
        """The parsed table name."""
        return TableName.parse(self.table)

    def weights(self) -> dict[str, float]:
        """Every kind's weight: the mix plus the custom queries' weights (zeros dropped)."""
        merged = dict(self.mix)
        for name, query in self.queries.items():
            if query.weight is not None:
                merged[name] = query.weight
        return {k: v for k, v in merged.items() if v > 0}

    def kind_operation(self, kind: str) -> Literal["read", "write"]:
        """Whether a kind reads or writes."""
        if kind in self.queries:
            return self.queries[kind].operation
        if kind in self.python:
            return self.python[kind]
        return "write" if kind in WRITE_KINDS else "read"

    @model_validator(mode="after")
    def _check(self) -> Template:
        if self.duration <= 0:
            raise ValueError("duration must be longer than 0s: give e.g. duration='10s'")
        if self.mode == "qps" and self.qps is None:
            raise ValueError("mode='qps' needs a target rate: give e.g. qps=2000 "
                             "(operations per second over every worker)")
        if self.mode != "qps" and self.qps is not None:
            raise ValueError(f"qps={self.qps:g} is a target rate for mode='qps' (mode is "
                             f"{self.mode!r}): add mode='qps' or drop qps")
        if self.mode == "find_max" and self.find_max is None:
            object.__setattr__(self, "find_max", FindMaxSpec())
        if self.mode != "find_max" and self.find_max is not None:
            raise ValueError("find_max={...} needs mode='find_max'")
        if self.operations is not None and self.mode != "concurrency":
            raise ValueError(f"operations={self.operations} ends a closed-loop run after that "
                             f"many operations, but mode={self.mode!r} paces the load by time: "
                             f"drop operations, or use mode='concurrency'")
        for name, query in self.queries.items():
            check_identifier(name, what="custom query name")
            if name in BUILTIN_KINDS:
                raise ValueError(f"custom query {name!r} shadows a built-in kind: rename it")
            if query.weight is not None and name in self.mix:
                raise ValueError(
                    f"custom query {name!r} has a weight both in mix and in queries: keep one"
                )
        for name in self.python:
            check_identifier(name, what="python operation name")
            if name in BUILTIN_KINDS or name in self.queries:
                raise ValueError(f"python operation {name!r} shadows a built-in kind or a custom "
                                 f"query: rename it")
        known = set(BUILTIN_KINDS) | set(self.queries) | set(self.python)
        unknown = sorted(set(self.mix) - known)
        if unknown:
            hints = [f"{excerpt(k)} (did you mean {close!r}?)" if (close := _closest(k, known))
                     else excerpt(k) for k in unknown[:10]]
            raise ValueError(
                f"unknown kind(s) in mix: {', '.join(hints)}; built-in kinds are "
                f"{', '.join(BUILTIN_KINDS)}; define a custom query under queries={{...}} or "
                f"declare a Python operation under python={{'name': 'read'}}"
            )
        negative = {k: v for k, v in self.mix.items() if v < 0}
        if negative:
            raise ValueError(f"mix weights must be >= 0, got {negative}")
        tiny = {k: v for k, v in self.mix.items() if 0 < v < 0.01}
        if tiny:
            raise ValueError(f"mix weights below 0.01 would never run: {tiny}; use 0 to leave "
                             f"a kind out, or at least 0.01")
        weights = self.weights()
        total = sum(weights.values())
        if not weights or abs(total - 100.0) > 1e-6:
            raise ValueError(
                f"mix weights must sum to 100, they sum to {total:g} ({weights}): adjust them, "
                f"e.g. mix={{'point_lookup': 70, 'range_scan': 20, 'insert': 10}}"
            )
        for kind in self.sql:
            if kind not in BUILTIN_KINDS:
                raise ValueError(
                    f"sql override for {kind!r}: only built-in kinds ({', '.join(BUILTIN_KINDS)}) "
                    f"take overrides; define other queries under queries={{...}}"
                )
        for kind in self.slo.kinds:
            if kind not in weights:
                close = _closest(kind, {*weights, *SLO_METRICS})
                raise ValueError(
                    f"slo has limits for kind {excerpt(kind)}"
                    + (f" (did you mean {close!r}?)" if close else "")
                    + ", which is not in the mix "
                    f"({', '.join(sorted(weights))}); "
                    f"known SLO metrics are {', '.join(SLO_METRICS)}"
                )
        return self
