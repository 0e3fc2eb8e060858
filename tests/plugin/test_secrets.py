"""Issue 12: a password written inside a target URL is used for the run and shown nowhere.

Not in any stored row of any store (SQLite, PostgreSQL, Snowflake on fakesnow: every table, every
byte of the SQLite files), not in the output with DEBUG logging and ``--tb=long`` (a plugin crash
prints the frames' arguments), not in the JSON, JUnit or HTML report, nor in a spool file.
Workers get the URL from the marker they collected themselves, never from stored JSON.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import fakesnow_sql, fakesnow_url

pytestmark = [pytest.mark.postgres,
              pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")]

BENCH = """
import pytest

@pytest.mark.flakebench(target="{url}", table="public.{table}",
                        mix={{"point_lookup": 80, "insert": 20}}, concurrency=2,
                        duration="1s", warmup="0s")
def test_with_password(flakebench_result):
    assert flakebench_result.overall.ops > 0
"""

CRASH = """
import pytest

@pytest.mark.flakebench(target="{url}", table="public.{table}",
                        mix={{"point_lookup": 100}}, duration="1s", warmup="0s")
def test_plugin_crash():
    pass

@pytest.mark.flakebench(target="{malformed}", table="public.{table}",
                        mix={{"point_lookup": 100}}, duration="1s", warmup="0s")
def test_malformed_url():
    pass
"""

# A crash inside the plugin after the target is resolved: --tb=long prints every frame's
# arguments (a ResolvedTarget, the Template), which must show the password as ***.
CRASH_CONFTEST = """
import pytest_flakebench.distributed.worker as worker

def _crash(*args, **kwargs):
    raise RuntimeError("simulated plugin crash")

worker.prepare = _crash
"""


# Each process (controller, xdist workers) notes whether the URL its driver opens carries the
# real password or a redacted one: the server here trusts 127.0.0.1, so it would accept either.
SEEN_CONFTEST = """
import os
import pytest_flakebench.distributed.prepare as benchmark

_open = benchmark.open_driver

def _noting(url, **kwargs):
    with open(f"driver-url-{os.getpid()}.seen", "a") as f:
        f.write(("REDACTED" if "***" in url else "FULL") + "\\n")
    return _open(url, **kwargs)

benchmark.open_driver = _noting
"""


def _with_password(dsn: str, password: str) -> str:
    scheme, rest = dsn.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user.split(':', 1)[0]}:{password}@{host}"


@pytest.fixture
def password() -> str:
    # letters and digits only: percent-encoding would hide an encoded leak from a plain search
    return f"pw{secrets.token_hex(12)}"


@pytest.fixture
def small_table(pg_table: Callable[[str], str], pg_dsn: str) -> str:
    import psycopg

    name = pg_table("id bigint PRIMARY KEY, customer text NOT NULL")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"INSERT INTO {name} SELECT g, 'c' || g FROM generate_series(1, 2000) g")
    return name


def _assert_absent_from_files(root: Path, password: str) -> list[str]:
    """Every file under ``root`` (store, WAL, JSON, JUnit, HTML, spool, logs), byte by byte."""
    seen = []
    for path in root.rglob("*"):
        # the test's own source holds the password: it is what the user wrote
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".py":
            assert password.encode() not in path.read_bytes(), path
            seen.append(path.name)
    return seen


def _assert_absent_from_postgres(url: str, password: str) -> int:
    import psycopg

    rows = 0
    with psycopg.connect(url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE "
            "table_schema NOT IN ('pg_catalog', 'information_schema') "
            "AND table_type = 'BASE TABLE'").fetchall()
        assert tables
        for schema, table in tables:
            for (text,) in conn.execute(f'SELECT t::text FROM "{schema}"."{table}" t'):
                assert password not in text, f"{schema}.{table}"
                rows += 1
    return rows


def _assert_absent_from_snowflake(server: dict[str, object], database: str,
                                  password: str) -> int:
    tables = fakesnow_sql(server, database,
                          "SELECT table_schema, table_name FROM information_schema.tables "
                          "WHERE table_schema = 'RESULTS'")
    assert tables
    rows = 0
    for schema, table in tables:
        for row in fakesnow_sql(server, database, f'SELECT * FROM "{schema}"."{table}"'):
            assert password not in repr(row), f"{schema}.{table}"
            rows += 1
    return rows


def _run(pytester: pytest.Pytester, store: str, args: list[str]) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "--flakebench", f"--flakebench-store={store}", "--flakebench-json=out.json",
        "--junitxml=junit.xml", "--flakebench-html=report.html", "-rA", "-v", "--tb=long",
        "-o", "log_cli=true", "--log-cli-level=DEBUG", "-o", "log_file=debug.log",
        "-o", "log_file_level=DEBUG", *args)


def _check_run(pytester: pytest.Pytester, result: pytest.RunResult, password: str) -> None:
    result.assert_outcomes(passed=1)
    (run,) = json.loads((pytester.path / "out.json").read_text())["runs"]
    assert run["verdict"] == "PASSED"  # the password was accepted for the run
    assert ":***@" in run["template"]["target"]
    assert password not in result.stdout.str() + result.stderr.str()
    names = _assert_absent_from_files(pytester.path, password)
    assert {"out.json", "junit.xml", "report.html", "debug.log"} <= set(names)


def test_password_in_target_url_reaches_no_sqlite_store_file_or_output(
        pytester: pytest.Pytester, pg_dsn: str, small_table: str, password: str) -> None:
    pytester.makepyfile(BENCH.format(url=_with_password(pg_dsn, password), table=small_table))
    pytester.makeconftest(SEEN_CONFTEST)
    store = pytester.path / "results.db"
    result = _run(pytester, f"sqlite:///{store}", ["-n", "2"])
    _check_run(pytester, result, password)
    # both workers connected with the URL as written (their own marker), not a stored copy
    seen = {p.name: p.read_text().split() for p in pytester.path.glob("driver-url-*.seen")}
    assert len(seen) >= 2, seen
    assert all(set(v) == {"FULL"} for v in seen.values()), seen
    conn = sqlite3.connect(store)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert {"RUN_STATUS", "WORKER_HEARTBEATS", "TEST_RESULTS"} <= set(tables)
        scenario, = conn.execute("SELECT SCENARIO_CONFIG FROM RUN_STATUS").fetchone()
        assert json.loads(scenario)["target"].endswith(pg_dsn.split("@", 1)[1])
    finally:
        conn.close()


def test_password_in_target_url_reaches_no_postgres_store_row(
        pytester: pytest.Pytester, pg_dsn: str, small_table: str, pg_store: str,
        password: str) -> None:
    pytester.makepyfile(BENCH.format(url=_with_password(pg_dsn, password), table=small_table))
    result = _run(pytester, pg_store, ["-n", "2"])
    _check_run(pytester, result, password)
    assert _assert_absent_from_postgres(pg_store, password) > 0


def test_password_in_target_url_reaches_no_snowflake_store_row(
        pytester: pytest.Pytester, pg_dsn: str, small_table: str, password: str,
        fakesnow_server: dict[str, object], fakesnow_db: str) -> None:
    from pytest_flakebench.cli.main import main

    store = fakesnow_url(fakesnow_server, fakesnow_db, "RESULTS")
    assert main(["store", "init", store, "--no-hybrid"]) == 0
    pytester.makepyfile(BENCH.format(url=_with_password(pg_dsn, password), table=small_table))
    result = _run(pytester, store, [])
    _check_run(pytester, result, password)
    assert _assert_absent_from_snowflake(fakesnow_server, fakesnow_db, password) > 0


def test_password_absent_from_a_plugin_crash_and_a_malformed_url(
        pytester: pytest.Pytester, pg_dsn: str, small_table: str, password: str) -> None:
    host = pg_dsn.split("@", 1)[1]
    pytester.makepyfile(CRASH.format(url=_with_password(pg_dsn, password), table=small_table,
                                     malformed=f"postgresql://postgres:{password}@[{host}"))
    pytester.makeconftest(CRASH_CONFTEST)
    result = _run(pytester, "sqlite:///results.db", [])
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) + outcomes.get("errors", outcomes.get("error", 0)) == 2
    text = result.stdout.str() + result.stderr.str()
    assert "simulated plugin crash" in text
    assert "ResolvedTarget(url='postgresql://postgres:***@" in text  # --tb=long: the frames' args
    assert "is not a valid URL" in text
    assert password not in text
    _assert_absent_from_files(pytester.path, password)


def test_spooled_run_holds_no_password(tmp_path: Path, password: str) -> None:
    """A spool file is ``RunResult.to_dict()``: the template in it is serialised redacted."""
    from pytest_flakebench.template.load import build_template

    template = build_template({"target": f"postgresql://bench:{password}@db:5432/x",
                               "table": "t", "mix": {"insert": 100}}, where="w", search=[])
    assert template.target.endswith("@db:5432/x")  # the run itself gets the password
    dumped = json.dumps(template.model_dump(mode="json")) + repr(template) + str(template)
    assert password not in dumped
    assert "bench:***@db:5432/x" in dumped


@pytest.mark.parametrize("shape", ["postgresql://bench:{pw}@[127.0.0.1/db",
                                   "postgresql://bench:{pw} x@127.0.0.1:1/db",
                                   "postgresql://bench:{pw}/x@127.0.0.1:1/db"])
def test_libpq_echo_of_a_malformed_url_is_scrubbed(password: str, shape: str) -> None:
    """Past the template's own check (e.g. a stored connection), libpq echoes a URL it cannot
    parse, password included: the driver's error shows it as ***."""
    from pytest_flakebench.drivers.postgres import PostgresDriver
    from pytest_flakebench.errors import TargetError

    with pytest.raises(TargetError) as info:
        PostgresDriver(shape.format(pw=password))
    assert password not in str(info.value)
    assert "cannot connect to postgresql://bench:***@" in str(info.value)
