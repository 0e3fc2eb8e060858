"""Why a run was as fast as it was: plans, server statistics, wait events and the self-check,
through real benchmarks (pytester) on PostgreSQL (the tests' own cluster, with
pg_stat_statements; the shared server, without it), SQLite files and fakesnow."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import fakesnow_sql, fakesnow_url

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

BENCH = """
import pytest

@pytest.mark.flakebench(
    target="{dsn}", table="public.{table}", key_column="id", mix={mix},
    concurrency=2, duration="{duration}", warmup="{warmup}",
)
def test_{name}(flakebench_result):
    pass
"""

# Holds an ACCESS EXCLUSIVE lock on the table for 1 s as soon as the run's load has begun:
# pg_stat_statements counts executions (connections open, and prepare, before START). Started
# from a hook, not a fixture: the plugin's own autouse fixture runs the benchmark before
# conftest fixtures.
LOCKER = """
import threading, time
import psycopg

def _hold(dsn, table):
    with psycopg.connect(dsn, autocommit=True) as conn:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            row = conn.execute("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
                               "WHERE query LIKE %s AND query NOT LIKE 'EXPLAIN%%'",
                               (f"%flakebench:point_lookup%{{table}}%",)).fetchone()
            if row[0] >= 20:
                break
            time.sleep(0.01)
        else:
            return
        with conn.transaction():
            conn.execute(f"LOCK TABLE {{table}} IN ACCESS EXCLUSIVE MODE")
            time.sleep(1.0)

def pytest_runtest_setup(item):
    threading.Thread(target=_hold, args=("{dsn}", "{table}"), daemon=True).start()
"""


def _run_json(pytester: pytest.Pytester, name: str = "out.json") -> dict[str, Any]:
    (run,) = json.loads((pytester.path / name).read_text())["runs"]
    return dict(run)


@pytest.fixture
def pgss_dsn(owned_pg: Any) -> str:
    """A database on the tests' own cluster with pg_stat_statements created."""
    import psycopg

    if not owned_pg.has_pg_stat_statements:
        pytest.skip("these server binaries do not ship pg_stat_statements")
    dsn = str(owned_pg.dsn("fb_evidence"))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    return dsn


def _make_table(dsn: str, rows: int) -> str:
    import psycopg

    name = f"fb_ev_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {name} (id bigint PRIMARY KEY, customer text NOT NULL, "
                     f"total numeric(12,2))")
        conn.execute(f"INSERT INTO {name} SELECT g, 'c' || (g % 100), g * 0.5 "
                     f"FROM generate_series(1, {rows}) g")
        conn.execute(f"ANALYZE {name}")
    return name


def _drop(dsn: str, name: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {name}")


@pytest.fixture
def pgss_table(pgss_dsn: str) -> Iterator[str]:
    name = _make_table(pgss_dsn, 30_000)
    yield name
    _drop(pgss_dsn, name)


def test_point_lookup_plan_server_calls_and_self_check(pytester: pytest.Pytester,
                                                       pgss_dsn: str, pgss_table: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Done-when: plan shape Index Scan on the pkey; server calls within 1 % of the run's ops
    (warmup included: the snapshots bracket the whole load); self-check passes; inserts ==
    tuples inserted."""
    pytester.makepyfile(BENCH.format(dsn=pgss_dsn, table=pgss_table, name="lookup",
                                     mix='{"point_lookup": 90, "insert": 10}',
                                     duration="2s", warmup="0.5s"))
    result = pytester.runpytest("--flakebench", "--flakebench-json=out.json")
    result.assert_outcomes(passed=1)
    run = _run_json(pytester)
    lookup, insert = run["kinds"]["point_lookup"], run["kinds"]["insert"]
    root = lookup["plan"]["shape"]["nodes"][0]
    assert (root["node"], root["index"], root["relation"]) == (
        "Index Scan", f"{pgss_table}_pkey", pgss_table)
    assert len(lookup["plan"]["hash"]) == 12
    assert "Index Scan using" in lookup["plan"]["text"]
    for kind in (lookup, insert):
        ops = kind["ops"] + kind["warmup_ops"]
        assert ops > 100
        assert abs(kind["server"]["calls"] - ops) <= 0.01 * ops, (kind["kind"], kind["server"])
        assert kind["server"]["mean_exec_ms"] > 0
        gap = kind["server"]["client_vs_server"]
        assert gap["client_p50_us"] == kind["p50_us"]
        assert "network, driver and harness" in gap["difference_is"]
    check = run["server"]["check"]
    assert check["ok"], check
    assert "warmup + measurement" in check["window"]
    assert run["server"]["table"]["n_tup_ins"] == insert["ops"] + insert["warmup_ops"]
    assert {i["what"] for i in check["items"]} >= {"point_lookup calls", "insert calls",
                                                   "inserts"}
    assert run["server"]["waits"]["rounds"] > 5
    assert not run["server"]["notes"]  # the extension is there: nothing to say
    out = result.stdout.str()
    assert "self-check passed" in out
    # stored with the run and shown by `flakebench show`
    monkeypatch.setenv("COLUMNS", "250")  # one table row per kind, unwrapped
    shown = pytester.run("flakebench", "show", run["run_id"][:8])
    assert shown.ret == 0
    assert f"Index Scan using {pgss_table}_pkey on" in shown.stdout.str()
    assert "self-check passed" in shown.stdout.str()


def test_dropped_index_is_regressed_naming_the_plan_change(pytester: pytest.Pytester,
                                                          pgss_dsn: str,
                                                          pgss_table: str) -> None:
    """Done-when: the index dropped between two runs: REGRESSED, and the message names
    Index Scan → Seq Scan for point_lookup (HTML: the server panel says the same)."""
    import psycopg

    pytester.makepyfile(BENCH.format(dsn=pgss_dsn, table=pgss_table, name="plan",
                                     mix='{"point_lookup": 100}', duration="3s",
                                     warmup="0.3s"))
    args = ("--flakebench", "--flakebench-compare-fail=p95:+20%")
    pytester.runpytest(*args).assert_outcomes(passed=1)
    with psycopg.connect(pgss_dsn, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {pgss_table} DROP CONSTRAINT {pgss_table}_pkey")
    second = pytester.runpytest(*args, "--flakebench-html=report.html")
    second.assert_outcomes(failed=1)
    out = second.stdout.str()
    assert "REGRESSED against last comparable run" in out
    change = (f"point_lookup plan: Index Scan using {pgss_table}_pkey on {pgss_table} → "
              f"Seq Scan on {pgss_table}")
    assert f"server: {change}" in out
    assert "point_lookup server mean exec" in out
    page = (pytester.path / "report.html").read_text()
    assert "what changed server side" in page
    assert change.replace("→", "&rarr;") in page or change in page


def test_run_behind_a_table_lock_shows_lock_waits_on_top(pytester: pytest.Pytester,
                                                         pgss_dsn: str,
                                                         pgss_table: str) -> None:
    """Done-when: a run held behind a table lock for 1 s shows Lock waits as its top event."""
    pytester.makeconftest(LOCKER.format(dsn=pgss_dsn, table=pgss_table))
    pytester.makepyfile(BENCH.format(dsn=pgss_dsn, table=pgss_table, name="locked",
                                     mix='{"point_lookup": 100}', duration="2s", warmup="0s"))
    result = pytester.runpytest("--flakebench", "--flakebench-json=out.json",
                                "--flakebench-store=none")
    result.assert_outcomes(passed=1)
    waits = _run_json(pytester)["server"]["waits"]
    assert waits["top"][0]["event"] == "Lock:relation", waits
    assert waits["kinds"]["point_lookup"]["top"][0]["event"] == "Lock:relation"
    assert waits["top"][0]["share"] > 0.5
    assert "Lock:relation" in result.stdout.str()


def test_without_pg_stat_statements_the_run_works_and_says_once_how(
        pytester: pytest.Pytester, pg_dsn: str) -> None:
    """Done-when: on a server without the extension both runs (under -n 2) work, keep their
    plans, waits and table self-check, and the session says once how to enable it."""
    import psycopg

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'"
                        ).fetchone():
            pytest.skip("the shared server has pg_stat_statements: nothing to show here")
    table = _make_table(pg_dsn, 2000)
    try:
        pytester.makepyfile(
            BENCH.format(dsn=pg_dsn, table=table, name="one", duration="1s", warmup="0.2s",
                         mix='{"point_lookup": 80, "insert": 20}')
            + BENCH.format(dsn=pg_dsn, table=table, name="two", duration="1s", warmup="0s",
                           mix='{"point_lookup": 100}').replace("import pytest", ""))
        result = pytester.runpytest("--flakebench", "-n", "2", "--flakebench-json=out.json",
                                    "--flakebench-store=none")
        result.assert_outcomes(passed=2)
    finally:
        _drop(pg_dsn, table)
    out = result.stdout.str()
    assert out.count("to enable it: shared_preload_libraries = 'pg_stat_statements'") == 1
    runs = json.loads((pytester.path / "out.json").read_text())["runs"]
    for run in runs:
        lookup = run["kinds"]["point_lookup"]
        assert lookup["plan"]["shape"]["indexes"] == [f"{table}_pkey"]
        assert lookup["server"] == {}  # no per-statement figures without the extension
        assert run["server"]["check"]["ok"]
        assert run["server"]["waits"]["rounds"] > 0
    first = next(r for r in runs if r["test"].endswith("test_one"))
    inserts = first["kinds"]["insert"]["ops"] + first["kinds"]["insert"]["warmup_ops"]
    assert first["server"]["table"]["n_tup_ins"] == inserts


def test_sqlite_plan_shape_from_explain_query_plan(pytester: pytest.Pytester) -> None:
    """Done-when: SQLite plan shape from EXPLAIN QUERY PLAN; inserts == rows added."""
    conn = sqlite3.connect(pytester.path / "demo.db")
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL)")
    conn.executemany("INSERT INTO orders VALUES (?, ?)", [(i, f"c{i}") for i in range(1, 3001)])
    conn.commit()
    conn.close()
    pytester.makepyfile(BENCH.format(dsn="sqlite:///demo.db", table="orders", name="lite",
                                     mix='{"point_lookup": 60, "range_scan": 20, "insert": 20}',
                                     duration="1s", warmup="0.2s").replace("public.", ""))
    result = pytester.runpytest("--flakebench", "--flakebench-json=out.json",
                                "--flakebench-store=none")
    result.assert_outcomes(passed=1)
    run = _run_json(pytester)
    lookup = run["kinds"]["point_lookup"]["plan"]
    assert lookup["shape"]["source"] == "EXPLAIN QUERY PLAN"
    assert lookup["shape"]["summary"] == "SEARCH using INTEGER PRIMARY KEY on orders"
    assert run["kinds"]["range_scan"]["plan"]["shape"]["nodes"][0]["node"] == "SEARCH"
    insert = run["kinds"]["insert"]
    assert run["server"]["table"]["rows_added"] == insert["ops"] + insert["warmup_ops"]
    assert run["server"]["check"]["ok"]


def test_snowflake_explain_where_the_emulator_allows(pytester: pytest.Pytester,
                                                     fakesnow_server: dict[str, object],
                                                     fakesnow_db: str) -> None:
    """fakesnow 0.12 parses neither EXPLAIN USING JSON nor QUERY_HISTORY: the run works, each
    kind records why it has no plan, the missing history is a note, and the benchmark
    sessions ran with USE_CACHED_RESULT=FALSE (recorded)."""
    fakesnow_sql(fakesnow_server, fakesnow_db,
                 "CREATE TABLE PUBLIC.ORDERS (ID INT PRIMARY KEY, CUSTOMER VARCHAR(20))",
                 "INSERT INTO PUBLIC.ORDERS SELECT SEQ4() + 1, 'c' || SEQ4() "
                 "FROM TABLE(GENERATOR(ROWCOUNT => 1000))")
    pytester.makepyfile(BENCH.format(dsn=fakesnow_url(fakesnow_server, fakesnow_db),
                                     table="orders", name="snow", mix='{"point_lookup": 100}',
                                     duration="1s", warmup="0s"))
    result = pytester.runpytest("--flakebench", "--flakebench-json=out.json",
                                "--flakebench-store=none")
    result.assert_outcomes(passed=1)
    run = _run_json(pytester)
    plan = run["kinds"]["point_lookup"]["plan"]
    if "error" in plan:  # the emulator refused EXPLAIN: say so per kind
        assert "EXPLAIN" in plan["error"] or "USING" in plan["error"]
    else:
        assert plan["shape"]["source"] == "EXPLAIN USING JSON"
    assert run["server"]["session"] == {"USE_CACHED_RESULT": False}
    assert any("QUERY_HISTORY" in n for n in run["server"]["notes"]) or run["server"]["history"]
