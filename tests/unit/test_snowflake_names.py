"""Snowflake identifier rules: how a requested name meets the catalog's own spelling."""

from __future__ import annotations

import pytest

from pytest_flakebench.drivers.snowflake_names import normalise, pick, quote, string_literal


@pytest.mark.parametrize(("written", "catalog"), [
    ("benchdb", "BENCHDB"),          # lower: unquoted names are stored upper-case
    ("BENCHDB", "BENCHDB"),          # upper
    ("BenchDb", "BENCHDB"),          # mixed
    ('"benchdb"', "benchdb"),        # quoted: exactly as written
    ('"Bench""Db"', 'Bench"Db'),     # quoted, with an escaped quote
    ("orders_2$", "ORDERS_2$"),
])
def test_normalise(written: str, catalog: str) -> None:
    assert normalise(written) == catalog


@pytest.mark.parametrize("bad", ["", "1abc", "a b", "x;drop", '"', '""', "a.b"])
def test_normalise_refuses_what_is_not_an_identifier(bad: str) -> None:
    with pytest.raises(ValueError, match="not a Snowflake identifier"):
        normalise(bad)


def test_pick_prefers_the_normalised_spelling_then_a_unique_case_variant() -> None:
    assert pick("orders", ["ORDERS", "orders"]).name == "ORDERS"
    assert pick('"orders"', ["ORDERS", "orders"]).name == "orders"
    assert pick("orders", ["orders"]).name == "orders"          # created as "orders"
    assert pick("orders", ["Orders"]).name == "Orders"          # created as "Orders"
    assert pick('"Orders"', ["ORDERS"]).name is None            # quoted is exact
    both = pick("orders", ["Orders", "orders"])
    assert both.name is None
    assert both.ambiguous
    missing = pick("nope", ["ORDERS"])
    assert missing.name is None
    assert not missing.ambiguous


def test_table_name_benchdb_app_orders() -> None:
    """``benchdb.app.orders`` → ``BENCHDB.APP.ORDERS``, quoted verbatim in generated SQL."""
    parts = [normalise(p) for p in ["benchdb", "app", "orders"]]
    assert ".".join(quote(p) for p in parts) == '"BENCHDB"."APP"."ORDERS"'
    assert quote('we"ird') == '"we""ird"'


def test_string_literal_escapes() -> None:
    assert string_literal("BENCH_WH") == "'BENCH_WH'"
    assert string_literal("it's\\") == "'it\\'s\\\\'"
