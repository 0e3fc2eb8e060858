"""Property-based tests (hypothesis) of everything a user can type into a template.

Every generated input either validates or raises the project's clear error (``TemplateError``,
``ConfigError`` or the units' ``ValueError``), never another exception; what validates is within
the stated bounds, serialises without a password and validates again. Derandomized: the same
examples on every run (CI stability); about 2,400 generated templates per run, well under 15 s.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_flakebench.errors import ConfigError, TemplateError
from pytest_flakebench.template.load import build_template, load_template_file
from pytest_flakebench.template.model import BUILTIN_KINDS, SLO_METRICS, Template
from pytest_flakebench.template.types import MAX_CONNECTIONS, MAX_KEY_SPAN, MAX_QPS, MIN_QPS
from pytest_flakebench.units import (
    MAX_DURATION_S,
    MAX_LATENCY_S,
    parse_duration_s,
    parse_latency_us,
    parse_rate,
)
from pytest_flakebench.urls import redact_target, url_secrets

FAST = settings(derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# -- building blocks: the values people (and typos) put in templates ---------------------------

numbers = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 0.01, 1e-300, 1e308, 2**31, 2**63, 10**30, 4096, 4097, 86400,
                     86401, 3600.5, float("nan"), float("inf")]),
)
units = st.builds(lambda n, u: f"{n}{u}", st.one_of(st.integers(-5, 10**12), st.floats()),
                  st.sampled_from(["", "s", "ms", "us", "µs", "m", "h", "d", "%", " s", "S"]))
scalars = st.one_of(numbers, units, st.text(max_size=12), st.booleans(), st.none())
values = st.one_of(scalars, st.lists(scalars, max_size=3),
                   st.dictionaries(st.text(max_size=8), scalars, max_size=3))

# "Zq" + printable ASCII: unlike a password such as "sqlite", never a word of the help texts
passwords = st.text(alphabet=st.characters(codec="ascii", min_codepoint=33, max_codepoint=126),
                    min_size=4, max_size=16).map(lambda p: f"Zq{p}")
hosts = st.sampled_from(["127.0.0.1", "db.example.com", "[::1]", "h", "[::1", "host:port",
                         "host:99999", "host:5432", ""])
targets = st.one_of(
    st.builds(lambda s, u, p, h, q: f"{s}://{u}:{p}@{h}/db{q}",
              st.sampled_from(["postgresql", "postgres", "snowflake", "mysql", "sqlite", "PG"]),
              st.sampled_from(["bench", "u", ""]), passwords, hosts,
              st.sampled_from(["", "?sslmode=require", "?password=x", "?warehouse=W"])),
    st.sampled_from(["sqlite:///demo.db", "sqlite:////tmp/x.db", "orders_pg",
                     "127.0.0.1:5433/bench", "", " ", "host=x password=y", "a" * 3000, "postgresql://u@h/db"]),
    st.text(max_size=24),
)

mixes = st.one_of(
    st.fixed_dictionaries({"point_lookup": st.just(70), "insert": st.just(30)}),
    st.dictionaries(st.sampled_from([*BUILTIN_KINDS, "point_lokup", "q", "delete"]),
                    numbers, max_size=4),
    values,
)
slos = st.one_of(
    st.dictionaries(st.sampled_from([*SLO_METRICS, "p99x", "insert", "point_lookup"]),
                    st.one_of(scalars, st.dictionaries(st.sampled_from(SLO_METRICS), scalars,
                                                       max_size=2)), max_size=4),
    values,
)
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "target": targets,
    "table": st.one_of(st.sampled_from(["orders", "public.orders", "a.b.c", "x; drop", "1x"]),
                       st.text(max_size=20)),
    "mix": mixes,
    "mode": st.one_of(st.sampled_from(["concurrency", "qps", "find_max"]), values),
    "concurrency": numbers,
    "qps": numbers,
    "duration": st.one_of(numbers, units),
    "warmup": st.one_of(numbers, units),
    "think_time": st.one_of(units, st.lists(units, max_size=3)),
    "late_after": st.one_of(numbers, units),
    "drop_after": st.one_of(numbers, units),
    "range_size": numbers,
    "seed": numbers,
    "max_tries": numbers,
    "slo": slos,
    "keys": st.one_of(st.sampled_from(["uniform", "zipfian", "latest", "nope"]),
                      st.dictionaries(st.sampled_from(["distribution", "theta", "thetta",
                                                       "hot_data", "hot_ops"]),
                                      st.one_of(numbers, st.just("zipfian")), max_size=3)),
    "find_max": st.dictionaries(st.sampled_from(["start", "step", "ceiling", "budget",
                                                 "step_duration", "stat"]),
                                st.one_of(numbers, units), max_size=3),
    "workers": st.dictionaries(st.sampled_from(["mode", "min_workers", "max_workers",
                                                "max_connections", "max_worker"]),
                               st.one_of(numbers, st.just("fixed")), max_size=3),
    "queries": st.dictionaries(st.sampled_from(["q", "point_lookup", "bad name"]), st.one_of(
        st.fixed_dictionaries({"sql": st.sampled_from(["SELECT ?", "SELECT 1", "DELETE x"]),
                               "params": st.lists(st.one_of(
                                   st.dictionaries(st.sampled_from(
                                       ["int_range", "float_range", "choice", "literal",
                                        "weighted", "offset", "from", "sample", "key", "x"]),
                                       values, max_size=2), values), max_size=2)},
                              optional={"weight": numbers, "operation": values}),
        values), max_size=2),
    "regression": st.dictionaries(st.sampled_from(["p95", "qps", "p9"]), values, max_size=2),
    "name": st.one_of(st.text(max_size=10), st.just("x" * 500)),
    "bogus_field": values,
}

# Mostly well-formed templates with a few bad or boundary fields, so both outcomes are common.
templates = st.fixed_dictionaries(
    {"target": st.one_of(st.just("sqlite:///demo.db"), targets),
     "table": st.just("orders"), "mix": st.one_of(st.just({"point_lookup": 100}), mixes)},
    optional={k: v for k, v in FIELDS.items() if k not in ("target", "table", "mix")},
)

EXPECTED = (TemplateError,)


def _check_valid(template: Template) -> None:
    """What validates is within the stated bounds and serialises safely."""
    assert 0 < template.duration <= MAX_DURATION_S
    assert 0 <= template.warmup <= MAX_DURATION_S
    assert 1 <= template.concurrency <= MAX_CONNECTIONS
    assert 1 <= template.range_size <= MAX_KEY_SPAN
    assert template.qps is None or MIN_QPS <= template.qps <= MAX_QPS
    assert all(math.isfinite(w) for w in template.mix.values())
    for metric, limit in template.slo.limits().items():
        if metric != "kinds":
            assert math.isfinite(limit)
            if metric in ("p50", "p90", "p95", "p99", "p999", "max"):
                assert limit <= MAX_LATENCY_S * 1_000_000
    dumped = template.model_dump(mode="json")
    for secret in url_secrets(template.target):
        if len(secret) >= 4:
            assert secret not in json.dumps(dumped), secret
            assert secret not in repr(template)
    Template.model_validate(json.loads(json.dumps(dumped)))  # the stored form validates again


@settings(FAST, max_examples=1600)
@given(templates)
def test_every_template_validates_or_is_a_template_error(data: dict[str, Any]) -> None:
    try:
        template = build_template(data, where="t.py::test", search=[])
    except EXPECTED as exc:
        text = str(exc)
        assert text.startswith("t.py::test: ")
        assert len(text) < 8000  # bounded excerpts, at most 20 problems listed
        for secret in url_secrets(str(data.get("target", ""))):
            if len(secret) >= 4 and "://" in str(data.get("target", "")):
                assert secret not in text
        return
    _check_valid(template)


def _dump(data: Any, suffix: str) -> str:
    if suffix == ".json":
        return json.dumps(data, default=str)
    if suffix in (".yaml", ".yml"):
        import yaml

        return str(yaml.safe_dump(data, allow_unicode=True))
    lines = []
    for key, value in data.items() if isinstance(data, dict) else []:
        lines.append(f"{json.dumps(str(key))} = {json.dumps(value, default=str)}")
    return "\n".join(lines)


file_texts = st.one_of(
    st.builds(_dump, templates, st.sampled_from([".json", ".yaml", ".toml"])).map(
        lambda t: t),
    st.text(max_size=200),
    st.sampled_from(["a: &x [1]\nb: *x\n", "{", "[1, 2]", "target = ", "\xff", "- x\n- y",
                     "a: !!python/object:os.system {}\n", "a: " + "[" * 200 + "]" * 200]),
)


@settings(FAST, max_examples=800)
@given(file_texts, st.sampled_from([".json", ".yaml", ".yml", ".toml", ".txt"]))
def test_every_template_file_loads_or_is_a_template_error(text: str, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"t{suffix}"
        path.write_text(text, encoding="utf-8", errors="surrogatepass") if text.isprintable() \
            else path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
        try:
            data = load_template_file(path)
        except TemplateError as exc:
            message = str(exc)
            assert message.startswith(f"template file {path}: ")
            assert len(message) < 2000
            return
        assert isinstance(data, dict)
        try:
            template = build_template({"template": path.name, "target": "sqlite:///d.db",
                                       "table": "t"}, where="w", search=[Path(tmp)])
        except TemplateError:
            return
        _check_valid(template)


@settings(FAST, max_examples=600)
@given(scalars)
def test_units_parse_within_bounds_or_raise_value_error(value: Any) -> None:
    for parse, bound in ((parse_duration_s, MAX_DURATION_S),
                         (parse_latency_us, MAX_LATENCY_S * 1_000_000), (parse_rate, 1.0)):
        try:
            got = parse(value)
        except ValueError as exc:
            message = str(exc)
            assert len(message) < 400
            continue
        assert math.isfinite(got)
        assert 0 <= got <= bound


@settings(FAST, max_examples=600)
@given(targets)
def test_targets_validate_or_raise_config_error_never_showing_the_password(text: str) -> None:
    from pytest_flakebench.template.targets import check_target

    secrets = [s for s in url_secrets(text) if len(s) >= 4]
    shown = redact_target(text)
    try:
        check_target(text)
    except ConfigError as exc:
        message = str(exc)
        assert len(message) < 1000
        if "@" in text:
            for secret in secrets:
                assert secret not in message, (text, message)
    if "://" in text or "@" in text:
        for secret in secrets:
            if secret not in text.split("@")[-1]:  # not also the host or path
                assert secret not in shown, (text, shown)
