"""Workload generation: SQL and parameters for every kind, for one table and dialect.

Pure: given a validated template and the table's profile it returns one ``KindPlan`` per kind
(the SQL in the driver's parameter style and a parameter maker). Parameters are drawn outside
the timed region from a per-thread ``random.Random`` seeded from (template seed, global thread
index), so a run is reproducible. Inserted integer keys lie above the table's maximum key, one
stripe per global thread slot, so they never collide across threads, workers or hosts; a process
fills its own slots in insert order from one shared counter, so a run leaves no holes.

Built-in kinds and the parameters their SQL takes (also for ``sql=`` overrides, written with
``?`` placeholders and ``{table}``): ``point_lookup`` (key), ``range_scan`` (low key, high key),
``insert`` (new key), ``update`` (key).
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

# the engine owns the plan types; re-exported for the workload layer's callers
from pytest_flakebench.engine.plan import KindPlan as KindPlan
from pytest_flakebench.engine.plan import ParamMaker as ParamMaker
from pytest_flakebench.engine.plan import PythonOp as PythonOp
from pytest_flakebench.errors import TargetError
from pytest_flakebench.profile import Column, TableProfile
from pytest_flakebench.sqltext import count_placeholders, substitute_table, to_format_style
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
from pytest_flakebench.workload.context import OpParams, ThreadContext
from pytest_flakebench.workload.keys import KeySpec, key_drawer

OVERRIDE_PARAMS: dict[str, int] = {"point_lookup": 1, "range_scan": 2, "insert": 1, "update": 1}
"""How many ``?`` an ``sql=`` override of each built-in kind must have."""

OVERRIDE_MEANING: dict[str, str] = {
    "point_lookup": "(existing key)",
    "range_scan": "(low key, high key)",
    "insert": "(new key)",
    "update": "(existing key)",
}



ROW_KINDS = frozenset({"point_lookup", "update"})
"""Built-in kinds that name one existing key: a success that touches no row is a miss."""








def render_sql(sql: str, paramstyle: str) -> str:
    """Render ``?``-style SQL for a driver's parameter style."""
    return to_format_style(sql) if paramstyle == "format" else sql


DEFAULT_TEXT_SIZE = 100  # a declared text length above this still gets 100 characters


def text_size(col: Column, value_size: int | None) -> int | None:
    """Characters of a generated text value: ``value_size``, else the column's declared
    length up to 100 (a YCSB field), else None (a short value)."""
    if value_size is not None:
        if col.max_length is not None and value_size > col.max_length:
            raise TargetError(
                f"value_size={value_size} does not fit column {col.name!r} "
                f"({col.type_name}, at most {col.max_length}): lower value_size or name the "
                f"columns to write with update_columns")
        return value_size
    return min(col.max_length, DEFAULT_TEXT_SIZE) if col.max_length else None


def _value_maker(col: Column, dialect: str,
                 value_size: int | None = None) -> Callable[[ThreadContext], object]:
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
        size = text_size(col, value_size)
        if size is None:
            return lambda ctx: f"fb-{ctx.rng.getrandbits(40):x}"
        half = (size + 1) // 2
        # randbytes + hex: ~1 µs for 100 characters, outside the timed region
        return lambda ctx: ctx.rng.randbytes(half).hex()[:size]
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
        size = value_size or 16
        return lambda ctx: ctx.rng.randbytes(size)
    if col.nullable:
        return lambda ctx: None
    raise TargetError(
        f"column {col.name!r} ({col.type_name}) is NOT NULL, has no default and flakebench "
        f"cannot generate its values: give the insert yourself, e.g. "
        f"sql={{'insert': 'INSERT INTO {{table}} (...) VALUES (?, ...)'}}"
    )


class _Keys:
    """Existing and new keys of the profiled key column.

    Integer keys: the profiled range plus the keys this run's inserts committed. Other keys
    (text, UUID): the key pool read in preflight (every key up to ``KEY_POOL_SIZE``, else a
    sample of that many) plus the keys this run's inserts committed, so ``latest`` reads new
    text keys too. New non-integer keys come from the seeded generator (a UUID) or from the
    ``new_key`` pattern, so two runs with one seed insert the same keys.
    """

    def __init__(self, profile: TableProfile, dialect: str, spec: KeySpec,
                 pool: list[object] | None = None, *, new_key: str | None = None) -> None:
        self.profile = profile
        self.dialect = dialect
        self.col = profile.key_column
        self.spec = spec
        self.pool = pool  # the preflight's keys of a non-integer key column
        self.new_key_pattern = new_key
        self._drawer: Callable[[ThreadContext], Any] | None = None
        # Keys this process's inserts committed, in commit order: lookups draw from the
        # profiled range plus these, so they never hit a key that was never written.
        self.inserted: list[int] = []
        # Non-integer keys: the committed keys themselves, and their positions after the pool
        # (what the distributions draw over); both appended under ``_lock``.
        self.inserted_values: list[object] = []
        self._lock = threading.Lock()

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

    def existing(self, kind: str) -> Callable[[ThreadContext], Any]:
        if self.pool is not None and self.col.type_class != "int":
            if not self.pool:
                raise TargetError(f"{kind} needs existing keys but {self.profile.info.table} "
                                  f"has no rows: load data first")
            if self._drawer is None:
                pool, base = self.pool, len(self.pool)
                added = self.inserted_values
                # The distribution runs over positions: the pool's, then the inserted keys'.
                index = key_drawer(self.spec, 0, base - 1, inserted=self.inserted)

                def draw(ctx: ThreadContext) -> object:
                    i = index(ctx)
                    return pool[i] if i < base else added[i - base]

                self._drawer = draw
            return self._drawer
        lo, hi = self.require_existing(kind)
        if self._drawer is None:
            # One drawer per plan: a zipfian table is built once and shared by every kind.
            self._drawer = key_drawer(self.spec, lo, hi, inserted=self.inserted)
        return self._drawer

    def commit(self) -> Callable[[ThreadContext], None] | None:
        """After a successful insert: its key exists."""
        inserted = self.inserted
        if self.col.type_class == "int":

            def commit(ctx: ThreadContext) -> None:
                key = ctx.pending_key
                if isinstance(key, int):
                    ctx.pending_key = None
                    inserted.append(key)  # atomic under the GIL; readers only index and len()

            return commit
        if self.pool is None:
            return None  # nothing reads existing keys in this mix
        values, base, lock = self.inserted_values, len(self.pool), self._lock

        def commit_value(ctx: ThreadContext) -> None:
            key = ctx.pending_key
            if key is not None:
                ctx.pending_key = None
                with lock:  # the value first, then its position: a drawn position exists
                    values.append(key)
                    inserted.append(base + len(values) - 1)

        return commit_value

    def new_key(self) -> Callable[[ThreadContext], object]:
        tc = self.col.type_class
        if tc == "int":
            base = (self.profile.key_max or 0) + 1

            counter = itertools.count()  # shared by this process's threads (atomic next())

            def new(ctx: ThreadContext) -> int:
                if ctx.local_count:
                    # The n-th insert of this process takes its n-th key slot: one stripe per
                    # thread slot, filled in turn, so a slow thread leaves no gap behind.
                    n = next(counter)
                    key = (base + ctx.local_base + n % ctx.local_count
                           + n // ctx.local_count * ctx.stride)
                else:
                    key = base + ctx.global_index + ctx.next_insert_ordinal() * ctx.stride
                ctx.pending_key = key  # drawable by lookups once the insert succeeded
                return key

            return new
        pattern = self.new_key_pattern
        if pattern is not None and tc == "text":

            def new_text(ctx: ThreadContext) -> object:
                # the stripe ordinal: unique over every thread, worker and host, seed-free
                key = pattern.format(n=ctx.global_index + ctx.next_insert_ordinal() * ctx.stride)
                ctx.pending_key = key
                return key

            return new_text
        if tc in ("uuid", "text"):
            as_text = self.dialect == "sqlite" or tc == "text"

            def new_uuid(ctx: ThreadContext) -> object:
                # from the thread's seeded generator: one seed, the same keys
                key = uuid.UUID(int=ctx.rng.getrandbits(128), version=4)
                value: object = str(key) if as_text else key
                ctx.pending_key = value
                return value

            return new_uuid
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
        keys.require_existing(kind)  # a key range needs an integer key column
        draw = keys.existing(kind)
        width = template.range_size - 1
        return (f"{tag}SELECT * FROM {table} WHERE {key} BETWEEN ? AND ? ORDER BY {key}",
                lambda ctx: (lo := draw(ctx), lo + width))
    if kind == "update":
        return _update_sql(tag, template, profile, keys)
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
        makers.append(_value_maker(col, keys.dialect, template.value_size))
    if not cols:
        return f"{tag}INSERT INTO {table} DEFAULT VALUES", lambda ctx: ()
    names = ", ".join(_q(c.name) for c in cols)
    marks = ", ".join("?" for _ in cols)
    return (f"{tag}INSERT INTO {table} ({names}) VALUES ({marks})",
            lambda ctx: tuple(m(ctx) for m in makers))


# Columns a default update may pick; update_columns may also name bytes columns.
UPDATABLE = ("int", "float", "decimal", "text", "bool", "timestamp")


def _update_sql(tag: str, template: Template, profile: TableProfile,
                keys: _Keys) -> tuple[str, ParamMaker]:
    """The built-in update: ``update_columns`` all written by every operation; by default one
    column chosen per operation among the non-key columns (as YCSB's update does)."""
    info, table, key = profile.info, profile.info.table.quoted(), _q(profile.key_column.name)
    draw = keys.existing("update")
    non_key = [c for c in info.columns
               if c.name != profile.key_column.name and c.name not in info.primary_key]
    if template.update_columns is not None:
        targets = []
        for name in template.update_columns:
            col = info.require_column(name)
            if col not in non_key or col.type_class not in (*UPDATABLE, "bytes"):
                raise TargetError(
                    f"update_columns: {col.name!r} ({col.type_name}) is a key column or of a "
                    f"type flakebench cannot generate: name other columns, or override it with "
                    f"sql={{'update': ...}}")
            targets.append(col)
    else:
        targets = [c for c in non_key if c.type_class in UPDATABLE]
    if not targets:
        raise TargetError(
            f"update needs a non-key column to change in {info.table}: override it "
            f"with sql={{'update': 'UPDATE {{table}} SET ... WHERE id = ?'}}"
        )
    makers = [_value_maker(c, keys.dialect, template.value_size) for c in targets]
    if template.update_columns is not None or len(targets) == 1:
        sets = ", ".join(f"{_q(c.name)} = ?" for c in targets)
        return (f"{tag}UPDATE {table} SET {sets} WHERE {key} = ?",
                lambda ctx: (*(m(ctx) for m in makers), draw(ctx)))
    # One prepared statement that changes one column per operation: CASE on a chosen index
    # keeps every other column as it was (the same value: no index entry changes).
    sets = ", ".join(f"{_q(c.name)} = CASE WHEN ? = {i} THEN ? ELSE {_q(c.name)} END"
                     for i, c in enumerate(targets))
    n = len(targets)

    def params(ctx: ThreadContext) -> tuple[object, ...]:
        chosen = int(ctx.rng.random() * n)
        out: list[object] = []
        for i, make in enumerate(makers):
            out += (chosen, make(ctx) if i == chosen else None)
        out.append(draw(ctx))
        return tuple(out)

    return f"{tag}UPDATE {table} SET {sets} WHERE {key} = ?", params


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


def _param_maker(spec: ParamSpec, keys: _Keys, query: str,
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


def _custom(name: str, query: CustomQuery, keys: _Keys,
            samples: dict[str, list[object]]) -> ParamMaker:
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


def _python_plan(kind: str, template: Template, keys: _Keys, fn: PythonOp) -> KindPlan:
    try:
        existing: Callable[[ThreadContext], int] | None = keys.existing(kind)
    except TargetError:
        existing = None
    try:
        new: Callable[[ThreadContext], object] | None = keys.new_key()
    except TargetError:
        new = None

    def source(ctx: ThreadContext) -> tuple[object, ...]:
        if ctx.params is None:
            ctx.params = OpParams(ctx, existing, new)
        return (ctx.params,)

    return KindPlan(kind, template.kind_operation(kind), "", source, fn)


def build_plans(template: Template, profile: TableProfile, *, dialect: str,
                paramstyle: str, samples: dict[str, list[object]] | None = None,
                python_ops: dict[str, PythonOp] | None = None,
                key_pool: list[object] | None = None) -> dict[str, KindPlan]:
    """One plan per kind with a positive weight; raises ``TargetError`` before any load."""
    keys = _Keys(profile, dialect, template.keys, key_pool, new_key=template.new_key)
    table = profile.info.table.quoted()
    plans: dict[str, KindPlan] = {}
    for kind in template.weights():
        if kind in template.python:
            fn = (python_ops or {}).get(kind)
            if fn is None:
                raise TargetError(f"python operation {kind!r} is declared but no function was "
                                  f"registered for it: use @flakebench.operation({kind!r})")
            plans[kind] = _python_plan(kind, template, keys, fn)
            continue
        expect_row = kind in ROW_KINDS
        if kind in template.queries:
            query = template.queries[kind]
            sql = substitute_table(query.sql, table)
            maker = _custom(kind, query, keys, samples or {})
            expect_row = query.expect == "row"
        elif kind in template.sql:
            sql = substitute_table(template.sql[kind], table)
            maker = _override(kind, sql, keys, template.range_size)
        else:
            sql, maker = _builtin_sql(kind, template, profile, keys)
        plans[kind] = KindPlan(kind, template.kind_operation(kind),
                               render_sql(sql, paramstyle), maker, expect_row=expect_row,
                               after_ok=keys.commit() if kind == "insert" else None)
    return plans
