"""Parameters of custom queries (``queries=``): one maker per declared parameter strategy."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from pytest_flakebench.engine.plan import ParamMaker
from pytest_flakebench.errors import TargetError
from pytest_flakebench.template.model import Template
from pytest_flakebench.template.params import (
    ChoiceParam,
    CustomQuery,
    DateRangeParam,
    FloatRangeParam,
    IntRangeParam,
    KeyParam,
    LiteralParam,
    OffsetParam,
    ParamSpec,
    SampleParam,
    WeightedParam,
)
from pytest_flakebench.workload.context import ThreadContext
from pytest_flakebench.workload.table_keys import TableKeys


def _param_maker(spec: ParamSpec, keys: TableKeys, query: str,
                 samples: dict[str, list[object]]) -> Callable[[ThreadContext], object]:
    if isinstance(spec, LiteralParam):
        value = spec.literal
        return lambda ctx: value
    if isinstance(spec, ChoiceParam):
        values = list(spec.choice)
        return lambda ctx: ctx.rng.choice(values)
    if isinstance(spec, IntRangeParam):
        lo, hi = spec.int_range
        return lambda ctx: ctx.rng.randint(lo, hi)
    if isinstance(spec, FloatRangeParam):
        flo, fhi = spec.float_range
        return lambda ctx: ctx.rng.uniform(flo, fhi)
    if isinstance(spec, DateRangeParam):
        start, end = spec.date_range
        span = (end - start).days
        if keys.dialect == "sqlite":
            return lambda ctx: (start + dt.timedelta(days=ctx.rng.randint(0, span))).isoformat()
        return lambda ctx: start + dt.timedelta(days=ctx.rng.randint(0, span))
    if isinstance(spec, KeyParam):
        return keys.existing(query)
    if isinstance(spec, WeightedParam):
        values, weights = list(spec.weighted), list(spec.weighted.values())
        return lambda ctx: ctx.rng.choices(values, weights)[0]
    if isinstance(spec, SampleParam):
        pool = samples.get(spec.sample.lower(), [])
        if not pool:
            raise TargetError(f"{query}: column {spec.sample!r} has no values to sample from")
        return lambda ctx: ctx.rng.choice(pool)
    raise TypeError(f"unknown parameter strategy {spec!r}")  # pragma: no cover - exhaustive


def _offset_maker(spec: OffsetParam) -> Callable[[object, ThreadContext], object]:
    low, high = spec.offset

    def shift(base: object, ctx: ThreadContext) -> object:
        if isinstance(base, dt.date | dt.datetime):
            return base + dt.timedelta(days=ctx.rng.randint(int(low), int(high)))
        if isinstance(base, str):  # an ISO date as SQLite receives it
            day = dt.date.fromisoformat(base[:10])
            return (day + dt.timedelta(days=ctx.rng.randint(int(low), int(high)))).isoformat()
        if isinstance(base, int) and float(low).is_integer() and float(high).is_integer():
            return base + ctx.rng.randint(int(low), int(high))
        if isinstance(base, int | float):
            return base + ctx.rng.uniform(low, high)
        raise TypeError(f"offset needs a number or a date, got {base!r}")

    return shift


def custom_params(name: str, query: CustomQuery, keys: TableKeys,
                  samples: dict[str, list[object]]) -> ParamMaker:
    """The parameter maker of custom query ``name``: its parameters in order, an ``offset``
    computed from the value of the parameter it names."""
    steps: list[tuple[int, Callable[..., object]]] = []
    for spec in query.params:
        if isinstance(spec, OffsetParam):
            steps.append((spec.from_, _offset_maker(spec)))
        else:
            steps.append((-1, _param_maker(spec, keys, name, samples)))

    def make(ctx: ThreadContext) -> tuple[object, ...]:
        values: list[object] = []
        for source, maker in steps:
            values.append(maker(ctx) if source < 0 else maker(values[source], ctx))
        return tuple(values)

    return make


def sample_columns(template: Template) -> dict[str, int]:
    """Columns custom queries sample from, with the largest sample size asked for each."""
    wanted: dict[str, int] = {}
    for query in template.queries.values():
        for spec in query.params:
            if isinstance(spec, SampleParam):
                key = spec.sample.lower()
                wanted[key] = max(wanted.get(key, 0), spec.size)
    return wanted
