"""Template validation through ``build_template``: strictness, mix, queries, SLOs, files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_flakebench.errors import TemplateError
from pytest_flakebench.template.load import build_template, load_template_file
from pytest_flakebench.template.model import Template
from pytest_flakebench.template.params import (
    ChoiceParam,
    DateRangeParam,
    FloatRangeParam,
    IntRangeParam,
    KeyParam,
    LiteralParam,
)

WHERE = "tests/bench/test_orders.py::test_mixed[pg]"

BASE: dict[str, Any] = {"target": "pg", "table": "public.orders", "mix": {"point_lookup": 100}}


def build(search: list[Path] | None = None, **fields: Any) -> Template:
    return build_template({**BASE, **fields}, where=WHERE, search=search or [])


def error_of(search: list[Path] | None = None, **fields: Any) -> str:
    with pytest.raises(TemplateError) as info:
        build(search, **fields)
    text = str(info.value)
    assert text.startswith(f"{WHERE}: "), text
    return text


# --------------------------------------------------------------------------- defaults, strictness


def test_minimal_template_and_defaults() -> None:
    t = build()
    assert t.target == "pg"
    assert t.table_name().quoted() == '"public"."orders"'
    assert t.concurrency == 4
    assert t.duration == 10.0
    assert t.warmup == 2.0
    assert t.think_time == (0.0, 0.0)
    assert t.seed == 1
    assert t.range_size == 100
    assert t.mode == "concurrency"
    assert t.weights() == {"point_lookup": 100.0}
    assert t.slo.kinds == {}
    assert set(t.slo.limits()) == {"kinds"}  # no overall limit set


def test_units_are_parsed() -> None:
    t = build(duration="2m", warmup="500ms", think_time="250us",
              slo={"p95": "20ms", "max": 1.5, "error_rate": "0.5%", "min_qps": 100})
    assert t.duration == 120.0
    assert t.warmup == 0.5
    assert t.think_time == pytest.approx((0.00025, 0.00025))
    assert t.slo.p95 == 20_000
    assert t.slo.max == 1_500_000
    assert t.slo.error_rate == pytest.approx(0.005)
    assert t.slo.min_qps == 100


def test_template_is_frozen() -> None:
    t = build()
    with pytest.raises(ValueError, match="frozen"):
        t.concurrency = 8


# (field, value, expected fragment of the message)
STRICT_BAD: list[tuple[str, Any, str]] = [
    ("concurrency", "4", "valid integer"),
    ("concurrency", 4.0, "valid integer"),
    ("concurrency", True, "valid integer"),
    ("concurrency", 0, "must be at least 1"),
    ("concurrency", 5000, "must be at most 4096"),
    ("seed", "1", "valid integer"),
    ("range_size", 0, "must be at least 1"),
    ("range_size", "100", "valid integer"),
    ("target", "", "neither a URL nor a target name"),
    ("target", 5, "valid string"),
    ("table", 5, "valid string"),
    ("table", "x; drop table y", "not a plain SQL identifier"),
    ("table", "a.b.c.d", "'database.schema.table'"),
    ("table", "1orders", "not a plain SQL identifier"),
    ("key_column", "a b", "not a plain SQL identifier"),
    ("key_column", "id; --", "not a plain SQL identifier"),
    ("mode", "rate", "'concurrency'"),
    ("table_type", "fancy", "'standard'"),
    ("duration", "forever", "expected a duration"),
    ("duration", True, "expected a duration"),
    ("duration", -1, "non-negative"),
    ("warmup", "-2s", "expected a duration"),
    ("think_time", [1], "must be [low, high]"),
    ("mix", [["point_lookup", 100]], "valid dictionary"),
    ("mix", {"point_lookup": "100"}, "valid number"),
    ("slo", {"p95": "fast"}, "expected a latency"),
    ("slo", {"p95": True}, "expected a latency"),
    ("slo", {"error_rate": "5"}, "expected a rate"),
    ("slo", {"error_rate": "150%"}, "expected a rate"),
    ("slo", {"min_qps": -1}, "must be at least 0"),
    ("slo", {"min_qps": "100"}, "valid number"),
    ("sql", {"point_lookup": 5}, "valid string"),
]


@pytest.mark.parametrize(("field", "value", "fragment"), STRICT_BAD, ids=repr)
def test_strict_fields(field: str, value: Any, fragment: str) -> None:
    text = error_of(**{field: value})
    assert fragment in text
    assert field in text
    assert repr(value) in text or repr(next(iter(value.values()))) in text


def test_string_concurrency_error_names_field_and_value() -> None:
    text = error_of(concurrency="4")
    assert "concurrency='4'" in text
    assert "invalid flakebench template" in text


@pytest.mark.parametrize(("typo", "suggestion"), [
    ("concurency", "concurrency"),
    ("duraton", "duration"),
    ("key_colum", "key_column"),
    ("thinktime", "think_time"),
    ("tabel", "table"),
    ("slos", "slo"),
])
def test_extra_keys_rejected_with_did_you_mean(typo: str, suggestion: str) -> None:
    fields: dict[str, Any] = {typo: 7}
    text = error_of(**fields)
    assert f"{typo}: unknown field (value 7)" in text
    assert f"did you mean {suggestion!r}?" in text


def test_unrelated_extra_key_says_remove_it() -> None:
    text = error_of(xyzzy=1)
    assert "xyzzy: unknown field (value 1): remove it" in text


def test_every_error_is_listed() -> None:
    text = error_of(concurrency="4", seed="x", bogus=1)
    assert text.count("\n  - ") == 3


def test_missing_required_fields() -> None:
    with pytest.raises(TemplateError) as info:
        build_template({"mix": {"point_lookup": 100}}, where=WHERE, search=[])
    text = str(info.value)
    assert "target: required field is missing: add target=..." in text
    assert "table: required field is missing: add table=..." in text


def test_zero_duration_rejected() -> None:
    text = error_of(duration="0s")
    assert "duration must be longer than 0s" in text


# --------------------------------------------------------------------------- mix


@pytest.mark.parametrize("mix", [
    {"point_lookup": 100},
    {"point_lookup": 70, "range_scan": 20, "insert": 10},
    {"point_lookup": 33.33, "range_scan": 33.33, "insert": 33.34},
    {"point_lookup": 25, "range_scan": 25, "insert": 25, "update": 25},
    {"point_lookup": 99.99, "update": 0.01},
    {"point_lookup": 100, "insert": 0},
], ids=repr)
def test_mix_sums_to_100(mix: dict[str, float]) -> None:
    t = build(mix=mix)
    assert t.weights() == {k: v for k, v in mix.items() if v > 0}


@pytest.mark.parametrize(("mix", "total"), [
    ({"point_lookup": 60, "range_scan": 30}, "90"),
    ({"point_lookup": 60, "range_scan": 50}, "110"),
    ({"point_lookup": 99.99}, "99.99"),
    ({"point_lookup": 0}, "0"),
    ({}, "0"),
], ids=repr)
def test_mix_must_sum_to_100(mix: dict[str, float], total: str) -> None:
    text = error_of(mix=mix)
    assert f"mix weights must sum to 100, they sum to {total} " in text


def test_negative_weight_rejected() -> None:
    text = error_of(mix={"point_lookup": 105, "insert": -5})
    assert "mix.insert=-5: must be at least 0" in text
    assert "mix.point_lookup=105: must be at most 100" in text


@pytest.mark.parametrize("kind", ["bogus", "select", "Point_Lookup", "delete"])
def test_unknown_kind_rejected(kind: str) -> None:
    text = error_of(mix={"point_lookup": 50, kind: 50})
    assert f"unknown kind(s) in mix: {kind!r}" in text
    assert "point_lookup, range_scan, insert, update" in text


def test_kind_operations() -> None:
    t = build(mix={"point_lookup": 25, "range_scan": 25, "insert": 25, "update": 25})
    assert [t.kind_operation(k) for k in ("point_lookup", "range_scan", "insert", "update")] == [
        "read", "read", "write", "write"]


# --------------------------------------------------------------------------- custom queries


def test_custom_query_with_weight_in_queries() -> None:
    t = build(mix={"point_lookup": 60},
              queries={"by_status": {"sql": "SELECT * FROM {table} WHERE status = ? LIMIT ?",
                                     "weight": 40,
                                     "params": [{"choice": ["new", "paid"]},
                                                {"int_range": [1, 10]}]}})
    assert t.weights() == {"point_lookup": 60.0, "by_status": 40.0}
    assert t.kind_operation("by_status") == "read"
    params = t.queries["by_status"].params
    assert isinstance(params[0], ChoiceParam)
    assert isinstance(params[1], IntRangeParam)
    assert params[1].int_range == (1, 10)


def test_custom_query_with_weight_in_mix() -> None:
    t = build(mix={"point_lookup": 60, "bump": 40},
              queries={"bump": {"sql": "UPDATE {table} SET n = n + 1 WHERE id = ?",
                                "operation": "write", "params": [{"key": True}]}})
    assert t.weights() == {"point_lookup": 60.0, "bump": 40.0}
    assert t.kind_operation("bump") == "write"


def test_custom_query_weight_in_both_places() -> None:
    text = error_of(mix={"point_lookup": 60, "q": 40},
                    queries={"q": {"sql": "SELECT 1", "weight": 40}})
    assert "custom query 'q' has a weight both in mix and in queries" in text


@pytest.mark.parametrize("name", ["point_lookup", "range_scan", "insert", "update"])
def test_custom_query_cannot_shadow_builtin(name: str) -> None:
    text = error_of(mix={"point_lookup": 60} if name != "point_lookup" else {"insert": 60},
                    queries={name: {"sql": "SELECT 1", "weight": 40}})
    assert f"custom query {name!r} shadows a built-in kind" in text


@pytest.mark.parametrize("name", ["1q", "q-1", "q q", "q;drop"])
def test_custom_query_name_must_be_identifier(name: str) -> None:
    text = error_of(mix={"point_lookup": 60}, queries={name: {"sql": "SELECT 1", "weight": 40}})
    assert f"custom query name {name!r} is not a plain SQL identifier" in text


@pytest.mark.parametrize(("sql", "params", "found"), [
    ("SELECT ?, ?", [{"key": True}], 2),
    ("SELECT 1", [{"key": True}], 0),
    ("SELECT ?", [], 1),
    ("SELECT '?', ? -- ?", [], 1),
    ("SELECT /* ? */ 1", [{"literal": 1}], 0),
], ids=repr)
def test_custom_query_placeholders_must_match_params(sql: str, params: list[Any],
                                                      found: int) -> None:
    text = error_of(mix={"point_lookup": 60},
                    queries={"q": {"sql": sql, "weight": 40, "params": params}})
    assert f"the SQL has {found} '?' placeholder(s) but {len(params)} param" in text
    assert "queries.q" in text


def test_placeholders_in_literals_need_no_params() -> None:
    t = build(mix={"point_lookup": 60},
              queries={"q": {"sql": "SELECT '?' /* ? */ -- ?", "weight": 40}})
    assert t.queries["q"].params == []


@pytest.mark.parametrize("weight", [-1, 101, "40"])
def test_custom_query_weight_bounds(weight: Any) -> None:
    text = error_of(mix={"point_lookup": 60}, queries={"q": {"sql": "SELECT 1", "weight": weight}})
    assert "queries.q.weight" in text


def test_custom_query_empty_sql_and_bad_operation() -> None:
    text = error_of(mix={"point_lookup": 60},
                    queries={"q": {"sql": "", "weight": 40, "operation": "delete"}})
    assert "queries.q.sql=''" in text
    assert "queries.q.operation='delete'" in text


# --------------------------------------------------------------------------- param strategies


PARAMS_OK: list[tuple[dict[str, Any], type, Any]] = [
    ({"literal": "x"}, LiteralParam, "x"),
    ({"literal": None}, LiteralParam, None),
    ({"literal": 3}, LiteralParam, 3),
    ({"choice": ["a", 1, 2.5, True]}, ChoiceParam, ["a", 1, 2.5, True]),
    ({"int_range": [1, 100]}, IntRangeParam, (1, 100)),
    ({"int_range": (5, 5)}, IntRangeParam, (5, 5)),
    ({"float_range": [0.5, 1.5]}, FloatRangeParam, (0.5, 1.5)),
    ({"float_range": [1, 2]}, FloatRangeParam, (1.0, 2.0)),
    ({"date_range": ["2024-01-01", "2024-01-31"]}, DateRangeParam,
     (dt.date(2024, 1, 1), dt.date(2024, 1, 31))),
    ({"date_range": [dt.date(2024, 1, 1), dt.date(2024, 2, 1)]}, DateRangeParam,
     (dt.date(2024, 1, 1), dt.date(2024, 2, 1))),
    ({"key": True}, KeyParam, True),
]


@pytest.mark.parametrize(("spec", "model", "value"), PARAMS_OK, ids=repr)
def test_param_strategies(spec: dict[str, Any], model: type, value: Any) -> None:
    t = build(mix={"point_lookup": 60}, queries={"q": {"sql": "SELECT ?", "weight": 40,
                                                       "params": [spec]}})
    param = t.queries["q"].params[0]
    assert isinstance(param, model)
    (field,) = spec
    assert getattr(param, field) == value


PARAMS_BAD: list[tuple[Any, str]] = [
    ({"bogus": 1}, "with one strategy key"),
    ({"int_rnage": [1, 2]}, "with one strategy key"),
    ({}, "with one strategy key"),
    ({"int_range": [1, 5], "choice": [1]}, "with one strategy key"),
    (5, "with one strategy key"),
    ("key", "with one strategy key"),
    ([1, 2], "with one strategy key"),
    ({"int_range": [9, 5]}, "int_range [9, 5] must be [low, high] with low <= high"),
    ({"int_range": [1, 2, 3]}, "int_range"),
    ({"int_range": ["1", "5"]}, "valid integer"),
    ({"float_range": [2.0, 1.0]}, "float_range [2.0, 1.0] must be [low, high]"),
    ({"date_range": ["2024-02-01", "nope"]}, "date_range"),
    ({"choice": []}, "at least 1 item"),
    ({"key": False}, "key"),
    ({"int_range": [1, 5], "extra": 1}, "extra: unknown field (value 1): remove it"),
]


@pytest.mark.parametrize(("spec", "fragment"), PARAMS_BAD, ids=repr)
def test_param_strategy_errors(spec: Any, fragment: str) -> None:
    text = error_of(mix={"point_lookup": 60},
                    queries={"q": {"sql": "SELECT ?", "weight": 40, "params": [spec]}})
    assert fragment in text
    assert "queries.q.params.0" in text


@pytest.mark.parametrize("spec", [{"bogus": 1}, {"int_range": [1, 5], "choice": [1]}, 7],
                         ids=repr)
def test_unknown_strategy_gives_one_clear_error(spec: Any) -> None:
    text = error_of(mix={"point_lookup": 60},
                    queries={"q": {"sql": "SELECT ?", "weight": 40, "params": [spec]}})
    lines = [line for line in text.splitlines() if line.startswith("  - ")]
    assert len(lines) == 1, text
    assert f"queries.q.params.0={spec!r}" in lines[0]
    for name in ("literal", "choice", "int_range", "float_range", "date_range", "key"):
        assert name in lines[0]


def test_strategy_error_names_only_the_written_strategy() -> None:
    text = error_of(mix={"point_lookup": 60},
                    queries={"q": {"sql": "SELECT ?", "weight": 40,
                                   "params": [{"int_range": [9, 5]}]}})
    lines = [line for line in text.splitlines() if line.startswith("  - ")]
    assert len(lines) == 1
    assert "choice" not in lines[0]


# --------------------------------------------------------------------------- sql overrides


@pytest.mark.parametrize("kind", ["point_lookup", "range_scan", "insert", "update"])
def test_sql_overrides_for_builtins(kind: str) -> None:
    t = build(sql={kind: "SELECT * FROM {table} WHERE id = ?"})
    assert kind in t.sql


@pytest.mark.parametrize("kind", ["bogus", "q", "delete"])
def test_sql_overrides_only_for_builtins(kind: str) -> None:
    queries = {"q": {"sql": "SELECT 1", "weight": 0}} if kind == "q" else {}
    text = error_of(sql={kind: "SELECT 1"}, queries=queries)
    assert f"sql override for {kind!r}: only built-in kinds" in text


# --------------------------------------------------------------------------- slo


def test_slo_per_kind_split() -> None:
    t = build(mix={"point_lookup": 90, "insert": 10},
              slo={"p95": "20ms", "insert": {"p99": "50ms", "error_rate": "1%"}})
    assert t.slo.p95 == 20_000
    assert set(t.slo.kinds) == {"insert"}
    assert t.slo.kinds["insert"].p99 == 50_000
    assert t.slo.kinds["insert"].limits() == {"p99": 50_000, "error_rate": 0.01}


def test_slo_for_custom_query_kind() -> None:
    t = build(mix={"point_lookup": 60},
              queries={"q": {"sql": "SELECT 1", "weight": 40}},
              slo={"q": {"max": "1s"}})
    assert t.slo.kinds["q"].max == 1_000_000


@pytest.mark.parametrize(("mix", "kind"), [
    ({"point_lookup": 100}, "insert"),
    ({"point_lookup": 100, "insert": 0}, "insert"),
    ({"point_lookup": 100}, "bogus"),
], ids=repr)
def test_slo_kind_must_be_in_mix(mix: dict[str, float], kind: str) -> None:
    text = error_of(mix=mix, slo={kind: {"p99": "5ms"}})
    assert f"slo has limits for kind {kind!r}, which is not in the mix (point_lookup)" in text
    assert "known SLO metrics are p50, p90, p95, p99, p999, max, min_qps, error_rate" in text


def test_slo_per_kind_unknown_metric() -> None:
    text = error_of(mix={"point_lookup": 90, "insert": 10}, slo={"insert": {"p98": "5ms"}})
    assert "slo.kinds.insert.p98: unknown field (value '5ms')" in text


def test_slo_typo_names_known_metrics() -> None:
    text = error_of(slo={"p95x": "20ms"})
    assert "p95x" in text
    assert "known SLO metrics are" in text or "did you mean 'p95'" in text


# --------------------------------------------------------------------------- template files

TOML_TEXT = """
target = "pg"
table = "public.orders"
concurrency = 8
duration = "30s"
seed = 7

[mix]
point_lookup = 70
range_scan = 20
by_status = 10

[queries.by_status]
sql = "SELECT * FROM {table} WHERE status = ? AND id > ?"
params = [{ choice = ["new", "paid"] }, { int_range = [1, 100] }]

[slo]
p95 = "20ms"
[slo.range_scan]
p99 = "80ms"
"""

YAML_TEXT = """
target: pg
table: public.orders
concurrency: 8
duration: 30s
seed: 7
mix:
  point_lookup: 70
  range_scan: 20
  by_status: 10
queries:
  by_status:
    sql: "SELECT * FROM {table} WHERE status = ? AND id > ?"
    params:
      - choice: [new, paid]
      - int_range: [1, 100]
slo:
  p95: 20ms
  range_scan:
    p99: 80ms
"""

JSON_DATA: dict[str, Any] = {
    "target": "pg",
    "table": "public.orders",
    "concurrency": 8,
    "duration": "30s",
    "seed": 7,
    "mix": {"point_lookup": 70, "range_scan": 20, "by_status": 10},
    "queries": {"by_status": {"sql": "SELECT * FROM {table} WHERE status = ? AND id > ?",
                              "params": [{"choice": ["new", "paid"]},
                                         {"int_range": [1, 100]}]}},
    "slo": {"p95": "20ms", "range_scan": {"p99": "80ms"}},
}

FILE_TEXTS = {"toml": TOML_TEXT, "yaml": YAML_TEXT, "yml": YAML_TEXT, "json": json.dumps(JSON_DATA)}


def _write(tmp_path: Path, suffix: str) -> Path:
    path = tmp_path / f"oltp.{suffix}"
    path.write_text(FILE_TEXTS[suffix], encoding="utf-8")
    return path


@pytest.mark.parametrize("suffix", sorted(FILE_TEXTS))
def test_template_file_formats(tmp_path: Path, suffix: str) -> None:
    _write(tmp_path, suffix)
    t = build_template({"template": f"oltp.{suffix}"}, where=WHERE, search=[tmp_path])
    assert t.concurrency == 8
    assert t.duration == 30.0
    assert t.seed == 7
    assert t.weights() == {"point_lookup": 70.0, "range_scan": 20.0, "by_status": 10.0}
    params = t.queries["by_status"].params
    assert isinstance(params[0], ChoiceParam)
    assert params[0].choice == ["new", "paid"]
    assert isinstance(params[1], IntRangeParam)
    assert params[1].int_range == (1, 100)
    assert t.slo.p95 == 20_000
    assert t.slo.kinds["range_scan"].p99 == 80_000


@pytest.mark.parametrize("suffix", ["toml", "yaml", "json"])
def test_all_formats_give_the_same_template(tmp_path: Path, suffix: str) -> None:
    _write(tmp_path, suffix)
    from_file = build_template({"template": f"oltp.{suffix}"}, where=WHERE, search=[tmp_path])
    assert from_file.template_source == f"oltp.{suffix}"  # the run records it
    assert from_file.model_copy(update={"template_source": None}) == build_template(
        dict(JSON_DATA), where=WHERE, search=[])


@pytest.mark.parametrize("suffix", ["toml", "yaml", "json"])
def test_marker_keywords_override_file_fields(tmp_path: Path, suffix: str) -> None:
    _write(tmp_path, suffix)
    t = build_template({"template": f"oltp.{suffix}", "concurrency": 2, "duration": "5s",
                        "mix": {"point_lookup": 90, "by_status": 10}, "slo": {"p99": "50ms"}},
                       where=WHERE, search=[tmp_path])
    assert t.concurrency == 2
    assert t.duration == 5.0
    assert t.seed == 7  # kept from the file
    assert t.weights() == {"point_lookup": 90.0, "by_status": 10.0}  # replaced, not merged
    assert t.slo.p99 == 50_000
    assert t.slo.p95 is None
    assert t.slo.kinds == {}


def test_file_errors_name_the_file_and_the_test(tmp_path: Path) -> None:
    _write(tmp_path, "toml")
    with pytest.raises(TemplateError) as info:
        build_template({"template": "oltp.toml", "concurrency": "4"}, where=WHERE,
                       search=[tmp_path])
    text = str(info.value)
    assert text.startswith(f"{WHERE}: invalid flakebench template (template file oltp.toml):")
    assert "concurrency='4'" in text


def test_file_is_looked_up_in_search_order(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (first / "t.json").write_text(json.dumps({**JSON_DATA, "seed": 1}), encoding="utf-8")
    (second / "t.json").write_text(json.dumps({**JSON_DATA, "seed": 2}), encoding="utf-8")
    assert build_template({"template": "t.json"}, where=WHERE, search=[first, second]).seed == 1
    assert build_template({"template": "t.json"}, where=WHERE, search=[second, first]).seed == 2
    (tmp_path / "empty").mkdir()
    assert build_template({"template": "t.json"}, where=WHERE,
                          search=[tmp_path / "empty", second]).seed == 2


def test_absolute_template_path(tmp_path: Path) -> None:
    path = _write(tmp_path, "json")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert build_template({"template": str(path)}, where=WHERE, search=[elsewhere]).seed == 7


@pytest.mark.parametrize(("name", "text", "fragment"), [
    ("t.toml", "target = ", "not valid TOML"),
    ("t.json", "{not json", "not valid JSON"),
    ("t.json", "[1, 2]", "expected a table/mapping of template fields"),
    ("t.yaml", "- a\n- b\n", "expected a table/mapping of template fields"),
    ("t.yaml", "", "expected a table/mapping of template fields"),
    ("t.ini", "[x]", "unknown format '.ini'"),
    ("t.toml", None, "not found"),
], ids=repr)
def test_template_file_errors(tmp_path: Path, name: str, text: str | None,
                              fragment: str) -> None:
    if text is not None:
        (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(TemplateError) as info:
        build_template({"template": name}, where=WHERE, search=[tmp_path])
    message = str(info.value)
    assert message.startswith(f"{WHERE}: ")
    assert fragment in message
    assert name in message


def test_malformed_yaml_is_a_template_error(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text("a: [1,\n  b: : :\n", encoding="utf-8")
    with pytest.raises(TemplateError, match="not valid YAML"):
        build_template({"template": "t.yaml"}, where=WHERE, search=[tmp_path])


def test_undecodable_file_is_a_template_error(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(TemplateError, match="not UTF-8 text"):
        build_template({"template": "t.json"}, where=WHERE, search=[tmp_path])


@pytest.mark.parametrize(("ref", "fragment"), [
    (5, "template=5: expected a file path string"),
    ("store:oltp", "no results store is configured"),
])
def test_bad_template_references(ref: Any, fragment: str) -> None:
    with pytest.raises(TemplateError) as info:
        build_template({"template": ref}, where=WHERE, search=[])
    assert str(info.value).startswith(f"{WHERE}: ")
    assert fragment in str(info.value)


def test_load_template_file_reads_dict(tmp_path: Path) -> None:
    path = _write(tmp_path, "toml")
    data = load_template_file(path)
    assert data["mix"] == {"point_lookup": 70, "range_scan": 20, "by_status": 10}


def test_infinite_latency_limit_is_a_template_error() -> None:
    with pytest.raises(TemplateError):
        build(slo={"p99": float("inf")})
