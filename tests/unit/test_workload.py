"""Workload generation from a hand-made table profile: SQL text, parameters, failures."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest

from pytest_flakebench.errors import TargetError
from pytest_flakebench.identifiers import TableName
from pytest_flakebench.profile import Column, TableInfo, TableProfile
from pytest_flakebench.sqltext import count_placeholders
from pytest_flakebench.template.model import Template
from pytest_flakebench.workload.context import ThreadContext
from pytest_flakebench.workload.plans import KindPlan, build_plans, render_sql

KEY_MIN, KEY_MAX = 1, 1_000

ID = Column("id", "integer", "int", nullable=False, has_default=False)
COLUMNS = (
    ID,
    Column("name", "character varying(8)", "text", nullable=False, has_default=False,
           max_length=8),
    Column("amount", "numeric(10,2)", "decimal", nullable=True, has_default=False),
    Column("active", "boolean", "bool", nullable=False, has_default=False),
    Column("created", "timestamp", "timestamp", nullable=False, has_default=True),
    Column("qty", "integer", "int", nullable=True, has_default=False),
    Column("score", "double precision", "float", nullable=True, has_default=False),
    Column("ref", "uuid", "uuid", nullable=True, has_default=False),
    Column("payload", "jsonb", "json", nullable=True, has_default=False),
    Column("blob", "bytea", "bytes", nullable=True, has_default=False),
    Column("day", "date", "date", nullable=True, has_default=False),
    Column("shape", "geometry", "other", nullable=True, has_default=False),
)
INSERTED = [c.name for c in COLUMNS if not c.has_default]

DIALECTS = [
    pytest.param("postgresql", "format", "public.orders", '"public"."orders"', "%s",
                 id="postgresql"),
    pytest.param("sqlite", "qmark", "orders", '"orders"', "?", id="sqlite"),
]

ALL_KINDS = {"point_lookup": 40, "range_scan": 20, "insert": 20, "update": 20}


def profile(table: str = "public.orders", *, columns: tuple[Column, ...] = COLUMNS,
            key: Column = ID, key_min: int | None = KEY_MIN, key_max: int | None = KEY_MAX,
            primary_key: tuple[str, ...] = ("id",)) -> TableProfile:
    info = TableInfo(table=TableName.parse(table), columns=columns, primary_key=primary_key)
    rows = 0 if key_max is None else key_max - (key_min or 0) + 1
    return TableProfile(info=info, key_column=key, key_min=key_min, key_max=key_max,
                        row_count=rows)


def template(table: str = "public.orders", **fields: Any) -> Template:
    data: dict[str, Any] = {"target": "t", "table": table, "mix": ALL_KINDS}
    data.update(fields)
    return Template.model_validate(data)


def plans_for(dialect: str, paramstyle: str, table: str, *, prof: TableProfile | None = None,
              **fields: Any) -> dict[str, KindPlan]:
    return build_plans(template(table, **fields), prof or profile(table), dialect=dialect,
                       paramstyle=paramstyle)


def marks_in(sql: str, paramstyle: str) -> int:
    return sql.count("%s") if paramstyle == "format" else count_placeholders(sql)


def ctx(global_index: int = 0, *, seed: int = 1, stride: int = 1) -> ThreadContext:
    return ThreadContext(seed=seed, global_index=global_index, stride=stride)


# --------------------------------------------------------------------------- SQL text


@pytest.mark.parametrize(("dialect", "paramstyle", "table", "quoted", "mark"), DIALECTS)
def test_builtin_sql_text(dialect: str, paramstyle: str, table: str, quoted: str,
                          mark: str) -> None:
    plans = plans_for(dialect, paramstyle, table)
    assert list(plans) == list(ALL_KINDS)
    assert plans["point_lookup"].sql == (
        f'/* flakebench:point_lookup */ SELECT * FROM {quoted} WHERE "id" = {mark}')
    assert plans["range_scan"].sql == (
        f"/* flakebench:range_scan */ SELECT * FROM {quoted} "
        f'WHERE "id" BETWEEN {mark} AND {mark} ORDER BY "id"')
    # by default an update changes one non-key column, chosen per operation
    assert plans["update"].sql.startswith(
        f'/* flakebench:update */ UPDATE {quoted} SET "name" = CASE WHEN {mark} = 0 THEN '
        f'{mark} ELSE "name" END, "amount" = CASE WHEN {mark} = 1 ')
    assert plans["update"].sql.endswith(f'WHERE "id" = {mark}')
    named = plans_for(dialect, paramstyle, table, update_columns=["name"])
    assert named["update"].sql == (
        f'/* flakebench:update */ UPDATE {quoted} SET "name" = {mark} WHERE "id" = {mark}')
    names = ", ".join(f'"{n}"' for n in INSERTED)
    marks = ", ".join(mark for _ in INSERTED)
    assert plans["insert"].sql == (
        f"/* flakebench:insert */ INSERT INTO {quoted} ({names}) VALUES ({marks})")
    assert {k: p.operation for k, p in plans.items()} == {
        "point_lookup": "read", "range_scan": "read", "insert": "write", "update": "write"}
    assert all(p.kind == k for k, p in plans.items())


@pytest.mark.parametrize(("dialect", "paramstyle", "table", "quoted", "mark"), DIALECTS)
def test_param_counts_match_placeholders(dialect: str, paramstyle: str, table: str,
                                         quoted: str, mark: str) -> None:
    plans = plans_for(dialect, paramstyle, table)
    context = ctx()
    for kind, plan in plans.items():
        for _ in range(20):
            params = plan.make_params(context)
            assert isinstance(params, tuple)
            assert len(params) == marks_in(plan.sql, paramstyle), kind
    if paramstyle == "qmark":
        assert all("%s" not in p.sql for p in plans.values())
    else:
        assert all("?" not in p.sql for p in plans.values())


@pytest.mark.parametrize(("dialect", "paramstyle", "table", "quoted", "mark"), DIALECTS)
def test_existing_keys_within_bounds(dialect: str, paramstyle: str, table: str, quoted: str,
                                     mark: str) -> None:
    plans = plans_for(dialect, paramstyle, table, range_size=50)
    context = ctx(3)
    seen: set[int] = set()
    for _ in range(2_000):
        (key,) = plans["point_lookup"].make_params(context)
        assert isinstance(key, int)
        assert KEY_MIN <= key <= KEY_MAX
        seen.add(key)
        lo, hi = plans["range_scan"].make_params(context)
        assert isinstance(lo, int)
        assert KEY_MIN <= lo <= KEY_MAX
        assert hi == lo + 49  # range_size keys, inclusive
        upd_key = plans["update"].make_params(context)[-1]
        assert isinstance(upd_key, int)
        assert KEY_MIN <= upd_key <= KEY_MAX
    assert len(seen) > 500  # spread over the key range, not stuck
    assert min(seen) < 100
    assert max(seen) > 900


def test_generated_values_by_type_postgresql() -> None:
    plans = plans_for("postgresql", "format", "public.orders")
    values = dict(zip(INSERTED, plans["insert"].make_params(ctx()), strict=True))
    assert values["id"] == KEY_MAX + 1
    assert isinstance(values["name"], str)
    assert len(values["name"]) <= 8  # max_length respected
    assert isinstance(values["amount"], Decimal)
    assert isinstance(values["active"], bool)
    assert isinstance(values["qty"], int)
    assert isinstance(values["score"], float)
    assert isinstance(values["ref"], uuid.UUID)
    assert isinstance(values["payload"], str)
    assert isinstance(values["blob"], bytes)
    assert isinstance(values["day"], dt.date)
    assert values["shape"] is None  # nullable and not generatable: NULL


def test_generated_values_by_type_sqlite() -> None:
    plans = plans_for("sqlite", "qmark", "orders")
    values = dict(zip(INSERTED, plans["insert"].make_params(ctx()), strict=True))
    assert isinstance(values["amount"], float)
    assert values["active"] in (0, 1)
    assert not isinstance(values["active"], bool)
    assert isinstance(values["ref"], str)
    uuid.UUID(values["ref"])
    assert isinstance(values["day"], str)
    dt.date.fromisoformat(values["day"])
    assert values["shape"] is None


def test_update_columns_name_what_an_update_writes() -> None:
    plans = plans_for("postgresql", "format", "public.orders", update_columns=["name"])
    new_name, _ = plans["update"].make_params(ctx())
    assert isinstance(new_name, str)
    assert len(new_name) <= 8


def test_insert_omits_a_generated_key() -> None:
    serial = dataclasses.replace(ID, has_default=True)
    cols = (serial, *COLUMNS[1:])
    prof = profile(columns=cols, key=serial)
    plans = build_plans(template(mix={"insert": 100}), prof, dialect="postgresql",
                        paramstyle="format")
    assert '"id"' not in plans["insert"].sql
    assert len(plans["insert"].make_params(ctx())) == len(INSERTED) - 1


def test_insert_default_values() -> None:
    serial = dataclasses.replace(ID, has_default=True)
    prof = profile(columns=(serial,), key=serial)
    plans = build_plans(template(mix={"insert": 100}), prof, dialect="sqlite", paramstyle="qmark")
    assert plans["insert"].sql == (
        '/* flakebench:insert */ INSERT INTO "public"."orders" DEFAULT VALUES')
    assert plans["insert"].make_params(ctx()) == ()


def test_only_weighted_kinds_get_plans() -> None:
    plans = build_plans(template(mix={"point_lookup": 100, "insert": 0}), profile(),
                        dialect="postgresql", paramstyle="format")
    assert list(plans) == ["point_lookup"]


def test_column_names_with_quotes_are_escaped() -> None:
    weird = Column('we"ird', "text", "text", nullable=False, has_default=False)
    prof = profile(columns=(ID, weird))
    try:
        plans = build_plans(template(mix={"insert": 50, "update": 50}), prof,
                            dialect="postgresql", paramstyle="format")
    except TargetError:
        return  # refusing the table up front would be acceptable too
    assert '"we""ird"' in plans["insert"].sql
    assert '"we""ird"' in plans["update"].sql


# --------------------------------------------------------------------------- insert keys


def test_inserted_keys_never_collide_across_threads_and_workers() -> None:
    workers, threads = 3, 8
    stride = workers * threads
    plans = {w: plans_for("postgresql", "format", "public.orders", seed=42)
             for w in range(workers)}  # every worker builds its own plans
    keys: list[int] = []
    for w in range(workers):
        for t in range(threads):
            context = ThreadContext(seed=42, global_index=w * threads + t, stride=stride)
            for _ in range(1_000):
                key = plans[w]["insert"].make_params(context)[0]
                assert isinstance(key, int)
                keys.append(key)
    assert len(keys) == workers * threads * 1_000
    assert len(set(keys)) == len(keys)
    assert min(keys) == KEY_MAX + 1
    assert all(k > KEY_MAX for k in keys)
    # the stripes tile the range above the maximum with no gap
    assert max(keys) == KEY_MAX + len(keys)


def test_insert_keys_into_an_empty_table_start_at_one() -> None:
    prof = profile(key_min=None, key_max=None)
    plans = build_plans(template(mix={"insert": 100}), prof, dialect="sqlite", paramstyle="qmark")
    context = ctx(2, stride=4)
    keys = [plans["insert"].make_params(context)[0] for _ in range(3)]
    assert keys == [3, 7, 11]


@pytest.mark.parametrize(("type_class", "dialect", "paramstyle", "kind"), [
    ("uuid", "postgresql", "format", uuid.UUID),
    ("uuid", "sqlite", "qmark", str),
    ("text", "postgresql", "format", str),
])
def test_non_integer_keys_for_insert(type_class: Any, dialect: str, paramstyle: str,
                                     kind: type) -> None:
    key = Column("id", type_class, type_class, nullable=False, has_default=False)
    prof = profile(columns=(key, COLUMNS[1]), key=key, key_min=None, key_max=None)
    plans = build_plans(template(mix={"insert": 100}), prof, dialect=dialect,
                        paramstyle=paramstyle)
    context = ctx()
    drawn = [plans["insert"].make_params(context)[0] for _ in range(100)]
    assert all(isinstance(k, kind) for k in drawn)
    assert len(set(map(str, drawn))) == 100


# --------------------------------------------------------------------------- reproducibility


@pytest.mark.parametrize(("dialect", "paramstyle", "table", "quoted", "mark"), DIALECTS)
def test_same_seed_same_params(dialect: str, paramstyle: str, table: str, quoted: str,
                               mark: str) -> None:
    cols = tuple(c for c in COLUMNS if c.type_class not in ("date", "timestamp"))

    def draw(seed: int, index: int) -> list[tuple[object, ...]]:
        plans = plans_for(dialect, paramstyle, table, prof=profile(table, columns=cols),
                          seed=seed)
        context = ThreadContext(seed=seed, global_index=index, stride=8)
        return [plans[k].make_params(context) for _ in range(50) for k in plans]

    first = draw(7, 3)
    assert first == draw(7, 3)
    assert first != draw(8, 3)
    assert first != draw(7, 4)


def test_custom_query_params_are_reproducible() -> None:
    queries = {"q": {"sql": "SELECT * FROM {table} WHERE a = ? AND b = ? AND c = ? AND d = ?",
                     "weight": 100,
                     "params": [{"int_range": [1, 10]}, {"choice": ["x", "y", "z"]},
                                {"float_range": [0, 1]}, {"key": True}]}}
    t = template(mix={}, queries=queries)
    a = build_plans(t, profile(), dialect="postgresql", paramstyle="format")["q"]
    b = build_plans(t, profile(), dialect="postgresql", paramstyle="format")["q"]
    ca, cb = ctx(5), ctx(5)
    assert [a.make_params(ca) for _ in range(100)] == [b.make_params(cb) for _ in range(100)]


# --------------------------------------------------------------------------- custom queries


@pytest.mark.parametrize(("dialect", "paramstyle", "table", "quoted", "mark"), DIALECTS)
def test_custom_query_plan(dialect: str, paramstyle: str, table: str, quoted: str,
                           mark: str) -> None:
    queries = {"recent": {
        "sql": "SELECT * FROM {table} WHERE a = ? AND b = ? AND note LIKE '%?%' AND c BETWEEN ? "
               "AND ? AND d = ? AND e = ? -- ?",
        "weight": 30, "operation": "write",
        "params": [{"literal": "fixed"}, {"choice": ["x", "y"]}, {"int_range": [5, 9]},
                   {"float_range": [1.5, 2.5]}, {"date_range": ["2024-01-01", "2024-01-31"]},
                   {"key": True}]}}
    plans = plans_for(dialect, paramstyle, table, mix={"point_lookup": 70}, queries=queries)
    plan = plans["recent"]
    assert plan.operation == "write"
    assert quoted in plan.sql
    assert "{table}" not in plan.sql
    if paramstyle == "format":
        assert "LIKE '%%?%%'" in plan.sql
        assert plan.sql.endswith("e = %s -- ?")
    else:
        assert "LIKE '%?%'" in plan.sql
    context = ctx()
    for _ in range(200):
        params = plan.make_params(context)
        assert len(params) == 6 == marks_in(plan.sql, paramstyle)
        literal, choice, n, f, day, key = params
        assert literal == "fixed"
        assert choice in ("x", "y")
        assert isinstance(n, int)
        assert 5 <= n <= 9
        assert isinstance(f, float)
        assert 1.5 <= f <= 2.5
        if dialect == "sqlite":
            assert isinstance(day, str)
            day = dt.date.fromisoformat(day)
        assert isinstance(day, dt.date)
        assert dt.date(2024, 1, 1) <= day <= dt.date(2024, 1, 31)
        assert isinstance(key, int)
        assert KEY_MIN <= key <= KEY_MAX


# --------------------------------------------------------------------------- sql overrides


@pytest.mark.parametrize(("kind", "sql", "count"), [
    ("point_lookup", "SELECT * FROM {table} WHERE id = ? /* ? */", 1),
    ("range_scan", "SELECT * FROM {table} WHERE id >= ? AND id <= ? AND n <> '?'", 2),
    ("insert", "INSERT INTO {table} (id, name) VALUES (?, 'x')", 1),
    ("update", "UPDATE {table} SET name = 'y' WHERE id = ?", 1),
])
def test_sql_overrides(kind: str, sql: str, count: int) -> None:
    plans = plans_for("postgresql", "format", "public.orders", sql={kind: sql})
    plan = plans[kind]
    assert '"public"."orders"' in plan.sql
    assert "{table}" not in plan.sql
    params = plan.make_params(ctx())
    assert len(params) == count == plan.sql.count("%s")
    if kind == "insert":
        assert params == (KEY_MAX + 1,)
    else:
        assert all(isinstance(p, int) and p >= KEY_MIN for p in params)


@pytest.mark.parametrize(("kind", "sql", "found", "expected"), [
    ("point_lookup", "SELECT * FROM {table} WHERE id = ? AND ? = 1", 2, 1),
    ("point_lookup", "SELECT * FROM {table} WHERE id = '?'", 0, 1),
    ("range_scan", "SELECT * FROM {table} WHERE id >= ?", 1, 2),
    ("insert", "INSERT INTO {table} DEFAULT VALUES", 0, 1),
    ("update", "UPDATE {table} SET a = ? WHERE id = ?", 2, 1),
])
def test_override_with_wrong_placeholder_count(kind: str, sql: str, found: int,
                                               expected: int) -> None:
    with pytest.raises(TargetError) as info:
        plans_for("postgresql", "format", "public.orders", sql={kind: sql})
    text = str(info.value)
    assert f"sql override for {kind} has {found} '?' placeholder(s)" in text
    assert f"it takes exactly {expected}" in text


# --------------------------------------------------------------------------- target errors


@pytest.mark.parametrize("kind", ["point_lookup", "range_scan", "update"])
def test_empty_table_with_existing_key_kinds(kind: str) -> None:
    prof = profile(key_min=None, key_max=None)
    with pytest.raises(TargetError, match="has no rows: load data first") as info:
        build_plans(template(mix={kind: 100}), prof, dialect="postgresql", paramstyle="format")
    assert kind in str(info.value)
    assert "public.orders" in str(info.value)


def test_empty_table_with_key_param() -> None:
    t = template(mix={}, queries={"q": {"sql": "SELECT ?", "weight": 100,
                                        "params": [{"key": True}]}})
    with pytest.raises(TargetError, match="no rows"):
        build_plans(t, profile(key_min=None, key_max=None), dialect="sqlite", paramstyle="qmark")


@pytest.mark.parametrize(("type_class", "type_name"), [
    ("text", "character varying(20)"), ("uuid", "uuid"), ("float", "double precision"),
])
@pytest.mark.parametrize("kind", ["point_lookup", "range_scan"])
def test_non_integer_key_with_existing_key_kinds(type_class: Any, type_name: str,
                                                 kind: str) -> None:
    key = Column("code", type_name, type_class, nullable=False, has_default=False)
    prof = profile(columns=(key, COLUMNS[1]), key=key, key_min=None, key_max=None,
                   primary_key=("code",))
    with pytest.raises(TargetError) as info:
        build_plans(template(mix={kind: 100}), prof, dialect="postgresql", paramstyle="format")
    text = str(info.value)
    assert "'code'" in text
    assert type_name in text
    assert "not an integer" in text


def test_ungeneratable_not_null_column() -> None:
    shape = Column("shape", "geometry", "other", nullable=False, has_default=False)
    prof = profile(columns=(ID, COLUMNS[1], shape))
    with pytest.raises(TargetError) as info:
        build_plans(template(mix={"insert": 100}), prof, dialect="postgresql",
                    paramstyle="format")
    text = str(info.value)
    assert "'shape' (geometry) is NOT NULL, has no default" in text
    assert "sql={'insert':" in text


def test_ungeneratable_column_is_fine_with_an_insert_override() -> None:
    shape = Column("shape", "geometry", "other", nullable=False, has_default=False)
    prof = profile(columns=(ID, shape))
    plans = build_plans(
        template(mix={"insert": 100},
                 sql={"insert": "INSERT INTO {table} (id, shape) VALUES (?, 'POINT(0 0)')"}),
        prof, dialect="postgresql", paramstyle="format")
    assert plans["insert"].make_params(ctx()) == (KEY_MAX + 1,)


def test_ungeneratable_key_for_insert() -> None:
    key = Column("ts", "timestamp", "timestamp", nullable=False, has_default=False)
    prof = profile(columns=(key,), key=key, key_min=None, key_max=None, primary_key=("ts",))
    with pytest.raises(TargetError, match="insert cannot make new values for key column 'ts'"):
        build_plans(template(mix={"insert": 100}), prof, dialect="postgresql",
                    paramstyle="format")


def test_update_without_a_changeable_column() -> None:
    blob = Column("blob", "bytea", "bytes", nullable=True, has_default=False)
    prof = profile(columns=(ID, blob))
    with pytest.raises(TargetError, match="update needs a non-key column"):
        build_plans(template(mix={"update": 100}), prof, dialect="postgresql",
                    paramstyle="format")


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(("paramstyle", "expected"), [
    ("format", "SELECT %s, '%%', '?'"),
    ("qmark", "SELECT ?, '%', '?'"),
])
def test_render_sql(paramstyle: str, expected: str) -> None:
    assert render_sql("SELECT ?, '%', '?'", paramstyle) == expected


def test_thread_context_ordinals() -> None:
    context = ctx(4, seed=9, stride=16)
    assert [context.next_insert_ordinal() for _ in range(3)] == [0, 1, 2]
    assert (context.global_index, context.stride) == (4, 16)
