"""The benchmark template: a strict, frozen pydantic model of everything a run needs.

A template comes from marker keywords, a TOML/YAML/JSON file, or both (see ``template_load``).
Validation is pure: no database is contacted, so a bad template is refused at collection time,
before any load is sent.
"""

from __future__ import annotations

import datetime as dt
import difflib
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    Tag,
    model_validator,
)

from pytest_flakebench.identifiers import TableName, check_identifier
from pytest_flakebench.sqltext import count_placeholders
from pytest_flakebench.units import parse_duration_s, parse_latency_us, parse_rate

BUILTIN_KINDS: tuple[str, ...] = ("point_lookup", "range_scan", "insert", "update")
"""Operation kinds whose SQL is generated for the table and dialect."""

WRITE_KINDS = frozenset({"insert", "update"})

DurationS = Annotated[float, BeforeValidator(parse_duration_s)]
# In JSON a latency is written "250us": a bare number would read back as seconds.
LatencyUs = Annotated[int, BeforeValidator(parse_latency_us),
                      PlainSerializer(lambda us: f"{us}us", return_type=str, when_used="json")]
Rate = Annotated[float, BeforeValidator(parse_rate)]


def _valid_table(text: str) -> str:
    TableName.parse(text)
    return text


def _valid_identifier(text: str | None) -> str | None:
    return None if text is None else check_identifier(text, what="key_column")


TableText = Annotated[str, AfterValidator(_valid_table)]

_STRICT = ConfigDict(strict=True, frozen=True, extra="forbid")


class LimitSet(BaseModel):
    """SLO limits for one scope (the whole run, or one kind)."""

    model_config = _STRICT

    p50: LatencyUs | None = None
    p90: LatencyUs | None = None
    p95: LatencyUs | None = None
    p99: LatencyUs | None = None
    p999: LatencyUs | None = None
    max: LatencyUs | None = None
    min_qps: float | None = Field(default=None, ge=0)
    error_rate: Rate | None = None

    def limits(self) -> dict[str, float]:
        """The limits that are set, by metric name."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


LATENCY_METRICS: tuple[str, ...] = ("p50", "p90", "p95", "p99", "p999", "max")
SLO_METRICS: tuple[str, ...] = (*LATENCY_METRICS, "min_qps", "error_rate")


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
                    f"unknown SLO metric {key!r}: {hint}metrics are {', '.join(SLO_METRICS)}; "
                    f"limits for one kind take a dict, e.g. {{'insert': {{'p99': '50ms'}}}}"
                )
        return {**overall, "kinds": kinds}


class LiteralParam(BaseModel):
    """A fixed value."""

    model_config = _STRICT
    literal: str | int | float | bool | None


class ChoiceParam(BaseModel):
    """One of the listed values, uniformly."""

    model_config = _STRICT
    choice: list[str | int | float | bool] = Field(min_length=1)


class IntRangeParam(BaseModel):
    """An integer drawn uniformly from ``[lo, hi]``."""

    model_config = _STRICT
    int_range: tuple[int, int] = Field(strict=False)  # lists from TOML/JSON/YAML

    @model_validator(mode="after")
    def _ordered(self) -> IntRangeParam:
        if self.int_range[0] > self.int_range[1]:
            raise ValueError(
                f"int_range {list(self.int_range)} must be [low, high] with low <= high"
            )
        return self


class FloatRangeParam(BaseModel):
    """A float drawn uniformly from ``[lo, hi]``."""

    model_config = _STRICT
    float_range: tuple[float, float] = Field(strict=False)

    @model_validator(mode="after")
    def _ordered(self) -> FloatRangeParam:
        if self.float_range[0] > self.float_range[1]:
            raise ValueError(f"float_range {list(self.float_range)} must be [low, high]")
        return self


class DateRangeParam(BaseModel):
    """A date drawn uniformly from ``[start, end]`` (ISO dates)."""

    model_config = ConfigDict(frozen=True, extra="forbid")  # lax: accepts "2024-01-31"
    date_range: tuple[dt.date, dt.date]


class KeyParam(BaseModel):
    """An existing key of the table's key column, drawn like a point lookup's key."""

    model_config = _STRICT
    key: Literal[True]


_STRATEGIES: dict[str, str] = {
    "literal": "literal",
    "choice": "choice",
    "int_range": "int_range",
    "float_range": "float_range",
    "date_range": "date_range",
    "key": "key",
}


def _strategy_of(value: Any) -> str | None:
    # Pick the model by the one key the user wrote, so an error names that strategy only.
    if isinstance(value, dict):
        found = [k for k in value if k in _STRATEGIES]
        return found[0] if len(found) == 1 else None
    for name in _STRATEGIES:
        if hasattr(value, name):
            return name
    return None


ParamSpec = Annotated[
    Annotated[LiteralParam, Tag("literal")]
    | Annotated[ChoiceParam, Tag("choice")]
    | Annotated[IntRangeParam, Tag("int_range")]
    | Annotated[FloatRangeParam, Tag("float_range")]
    | Annotated[DateRangeParam, Tag("date_range")]
    | Annotated[KeyParam, Tag("key")],
    Discriminator(
        _strategy_of,
        custom_error_type="param_strategy",
        custom_error_message=(
            "a parameter is a mapping with exactly one strategy key: literal, choice, "
            "int_range, float_range, date_range or key (e.g. {'int_range': [1, 100]})"
        ),
    ),
]


class CustomQuery(BaseModel):
    """A named query with ``?`` placeholders, a weight and one strategy per placeholder."""

    model_config = _STRICT

    sql: str = Field(min_length=1)
    weight: float | None = Field(default=None, ge=0, le=100)
    operation: Literal["read", "write"] = "read"
    params: list[ParamSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _placeholders_match(self) -> CustomQuery:
        found = count_placeholders(self.sql)
        if found != len(self.params):
            raise ValueError(
                f"the SQL has {found} '?' placeholder(s) but {len(self.params)} param "
                f"strategy(ies) are given: give exactly one entry in params per '?'"
            )
        return self


class WorkersSpec(BaseModel):
    """How a run is spread over xdist workers (``-n N``) and their connections."""

    model_config = _STRICT

    mode: Literal["auto", "bounded", "fixed"] = "auto"
    min_workers: int = Field(default=1, ge=1)
    max_workers: int | None = Field(default=None, ge=1)
    min_connections: int = Field(default=1, ge=1)
    max_connections: int | None = Field(default=None, ge=1)

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

    name: str | None = None
    target: str = Field(min_length=1)
    table: TableText
    key_column: Annotated[str | None, AfterValidator(_valid_identifier)] = None
    table_type: Literal["standard", "hybrid", "interactive", "dynamic"] = "standard"
    mix: dict[str, float] = Field(default_factory=dict)
    queries: dict[str, CustomQuery] = Field(default_factory=dict)
    sql: dict[str, str] = Field(default_factory=dict)
    mode: Literal["concurrency"] = "concurrency"
    concurrency: int = Field(default=4, ge=1, le=4096)
    think_time: DurationS = 0.0
    duration: DurationS = 10.0
    warmup: DurationS = 2.0
    seed: int = 1
    range_size: int = Field(default=100, ge=1)
    slo: SLOSpec = Field(default_factory=SLOSpec)
    workers: WorkersSpec = Field(default_factory=WorkersSpec)

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
        return "write" if kind in WRITE_KINDS else "read"

    @model_validator(mode="after")
    def _check(self) -> Template:
        if self.duration <= 0:
            raise ValueError("duration must be longer than 0s: give e.g. duration='10s'")
        for name, query in self.queries.items():
            check_identifier(name, what="custom query name")
            if name in BUILTIN_KINDS:
                raise ValueError(f"custom query {name!r} shadows a built-in kind: rename it")
            if query.weight is not None and name in self.mix:
                raise ValueError(
                    f"custom query {name!r} has a weight both in mix and in queries: keep one"
                )
        known = set(BUILTIN_KINDS) | set(self.queries)
        unknown = sorted(set(self.mix) - known)
        if unknown:
            raise ValueError(
                f"unknown kind(s) in mix: {', '.join(map(repr, unknown))}; built-in kinds are "
                f"{', '.join(BUILTIN_KINDS)}, or define a custom query under queries={{...}}"
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
                raise ValueError(
                    f"slo has limits for kind {kind!r}, which is not in the mix "
                    f"({', '.join(sorted(weights))}); "
                    f"known SLO metrics are {', '.join(SLO_METRICS)}"
                )
        return self
