"""Workload generation: SQL and parameters for every kind, for one table and dialect.

Pure: given a validated template and the table's profile it returns one ``KindPlan`` per kind
(the SQL in the driver's parameter style and a parameter maker). Parameters are drawn outside
the timed region from a per-thread ``random.Random`` seeded from (template seed, global thread
index), so a run is reproducible. Inserted integer keys lie above the table's maximum key, one
stripe per global thread slot, so they never collide across threads, workers or hosts; a process
fills its own slots in insert order from one shared counter, so a run leaves no holes
(``table_keys``). Values of other columns come from ``values``; custom queries' parameters from
``custom_params``.

Built-in kinds and the parameters their SQL takes (also for ``sql=`` overrides, written with
``?`` placeholders and ``{table}``): ``point_lookup`` (key), ``range_scan`` (low key, high key),
``insert`` (new key), ``update`` (key).
"""

from __future__ import annotations

from collections.abc import Callable

# the engine owns the plan types; re-exported for the workload layer's callers
from pytest_flakebench.engine.plan import KindPlan as KindPlan
from pytest_flakebench.engine.plan import ParamMaker as ParamMaker
from pytest_flakebench.engine.plan import PythonOp as PythonOp
from pytest_flakebench.errors import TargetError
from pytest_flakebench.profile import Column, TableProfile
from pytest_flakebench.sqltext import count_placeholders, substitute_table, to_format_style
from pytest_flakebench.template.model import Template
from pytest_flakebench.workload.context import OpParams, ThreadContext
from pytest_flakebench.workload.custom_params import custom_params
from pytest_flakebench.workload.table_keys import TableKeys
from pytest_flakebench.workload.values import value_maker

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


def _q(name: str) -> str:
    """Quote a column name as the catalog spells it (an embedded quote is doubled)."""
    return '"' + name.replace('"', '""') + '"'


def _builtin_sql(kind: str, template: Template, profile: TableProfile,
                 keys: TableKeys) -> tuple[str, ParamMaker]:
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
        makers.append(value_maker(col, keys.dialect, template.value_size))
    if not cols:
        return f"{tag}INSERT INTO {table} DEFAULT VALUES", lambda ctx: ()
    names = ", ".join(_q(c.name) for c in cols)
    marks = ", ".join("?" for _ in cols)
    return (f"{tag}INSERT INTO {table} ({names}) VALUES ({marks})",
            lambda ctx: tuple(m(ctx) for m in makers))


# Columns a default update may pick; update_columns may also name bytes columns.
UPDATABLE = ("int", "float", "decimal", "text", "bool", "timestamp")


def _update_sql(tag: str, template: Template, profile: TableProfile,
                keys: TableKeys) -> tuple[str, ParamMaker]:
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
    makers = [value_maker(c, keys.dialect, template.value_size) for c in targets]
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


def _override(kind: str, sql: str, keys: TableKeys, range_size: int) -> ParamMaker:
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


def _python_plan(kind: str, template: Template, keys: TableKeys, fn: PythonOp) -> KindPlan:
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
    keys = TableKeys(profile, dialect, template.keys, key_pool, new_key=template.new_key)
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
            maker = custom_params(kind, query, keys, samples or {})
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
