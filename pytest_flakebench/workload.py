"""Workload generation: SQL and parameters for every kind, for one table and dialect.

Pure: given a validated template and the table's profile it returns one ``KindPlan`` per kind
(the SQL in the driver's parameter style and a parameter maker). Parameters are drawn outside
the timed region from a per-thread ``random.Random`` seeded from (template seed, global thread
index), so a run is reproducible. Inserted integer keys are striped by global thread index above
the table's maximum key, so they never collide across threads, workers or hosts.

Built-in kinds and the parameters their SQL takes (also for ``sql=`` overrides, written with
``?`` placeholders and ``{table}``): ``point_lookup`` (key), ``range_scan`` (low key, high key),
``insert`` (new key), ``update`` (key).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from pytest_flakebench.errors import TargetError
from pytest_flakebench.profile import Column, TableProfile
from pytest_flakebench.sqltext import count_placeholders, substitute_table, to_format_style
from pytest_flakebench.template import (
    ChoiceParam,
    CustomQuery,
    DateRangeParam,
    FloatRangeParam,
    IntRangeParam,
    KeyParam,
    LiteralParam,
    ParamSpec,
    Template,
)

OVERRIDE_PARAMS: dict[str, int] = {"point_lookup": 1, "range_scan": 2, "insert": 1, "update": 1}
"""How many ``?`` an ``sql=`` override of each built-in kind must have."""

OVERRIDE_MEANING: dict[str, str] = {
    "point_lookup": "(existing key)",
    "range_scan": "(low key, high key)",
    "insert": "(new key)",
    "update": "(existing key)",
}


class ThreadContext:
    """Per-thread state of the parameter makers: the seeded RNG and the insert-key stripe."""

    __slots__ = ("_insert_n", "global_index", "rng", "stride")

    def __init__(self, *, seed: int, global_index: int, stride: int) -> None:
        self.rng = random.Random(f"{seed}:{global_index}")
        self.global_index = global_index
        self.stride = stride
        self._insert_n = 0

    def next_insert_ordinal(self) -> int:
        """0, 1, 2… for this thread; combined with the stripe into a collision-free key."""
        n = self._insert_n
        self._insert_n = n + 1
        return n


ParamMaker = Callable[[ThreadContext], tuple[object, ...]]


@dataclass(frozen=True, slots=True)
class KindPlan:
    """How to run one kind: SQL in the driver's style, its parameters, read or write."""

    kind: str
    operation: Literal["read", "write"]
    sql: str
    make_params: ParamMaker


def render_sql(sql: str, paramstyle: str) -> str:
    """Render ``?``-style SQL for a driver's parameter style."""
    return to_format_style(sql) if paramstyle == "format" else sql


def _value_maker(col: Column, dialect: str) -> Callable[[ThreadContext], object]:
    """A generator of plausible values for a non-key column, by its type class."""
    tc = col.type_class
    if tc == "int":
        return lambda ctx: ctx.rng.randint(1, 1_000_000)
    if tc == "float":
        return lambda ctx: round(ctx.rng.random() * 1000, 3)
    if tc == "decimal":
        if dialect == "sqlite":
            return lambda ctx: round(ctx.rng.random() * 1000, 2)
        return lambda ctx: Decimal(ctx.rng.randint(0, 100_000)) / 100
    if tc == "text":
        limit = col.max_length or 64
        return lambda ctx: f"fb-{ctx.rng.getrandbits(40):x}"[:limit]
    if tc == "bool":
        if dialect == "sqlite":
            return lambda ctx: int(ctx.rng.random() < 0.5)
        return lambda ctx: ctx.rng.random() < 0.5
    if tc == "date":
        if dialect == "sqlite":
            return lambda ctx: dt.date.today().isoformat()
        return lambda ctx: dt.date.today()
    if tc == "timestamp":
        if dialect == "sqlite":  # sqlite3's datetime adapter is deprecated: send ISO text
            return lambda ctx: dt.datetime.now(dt.UTC).isoformat(sep=" ")
        return lambda ctx: dt.datetime.now(dt.UTC)
    if tc == "uuid":
        if dialect == "sqlite":
            return lambda ctx: str(uuid.UUID(int=ctx.rng.getrandbits(128)))
        return lambda ctx: uuid.UUID(int=ctx.rng.getrandbits(128))
    if tc == "json":
        return lambda ctx: f'{{"fb": {ctx.rng.randint(1, 1_000_000)}}}'
    if tc == "bytes":
        return lambda ctx: ctx.rng.randbytes(16)
    if col.nullable:
        return lambda ctx: None
    raise TargetError(
        f"column {col.name!r} ({col.type_name}) is NOT NULL, has no default and flakebench "
        f"cannot generate its values: give the insert yourself, e.g. "
        f"sql={{'insert': 'INSERT INTO {{table}} (...) VALUES (?, ...)'}}"
    )


class _Keys:
    """Existing and new keys of the profiled key column."""

    def __init__(self, profile: TableProfile, dialect: str) -> None:
        self.profile = profile
        self.dialect = dialect
        self.col = profile.key_column

    def require_existing(self, kind: str) -> tuple[int, int]:
        p = self.profile
        if self.col.type_class != "int":
            raise TargetError(
                f"{kind} draws keys from the key column {self.col.name!r}, which is "
                f"{self.col.type_name}, not an integer: choose an integer key_column, or write a "
                f"custom query with its own params"
            )
        if p.key_min is None or p.key_max is None:
            raise TargetError(
                f"{kind} needs existing keys but {p.info.table} has no rows: load data first"
            )
        return p.key_min, p.key_max

    def existing(self, kind: str) -> Callable[[ThreadContext], int]:
        lo, hi = self.require_existing(kind)
        span = hi - lo + 1
        # random() and a multiply cost a fifth of randint(); the bias (< span / 2**53) is nil.
        return lambda ctx: lo + int(ctx.rng.random() * span)

    def new_key(self) -> Callable[[ThreadContext], object]:
        if self.col.type_class == "int":
            base = (self.profile.key_max or 0) + 1
            return lambda ctx: base + ctx.global_index + ctx.next_insert_ordinal() * ctx.stride
        if self.col.type_class in ("uuid", "text"):
            as_text = self.dialect == "sqlite" or self.col.type_class == "text"
            return lambda ctx: (str(uuid.uuid4()) if as_text else uuid.uuid4())
        raise TargetError(
            f"insert cannot make new values for key column {self.col.name!r} "
            f"({self.col.type_name}): override it with sql={{'insert': ...}}"
        )


def _q(name: str) -> str:
    """Quote a column name as the catalog spells it (an embedded quote is doubled)."""
    return '"' + name.replace('"', '""') + '"'


def _builtin_sql(kind: str, template: Template, profile: TableProfile,
                 keys: _Keys) -> tuple[str, ParamMaker]:
    table = profile.info.table.quoted()
    key = _q(profile.key_column.name)
    tag = f"/* flakebench:{kind} */ "
    if kind == "point_lookup":
        draw = keys.existing(kind)
        return f"{tag}SELECT * FROM {table} WHERE {key} = ?", lambda ctx: (draw(ctx),)
    if kind == "range_scan":
        draw = keys.existing(kind)
        width = template.range_size - 1
        return (f"{tag}SELECT * FROM {table} WHERE {key} BETWEEN ? AND ? ORDER BY {key}",
                lambda ctx: (lo := draw(ctx), lo + width))
    if kind == "update":
        draw = keys.existing(kind)
        targets = [c for c in profile.info.columns
                   if c.name != profile.key_column.name and c.name not in profile.info.primary_key
                   and c.type_class in ("int", "float", "decimal", "text", "bool", "timestamp")]
        if not targets:
            raise TargetError(
                f"update needs a non-key column to change in {profile.info.table}: override it "
                f"with sql={{'update': 'UPDATE {{table}} SET ... WHERE id = ?'}}"
            )
        col = targets[0]
        make = _value_maker(col, keys.dialect)
        return (f"{tag}UPDATE {table} SET {_q(col.name)} = ? WHERE {key} = ?",
                lambda ctx: (make(ctx), draw(ctx)))
    # insert: the key (unless the database generates it) plus every column without a default
    cols: list[Column] = []
    makers: list[Callable[[ThreadContext], object]] = []
    if not profile.key_column.has_default:
        cols.append(profile.key_column)
        makers.append(keys.new_key())
    for col in profile.info.columns:
        if col.name == profile.key_column.name or col.has_default:
            continue
        cols.append(col)
        makers.append(_value_maker(col, keys.dialect))
    if not cols:
        return f"{tag}INSERT INTO {table} DEFAULT VALUES", lambda ctx: ()
    names = ", ".join(_q(c.name) for c in cols)
    marks = ", ".join("?" for _ in cols)
    return (f"{tag}INSERT INTO {table} ({names}) VALUES ({marks})",
            lambda ctx: tuple(m(ctx) for m in makers))


def _override(kind: str, sql: str, keys: _Keys, range_size: int) -> ParamMaker:
    expected = OVERRIDE_PARAMS[kind]
    found = count_placeholders(sql)
    if found != expected:
        raise TargetError(
            f"sql override for {kind} has {found} '?' placeholder(s); it takes exactly "
            f"{expected}: {OVERRIDE_MEANING[kind]}"
        )
    if kind == "insert":
        new = keys.new_key()
        return lambda ctx: (new(ctx),)
    draw = keys.existing(kind)
    if kind == "range_scan":
        width = range_size - 1
        return lambda ctx: (lo := draw(ctx), lo + width)
    return lambda ctx: (draw(ctx),)


def _param_maker(spec: ParamSpec, keys: _Keys, query: str) -> Callable[[ThreadContext], object]:
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
    raise TypeError(f"unknown parameter strategy {spec!r}")  # pragma: no cover - exhaustive


def _custom(name: str, query: CustomQuery, keys: _Keys) -> ParamMaker:
    makers = [_param_maker(p, keys, name) for p in query.params]
    return lambda ctx: tuple(m(ctx) for m in makers)


def build_plans(template: Template, profile: TableProfile, *, dialect: str,
                paramstyle: str) -> dict[str, KindPlan]:
    """One plan per kind with a positive weight; raises ``TargetError`` before any load."""
    keys = _Keys(profile, dialect)
    table = profile.info.table.quoted()
    plans: dict[str, KindPlan] = {}
    for kind in template.weights():
        if kind in template.queries:
            query = template.queries[kind]
            sql, maker = substitute_table(query.sql, table), _custom(kind, query, keys)
        elif kind in template.sql:
            sql = substitute_table(template.sql[kind], table)
            maker = _override(kind, sql, keys, template.range_size)
        else:
            sql, maker = _builtin_sql(kind, template, profile, keys)
        plans[kind] = KindPlan(kind, template.kind_operation(kind),
                               render_sql(sql, paramstyle), maker)
    return plans
