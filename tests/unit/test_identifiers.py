"""Table-driven tests of table-name parsing and identifier quoting."""

from __future__ import annotations

import pytest

from pytest_flakebench.excerpt import excerpt
from pytest_flakebench.identifiers import TableName, check_identifier, quote_ident

VALID: list[tuple[str, str, str | None, str | None, str]] = [
    # text, name, schema, database, quoted
    ("orders", "orders", None, None, '"orders"'),
    ("public.orders", "orders", "public", None, '"public"."orders"'),
    ("db.public.orders", "orders", "public", "db", '"db"."public"."orders"'),
    ("Orders", "Orders", None, None, '"Orders"'),
    ("_t", "_t", None, None, '"_t"'),
    ("t1", "t1", None, None, '"t1"'),
    ("a$b", "a$b", None, None, '"a$b"'),
    ("S_1.T$2", "T$2", "S_1", None, '"S_1"."T$2"'),
    ("x" * 128, "x" * 128, None, None, '"' + "x" * 128 + '"'),
]


@pytest.mark.parametrize(("text", "name", "schema", "database", "quoted"), VALID, ids=repr)
def test_parse_valid(text: str, name: str, schema: str | None, database: str | None,
                     quoted: str) -> None:
    table = TableName.parse(text)
    assert (table.name, table.schema, table.database) == (name, schema, database)
    assert table.quoted() == quoted
    assert str(table) == text
    assert table.parts() == tuple(text.split("."))
    assert TableName.parse(str(table)) == table


PART_COUNT_BAD = ["a.b.c.d", "a.b.c.d.e"]

IDENT_BAD = [
    "",
    ".",
    "..",
    "a.",
    ".a",
    "a..b",
    "1orders",
    "public.1orders",
    "9.orders",
    "x; drop table y",
    "orders;",
    "orders; drop table users --",
    "orders--",
    "orders/*",
    "orders*/",
    'orders"',
    '"orders"',
    'public."orders"',
    'a"b',
    "ta'ble",
    "'orders'",
    "a b",
    " orders",
    "orders ",
    "a\tb",
    "a-b",
    "a+b",
    "a(b)",
    "a,b",
    "a%b",
    "a?b",
    "a{table}",
    "ördres",
    "x" * 129,
    "$orders",
]


@pytest.mark.parametrize("text", PART_COUNT_BAD)
def test_parse_too_many_parts(text: str) -> None:
    with pytest.raises(ValueError, match=r"'database\.schema\.table'") as info:
        TableName.parse(text)
    assert excerpt(text) in str(info.value)  # named, never more than a bounded excerpt


@pytest.mark.parametrize("text", IDENT_BAD, ids=repr)
def test_parse_rejects_non_identifiers(text: str) -> None:
    with pytest.raises(ValueError, match="not a plain SQL identifier") as info:
        TableName.parse(text)
    assert excerpt(text) in str(info.value)  # named, never more than a bounded excerpt


@pytest.mark.parametrize("text", [
    pytest.param("orders\n"),
    pytest.param("public.orders\n"),
    pytest.param("db.public.orders\n"),
    pytest.param("orders\n.t"),
    "\norders",
    "ord\ners",
], ids=repr)
def test_parse_rejects_newlines(text: str) -> None:
    with pytest.raises(ValueError):
        TableName.parse(text)


def test_check_identifier_rejects_trailing_newline() -> None:
    with pytest.raises(ValueError):
        check_identifier("orders\n")


@pytest.mark.parametrize("text", ["id", "order_id", "_x", "c$1"])
def test_check_identifier_valid(text: str) -> None:
    assert check_identifier(text) == text
    assert quote_ident(text) == f'"{text}"'


@pytest.mark.parametrize("text", ["", "1id", "a b", 'a"b', "id;", "x; drop table y"], ids=repr)
def test_check_identifier_invalid(text: str) -> None:
    with pytest.raises(ValueError, match="key_column") as info:
        check_identifier(text, what="key_column")
    assert repr(text) in str(info.value)
    with pytest.raises(ValueError):
        quote_ident(text)


def test_table_name_is_frozen_and_hashable() -> None:
    a = TableName.parse("public.orders")
    b = TableName(name="orders", schema="public")
    assert a == b
    assert hash(a) == hash(b)
    with pytest.raises(AttributeError):
        a.name = "other"  # type: ignore[misc]
