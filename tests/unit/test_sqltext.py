"""Table-driven tests of placeholder scanning and parameter-style conversion."""

from __future__ import annotations

import pytest

from pytest_flakebench.sqltext import (
    count_placeholders,
    substitute_table,
    to_format_style,
    to_numeric_style,
)

# (sql, placeholders, format style, numeric style)
CASES: list[tuple[str, int, str, str]] = [
    ("SELECT 1", 0, "SELECT 1", "SELECT 1"),
    ("", 0, "", ""),
    ("SELECT ?", 1, "SELECT %s", "SELECT $1"),
    ("?", 1, "%s", "$1"),
    ("SELECT ?, ?, ?", 3, "SELECT %s, %s, %s", "SELECT $1, $2, $3"),
    ("a=?AND b=?", 2, "a=%sAND b=%s", "a=$1AND b=$2"),
    # string literals, with doubled quotes
    ("SELECT '?'", 0, "SELECT '?'", "SELECT '?'"),
    ("SELECT '?', ?", 1, "SELECT '?', %s", "SELECT '?', $1"),
    ("SELECT 'it''s ?', ?", 1, "SELECT 'it''s ?', %s", "SELECT 'it''s ?', $1"),
    ("SELECT '''?''', ?", 1, "SELECT '''?''', %s", "SELECT '''?''', $1"),
    ("SELECT '', ?", 1, "SELECT '', %s", "SELECT '', $1"),
    ("SELECT '''', ?", 1, "SELECT '''', %s", "SELECT '''', $1"),
    ("SELECT 'a' 'b?', ?", 1, "SELECT 'a' 'b?', %s", "SELECT 'a' 'b?', $1"),
    ("SELECT 'unterminated ?", 0, "SELECT 'unterminated ?", "SELECT 'unterminated ?"),
    # quoted identifiers, with doubled quotes
    ('SELECT "we?ird" FROM t WHERE x = ?', 1, 'SELECT "we?ird" FROM t WHERE x = %s',
     'SELECT "we?ird" FROM t WHERE x = $1'),
    ('SELECT "a""?b", ?', 1, 'SELECT "a""?b", %s', 'SELECT "a""?b", $1'),
    ('SELECT "it\'s", ?', 1, 'SELECT "it\'s", %s', 'SELECT "it\'s", $1'),
    ("SELECT 'say \"?\"', ?", 1, "SELECT 'say \"?\"', %s", "SELECT 'say \"?\"', $1"),
    # line comments
    ("SELECT ? -- why?\n, ?", 2, "SELECT %s -- why?\n, %s", "SELECT $1 -- why?\n, $2"),
    ("SELECT ? -- don't ?", 1, "SELECT %s -- don't ?", "SELECT $1 -- don't ?"),
    ("-- ?\n?", 1, "-- ?\n%s", "-- ?\n$1"),
    ("SELECT '--', ?", 1, "SELECT '--', %s", "SELECT '--', $1"),
    ("SELECT 1 - -?", 1, "SELECT 1 - -%s", "SELECT 1 - -$1"),
    # block comments
    ("/* ? */ SELECT ?", 1, "/* ? */ SELECT %s", "/* ? */ SELECT $1"),
    ("SELECT /* it's ? */ ?", 1, "SELECT /* it's ? */ %s", "SELECT /* it's ? */ $1"),
    ("SELECT ? /* ? unterminated", 1, "SELECT %s /* ? unterminated",
     "SELECT $1 /* ? unterminated"),
    ("SELECT '/*', ?, '*/'", 1, "SELECT '/*', %s, '*/'", "SELECT '/*', $1, '*/'"),
    ("SELECT ?/**/?", 2, "SELECT %s/**/%s", "SELECT $1/**/$2"),
    # dollar-quoted bodies
    ("DO $$ BEGIN PERFORM ?; END $$; SELECT ?", 1,
     "DO $$ BEGIN PERFORM ?; END $$; SELECT %s", "DO $$ BEGIN PERFORM ?; END $$; SELECT $1"),
    ("SELECT $$it's ?$$, ?", 1, "SELECT $$it's ?$$, %s", "SELECT $$it's ?$$, $1"),
    ("SELECT $$?", 0, "SELECT $$?", "SELECT $$?"),
    ("SELECT $1, ?", 1, "SELECT $1, %s", "SELECT $1, $1"),
    # '%' is escaped for psycopg everywhere (code, literals, identifiers, comments)
    ("SELECT * FROM t WHERE a LIKE 'x%' AND b = ?", 1,
     "SELECT * FROM t WHERE a LIKE 'x%%' AND b = %s",
     "SELECT * FROM t WHERE a LIKE 'x%' AND b = $1"),
    ("SELECT b % 2 FROM t WHERE c = ?", 1, "SELECT b %% 2 FROM t WHERE c = %s",
     "SELECT b % 2 FROM t WHERE c = $1"),
    ('SELECT "100%" -- 5% off\n, ?', 1, 'SELECT "100%%" -- 5%% off\n, %s',
     'SELECT "100%" -- 5% off\n, $1'),
    ("SELECT '%s', ?", 1, "SELECT '%%s', %s", "SELECT '%s', $1"),
    ("SELECT %s", 0, "SELECT %%s", "SELECT %s"),
    ("/* 50% */ SELECT $$%$$", 0, "/* 50%% */ SELECT $$%%$$", "/* 50% */ SELECT $$%$$"),
]


@pytest.mark.parametrize(("sql", "count", "fmt", "numeric"), CASES, ids=repr)
def test_count_placeholders(sql: str, count: int, fmt: str, numeric: str) -> None:
    assert count_placeholders(sql) == count


@pytest.mark.parametrize(("sql", "count", "fmt", "numeric"), CASES, ids=repr)
def test_to_format_style(sql: str, count: int, fmt: str, numeric: str) -> None:
    out = to_format_style(sql)
    assert out == fmt
    # psycopg's own reading: every '%' is either '%%' or a '%s' placeholder
    assert out.replace("%%", "").count("%") == out.replace("%%", "").count("%s") == count


@pytest.mark.parametrize(("sql", "count", "fmt", "numeric"), CASES, ids=repr)
def test_to_numeric_style(sql: str, count: int, fmt: str, numeric: str) -> None:
    assert to_numeric_style(sql) == numeric


def test_numeric_style_numbers_in_order_across_segments() -> None:
    sql = "SELECT ?, '?', ? /* ? */, ? -- ?\n, $$?$$, ?"
    assert to_numeric_style(sql) == "SELECT $1, '?', $2 /* ? */, $3 -- ?\n, $$?$$, $4"
    assert count_placeholders(sql) == 4


@pytest.mark.parametrize(("sql", "expected"), [
    ("SELECT * FROM {table} WHERE id = ?", 'SELECT * FROM "public"."t" WHERE id = ?'),
    ("INSERT INTO {table} SELECT * FROM {table}",
     'INSERT INTO "public"."t" SELECT * FROM "public"."t"'),
    ("SELECT 1", "SELECT 1"),
])
def test_substitute_table(sql: str, expected: str) -> None:
    assert substitute_table(sql, '"public"."t"') == expected


def test_substituted_table_never_adds_placeholders() -> None:
    sql = substitute_table("SELECT * FROM {table} WHERE x = ?", '"a?b"')
    assert count_placeholders(sql) == 1
    assert to_format_style(sql) == 'SELECT * FROM "a?b" WHERE x = %s'
