"""Issue 12/16 input checks: did-you-mean everywhere, excerpts, URL redaction, pushed templates."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_flakebench.errors import ConfigError, TemplateError
from pytest_flakebench.excerpt import excerpt
from pytest_flakebench.template.load import build_template, check_template_fields
from pytest_flakebench.template.targets import ResolvedTarget, check_target
from pytest_flakebench.urls import redact_target, redact_url, url_secrets

BASE: dict[str, Any] = {"target": "sqlite:///demo.db", "table": "orders",
                        "mix": {"point_lookup": 100}}


def error_of(**fields: Any) -> str:
    with pytest.raises(TemplateError) as info:
        build_template({**BASE, **fields}, where="t.py::test", search=[])
    return str(info.value)


@pytest.mark.parametrize(("fields", "expected"), [
    ({"mix": {"point_lokup": 100}}, "'point_lokup' (did you mean 'point_lookup'?)"),
    ({"keys": {"distribution": "zipfian", "thetta": 0.9}},
     "keys.thetta: unknown field (value 0.9): did you mean 'theta'?"),
    ({"slo": {"p99x": "5ms"}}, "unknown SLO metric 'p99x': did you mean 'p99'?"),
    ({"slo": {"point_lokup": {"p99": "5ms"}}},
     "slo has limits for kind 'point_lokup' (did you mean 'point_lookup'?)"),
    ({"slo": {"point_lookup": {"p99x": "5ms"}}},
     "slo.kinds.point_lookup.p99x: unknown field (value '5ms'): did you mean 'p99'?"),
    ({"workers": {"max_worker": 2}}, "workers.max_worker: unknown field (value 2): did you "
                                     "mean 'max_workers'?"),
    ({"mode": "find_max", "find_max": {"stat": 2}}, "find_max.stat: unknown field (value 2): "
                                                    "did you mean 'start'?"),
    ({"mix": {"q": 100}, "queries": {"q": {"sql": "SELECT 1", "wieght": 1}}},
     "queries.q.wieght: unknown field (value 1): did you mean 'weight'?"),
    ({"mix": {"q": 100}, "queries": {"q": {"sql": "SELECT ?", "params": [
        {"sample": "c", "szie": 9}]}}},
     "queries.q.params.0.sample.szie: unknown field (value 9): did you mean 'size'?"),
    ({"concurency": 4}, "concurency: unknown field (value 4): did you mean 'concurrency'?"),
    ({"mode": "qsp"}, "mode='qsp': expected one of 'concurrency', 'qps', 'find_max' (did you "
                      "mean 'qps'?)"),
    ({"keys": "zipfan"}, "keys.distribution='zipfan': expected one of 'uniform', 'zipfian', "
                         "'hotspot', 'latest', 'sequential' (did you mean 'zipfian'?)"),
])
def test_did_you_mean_everywhere_a_name_can_be_mistyped(fields: dict[str, Any],
                                                        expected: str) -> None:
    assert expected in error_of(**fields)


def test_an_unrelated_nested_key_lists_the_known_ones() -> None:
    text = error_of(keys={"distribution": "uniform", "xyzzy": 1})
    assert "keys.xyzzy: unknown field (value 1): remove it (known: distribution, hot_data, " \
           "hot_ops, theta)" in text


def test_errors_show_bounded_excerpts_of_huge_values() -> None:
    text = error_of(duration="9" * 100_000, table="t" * 100_000, slo={"p95": ["x"] * 10_000})
    assert len(text) < 2000
    assert "..." in text


def test_excerpt_is_bounded_and_keeps_dict_order() -> None:
    assert excerpt({"b": 1, "a": 2}) == "{'b': 1, 'a': 2}"
    assert len(excerpt("x" * 10**6)) <= 80
    assert len(excerpt(10**5000)) <= 80  # beyond int's str limit: still named
    assert excerpt([list(range(100))] * 100).count("...") >= 1


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://bench:s3cret@db:5432/x", "postgresql://bench:***@db:5432/x"),
    ("postgresql://bench:s3/cr?et@db/x", "postgresql://bench:***@db/x"),
    ("postgresql://bench:s3cret@[::1/x", "postgresql://bench:***@[::1/x"),
    ("postgresql://db/x?sslmode=require&password=s3cret", "postgresql://db/x?sslmode=require&"
                                                           "password=***"),
    ("snowflake://me@corp.com:s3cret@acct/db/s?warehouse=W&token=t0k",
     "snowflake://me@corp.com:***@acct/db/s?warehouse=W&token=***"),
    ("://:s3cret@", "://:***@"),
    ("sqlite:///a.db?mode=ro", "sqlite:///a.db"),
])
def test_redact_url_also_redacts_malformed_urls(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert any(s in url for s in url_secrets(url)) or "s3cret" not in url


def test_scheme_less_targets_are_redacted_and_explained() -> None:
    assert redact_target("bench:s3cret@127.0.0.1:5433/x") == "bench:***@127.0.0.1:5433/x"
    assert redact_target("host=h password='a b' port=1") == "host=h password=*** port=1"
    with pytest.raises(ConfigError) as info:
        check_target("bench:s3cret@127.0.0.1:5433/bench")
    text = str(info.value)
    assert "s3cret" not in text
    assert "a URL needs a scheme, e.g. 'postgresql://bench:***@127.0.0.1:5433/bench'" in text
    assert "named target" in text


@pytest.mark.parametrize("url", ["postgresql://u:s3cret@h:99999/db", "postgresql://u:s3cret@[h/db",
                                 "sqlite://u:s3cret@h/db", "mysql://u:s3cret@h/db"])
def test_bad_urls_are_config_errors_without_the_password(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_target(url)
    assert "s3cret" not in str(info.value)


def test_resolved_target_repr_redacts() -> None:
    target = ResolvedTarget(url="postgresql://u:s3cret@h/db", stored_password="other")
    assert "s3cret" not in repr(target) + str(target)
    assert "other" not in repr(target)


def test_pushed_template_gets_the_whole_template_checks_without_target_and_table() -> None:
    with pytest.raises(TemplateError, match="mix weights must sum to 100, they sum to 50"):
        check_template_fields({"mix": {"point_lookup": 50}}, where="f.toml")
    check_template_fields({"mix": {"point_lookup": 100}}, where="f.toml")  # target/table: marker
    check_template_fields({"concurrency": 8}, where="f.toml")  # the mix too


def test_pushed_template_with_a_password_in_its_target_is_refused() -> None:
    with pytest.raises(TemplateError) as info:
        check_template_fields({"target": "postgresql://u:s3cret@h/db", "table": "t",
                               "mix": {"insert": 100}}, where="f.toml")
    assert "s3cret" not in str(info.value)
    assert "holds a password" in str(info.value)
    assert "flakebench connections add" in str(info.value)


def test_a_bad_ini_target_line_is_shown_redacted(tmp_path: Any) -> None:
    from pytest_flakebench.template.targets import resolve_target

    with pytest.raises(ConfigError) as info:
        resolve_target("orders", rootdir=tmp_path,
                       ini_lines=["orders postgresql://u:s3cret@h/db"])
    assert "s3cret" not in str(info.value)
    assert "expected NAME = URL" in str(info.value)
