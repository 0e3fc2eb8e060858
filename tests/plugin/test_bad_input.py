"""Everything a user can get wrong is a clear error before any load, leaving nothing stored."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import pg_count
from tests.plugin.test_sqlite_benchmarks import stored_runs

TEST = """
import pytest

@pytest.mark.flakebench({kwargs})
def test_bench():
    pass

def test_ordinary():
    pass
"""


TEMPLATE_ERRORS = [
    pytest.param('mix={"point_lookup": 60, "insert": 10}',
                 ["*mix weights must sum to 100, they sum to 70*"], id="weights-not-100"),
    pytest.param('mix={"point_lookup": 90, "delete": 10}',
                 ["*unknown kind(s) in mix: 'delete'*built-in kinds are*"], id="unknown-kind"),
    pytest.param('table="x; drop table y", mix={"point_lookup": 100}',
                 ["*table: *'x; drop table y'*not a plain SQL identifier*"], id="table-injection"),
    pytest.param('mix={"point_lookup": 100}, duration="fast"',
                 ["*duration: expected a duration such as '30s'*got 'fast'*"], id="bad-duration"),
    pytest.param('mix={"point_lookup": 100}, concurency=4',
                 ["*concurency: unknown field*did you mean 'concurrency'?*"], id="typo-field"),
    pytest.param('mix={"point_lookup": 100}, slo={"p95": "quick"}',
                 ["*slo.p95: expected a latency*got 'quick'*"], id="bad-slo"),
    pytest.param('mix={"q": 100}, queries={"q": {"sql": "SELECT * FROM {table} WHERE id = ?"}}',
                 ["*1 '?' placeholder(s) but 0 param*"], id="placeholder-count"),
]


@pytest.mark.parametrize(("kwargs", "expected"), TEMPLATE_ERRORS)
def test_bad_template_errors_that_test_only(pytester: pytest.Pytester, kwargs: str,
                                            expected: list[str]) -> None:
    base = 'target="sqlite:///demo.db", table="orders", '
    full = kwargs if kwargs.startswith("table=") else base + kwargs
    if kwargs.startswith("table="):
        full = 'target="sqlite:///demo.db", ' + kwargs
    pytester.makepyfile(TEST.format(kwargs=full))
    result = pytester.runpytest("--flakebench")
    result.assert_outcomes(passed=1, errors=1)  # the ordinary test of the same file runs
    result.stdout.fnmatch_lines(["*ERROR at setup of test_bench*",
                                 "*test_bench*invalid flakebench template*", *expected])
    assert stored_runs(pytester.path) == 0


def test_unknown_named_target_errors_that_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TEST.format(kwargs='target="orders_pg", table="orders", '
                                           'mix={"point_lookup": 100}'))
    result = pytester.runpytest("--flakebench")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*target 'orders_pg' is neither a URL nor a named target*"
                                 "tool.flakebench.targets.orders_pg*"])


@pytest.fixture
def sqlite_demo(pytester: pytest.Pytester) -> Path:
    path = pytester.path / "demo.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL)")
    conn.executemany("INSERT INTO orders VALUES (?, ?)", [(i, "c") for i in range(1, 101)])
    conn.commit()
    conn.close()
    return path


PG_TARGET_ERRORS = [
    pytest.param('table="public.no_such_table", mix={{"point_lookup": 100}}',
                 ["*no_such_table*not found*"], id="unknown-table"),
    pytest.param('table="public.{table}", key_column="nope", mix={{"point_lookup": 100}}',
                 ["*key_column 'nope' is not a column of*"], id="unknown-key-column"),
    pytest.param('table="public.{table}", mix={{"insert": 50, "q": 50}}, queries={{"q": '
                 '{{"sql": "SELECT no_such_col FROM {{table}} WHERE id = ?", '
                 '"params": [{{"key": True}}]}}}}',
                 ["*no_such_col*does not exist*"], id="unknown-column"),
    pytest.param('table="public.{table}", mix={{"insert": 50, "q": 50}}, queries={{"q": '
                 '{{"sql": "SELEC * FROM {{table}}"}}}}',
                 ["*q:*syntax error*"], id="sql-does-not-parse"),
]


@pytest.mark.postgres
@pytest.mark.parametrize(("kwargs", "expected"), PG_TARGET_ERRORS)
def test_bad_target_errors_before_load(pytester: pytest.Pytester, pg_dsn: str, pg_orders: str,
                                       kwargs: str, expected: list[str]) -> None:
    before = pg_count(pg_dsn, pg_orders)
    full = f'target="{pg_dsn}", ' + kwargs.format(table=pg_orders)
    pytester.makepyfile(TEST.format(kwargs=full))
    result = pytester.runpytest("--flakebench")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(expected)
    assert pg_count(pg_dsn, pg_orders) == before  # no insert was sent
    assert stored_runs(pytester.path) == 0


def test_unreachable_target_names_it_without_password(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TEST.format(
        kwargs='target="postgresql://bench:s3cret-pw@127.0.0.1:1/nodb", table="orders", '
               'mix={"point_lookup": 100}'))
    result = pytester.runpytest("--flakebench")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*127.0.0.1:1*"])
    assert "s3cret-pw" not in result.stdout.str()
    assert "s3cret-pw" not in result.stderr.str()
    assert stored_runs(pytester.path) == 0


def test_missing_sqlite_target_file(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TEST.format(kwargs='target="sqlite:///missing.db", table="orders", '
                                           'mix={"point_lookup": 100}'))
    result = pytester.runpytest("--flakebench")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*missing.db*"])
    assert not (pytester.path / "missing.db").exists()


def test_uninitialised_postgres_store_is_an_error_before_load(
        pytester: pytest.Pytester, sqlite_demo: Path, pg_empty_store: str) -> None:
    pytester.makepyfile(TEST.format(kwargs='target="sqlite:///demo.db", table="orders", '
                                           'mix={"insert": 100}'))
    result = pytester.runpytest("--flakebench", f"--flakebench-store={pg_empty_store}")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*not initialised*flakebench store init*"])
    conn2 = sqlite3.connect(sqlite_demo)
    assert conn2.execute("SELECT count(*) FROM orders").fetchone()[0] == 100
    conn2.close()
