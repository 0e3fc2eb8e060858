"""Realistic workloads against PostgreSQL: parameter strategies, retries, think time."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

pytestmark = pytest.mark.postgres


def run_one(pytester: pytest.Pytester, marker: str, *args: str) -> tuple[pytest.RunResult, dict]:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.flakebench({marker})
        def test_w(flakebench_result):
            pass
        """
    )
    result = pytester.runpytest("--flakebench", "--flakebench-json=out.json",
                                "--flakebench-store=none", *args)
    runs = json.loads((pytester.path / "out.json").read_text())["runs"]
    return result, runs[0] if runs else {}


def test_sample_weighted_and_offset_parameters(pytester: pytest.Pytester, pg_dsn: str,
                                               pg_orders: str) -> None:
    marker = f"""target="{pg_dsn}", table="public.{pg_orders}", concurrency=2, duration="1s",
        warmup="0s", mix={{"by_customer": 50, "window": 50}},
        queries={{
            "by_customer": {{"sql": "SELECT count(*) FROM {{table}} WHERE customer = ?",
                             "params": [{{"sample": "customer", "size": 50}}]}},
            "window": {{"sql": "SELECT count(*) FROM {{table}} WHERE id BETWEEN ? AND ? "
                                "AND customer <> ?",
                        "params": [{{"int_range": [1, 90000]}}, {{"offset": [10, 100], "from": 0}},
                                   {{"weighted": {{"c1": 9, "c2": 1}}}}]}},
        }}"""
    result, run = run_one(pytester, marker)
    result.assert_outcomes(passed=1)
    assert run["kinds"]["by_customer"]["errors"] == 0
    assert run["kinds"]["window"]["errors"] == 0
    assert run["kinds"]["by_customer"]["ops"] > 0


def test_a_read_query_that_writes_is_refused(pytester: pytest.Pytester, pg_dsn: str,
                                             pg_orders: str) -> None:
    marker = f"""target="{pg_dsn}", table="public.{pg_orders}", mix={{"purge": 100}},
        queries={{"purge": {{"sql": "DELETE FROM {{table}} WHERE id = ?",
                             "params": [{{"key": True}}]}}}}"""
    result, _ = run_one(pytester, marker)
    result.assert_outcomes(errors=1)  # at setup of that test, before any load
    result.stdout.fnmatch_lines(["*ERROR at setup*", "*the SQL writes but operation is 'read'*"])


@pytest.fixture
def flaky_function(pg_dsn: str) -> Iterator[str]:
    """``fb_flaky(p)``: raises a serialization failure (40001) with probability p."""
    import uuid

    import psycopg

    name = f"fb_flaky_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            f"CREATE FUNCTION {name}(p float) RETURNS int AS $$ BEGIN IF random() < p THEN "
            f"RAISE EXCEPTION 'flaky' USING ERRCODE = '40001'; END IF; RETURN 1; END $$ "
            f"LANGUAGE plpgsql"
        )
        try:
            yield name
        finally:
            conn.execute(f"DROP FUNCTION IF EXISTS {name}(float)")


@pytest.mark.parametrize(("max_tries", "mode"), [(1, "concurrency"), (6, "concurrency"),
                                                 (1, "qps"), (6, "qps")])
def test_serialization_failures_are_retried_and_counted(
        pytester: pytest.Pytester, pg_dsn: str, pg_orders: str, flaky_function: str,
        max_tries: int, mode: str) -> None:
    # one loop body for both modes: qps mode retries exactly as the closed loop does
    # The failures are the point here, so the test allows them: a run with errors and no
    # error_rate SLO fails (issue 9), as an error fails a test.
    pacing = ('mode="qps", qps=400, slo={"max_late": "100%", "error_rate": "50%"}'
              if mode == "qps" else 'slo={"error_rate": "50%"}')
    marker = f"""target="{pg_dsn}", table="public.{pg_orders}", mix={{"flaky": 100}},
        queries={{"flaky": {{"sql": "SELECT {flaky_function}(0.3)"}}}}, concurrency=2,
        duration="1s", warmup="0s", max_tries={max_tries}, {pacing}"""
    result, run = run_one(pytester, marker)
    result.assert_outcomes(passed=1)
    flaky = run["kinds"]["flaky"]
    attempts = flaky["ops"] + flaky["errors"]
    assert attempts > 200
    if max_tries == 1:
        assert flaky["retries"] == 0
        assert 0.2 < flaky["errors"] / attempts < 0.4
        assert flaky["error_classes"] == {"40001": flaky["errors"]}
    else:
        assert flaky["retries"] > 0.2 * attempts  # most failures succeeded on another try
        assert flaky["errors"] / attempts < 0.01  # 0.3^6 = 0.07 %


def test_think_time_range_paces_a_closed_loop(pytester: pytest.Pytester, pg_dsn: str,
                                              pg_orders: str) -> None:
    marker = f"""target="{pg_dsn}", table="public.{pg_orders}", mix={{"point_lookup": 100}},
        concurrency=1, duration="1s", warmup="0s", think_time=["5ms", "10ms"]"""
    result, run = run_one(pytester, marker)
    result.assert_outcomes(passed=1)
    assert 70 < run["overall"]["ops"] < 200  # ~1 / 7.5 ms, never the thousands of no pause


@pytest.mark.parametrize("dist", ["zipfian", "hotspot", "latest", "sequential"])
def test_every_key_distribution_runs(pytester: pytest.Pytester, pg_dsn: str, pg_orders: str,
                                     dist: str) -> None:
    marker = f"""target="{pg_dsn}", table="public.{pg_orders}",
        mix={{"point_lookup": 60, "update": 20, "insert": 20}}, keys="{dist}",
        concurrency=2, duration="0.5s", warmup="0s" """
    result, run = run_one(pytester, marker)
    result.assert_outcomes(passed=1)
    assert run["overall"]["errors"] == 0
    assert run["template"]["keys"]["distribution"] == dist


def test_python_operations_run_with_the_same_engine(pytester: pytest.Pytester, pg_dsn: str,
                                                     pg_orders: str) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.flakebench(target="{pg_dsn}", table="public.{pg_orders}",
                                mix={{"checkout": 30, "browse": 50, "point_lookup": 20}},
                                python={{"checkout": "write", "browse": "read"}},
                                concurrency=2, duration="1s", warmup="0s",
                                slo={{"checkout": {{"p99": "5s"}}}})
        def test_shop(flakebench):
            @flakebench.operation("browse")
            def browse(conn, params):
                with conn.cursor() as cur:
                    cur.execute("SELECT * FROM {pg_orders} WHERE id = %s", (params.key(),))
                    cur.fetchall()

            @flakebench.operation("checkout")
            def checkout(conn, params):
                with conn.transaction():
                    conn.execute("INSERT INTO {pg_orders} (id, customer, total) "
                                 "VALUES (%s, 'py', 1)", (params.new_key(),))
                    conn.execute("SELECT count(*) FROM {pg_orders} WHERE customer = 'py'")

            result = flakebench.run()
            assert result.kinds["checkout"].operation == "write"
            assert result.kinds["browse"].ops > 0
            assert result.kinds["checkout"].errors == 0

        @pytest.mark.flakebench(target="{pg_dsn}", table="public.{pg_orders}",
                                mix={{"noop": 100}}, python={{"noop": "read"}}, duration="0.2s")
        def test_forgot_run(flakebench):
            flakebench.operation("noop")(lambda conn, params: None)
        """
    )
    result = pytester.runpytest("--flakebench", "--flakebench-json=out.json",
                                "--flakebench-store=none")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*never called flakebench.run()*"])
    (run,) = json.loads((pytester.path / "out.json").read_text())["runs"]
    inserted = run["kinds"]["checkout"]["ops"] + run["kinds"]["checkout"]["warmup_ops"]
    from tests.conftest import pg_count

    assert pg_count(pg_dsn, f"{pg_orders} WHERE customer = 'py'") == inserted


def test_text_keys_come_from_a_cached_value_pool(pytester: pytest.Pytester, pg_dsn: str) -> None:
    import sqlite3
    import uuid

    import psycopg

    table = f"fb_codes_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (code text PRIMARY KEY, qty int NOT NULL)")
        conn.execute(f"INSERT INTO {table} SELECT 'sku-' || g, g FROM generate_series(1, 5000) g")
    try:
        marker = f"""target="{pg_dsn}", table="public.{table}",
            mix={{"point_lookup": 80, "update": 20}}, keys="zipfian", concurrency=2,
            duration="0.5s", warmup="0s" """
        pytester.makepyfile(
            f"""
            import pytest

            @pytest.mark.flakebench({marker})
            def test_codes(flakebench_result):
                assert flakebench_result.overall.errors == 0
                assert flakebench_result.overall.ops > 0
            """
        )
        for _ in range(2):
            pytester.runpytest("--flakebench").assert_outcomes(passed=1)
        db = sqlite3.connect(pytester.path / ".flakebench" / "flakebench.db")
        pools = db.execute("SELECT POOL_KIND, COLUMN_NAME, SAMPLE_SIZE, ROW_COUNT FROM "
                           "TEMPLATE_VALUE_POOLS").fetchall()
        db.close()
        assert pools == [("KEY", "code", 250_000, 5000)]  # read once, reused by the 2nd run
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {table}")


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]])
def test_sampled_query_executions_are_stored(pytester: pytest.Pytester, pg_dsn: str,
                                             pg_orders: str, xdist: list[str]) -> None:
    import sqlite3

    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.flakebench(target="{pg_dsn}", table="public.{pg_orders}",
                                mix={{"point_lookup": 90, "insert": 10}}, concurrency=2,
                                duration="1s", warmup="0.2s")
        def test_sampled():
            pass
        """
    )
    result = pytester.runpytest_subprocess("--flakebench", "--flakebench-query-sample=0.1",
                                           "--flakebench-json=out.json", *xdist)
    result.assert_outcomes(passed=1)
    (run,) = json.loads((pytester.path / "out.json").read_text())["runs"]
    db = sqlite3.connect(pytester.path / ".flakebench" / "flakebench.db")
    rows = db.execute("SELECT KIND, PHASE, OK, LATENCY_US, WORKER_ID FROM QUERY_EXECUTIONS "
                      "WHERE RUN_ID = ?", (run["run_id"],)).fetchall()
    db.close()
    measured = [r for r in rows if r[1] == "MEASUREMENT"]
    attempts = run["overall"]["ops"] + run["overall"]["errors"]
    assert abs(len(measured) / attempts - 0.1) < 0.02
    assert {r[0] for r in rows} == {"point_lookup", "insert"}
    assert all(r[2] == 1 and r[3] >= 1 for r in rows)
    assert {r[4] for r in rows} == ({"gw0", "gw1"} if xdist else {"main"})


def test_errors_without_an_error_rate_slo_fail_the_run(pytester: pytest.Pytester, pg_dsn: str,
                                                       pg_orders: str,
                                                       flaky_function: str) -> None:
    marker = (f'target="{pg_dsn}", table="public.{pg_orders}", mix={{"flaky": 100}}, '
              f'queries={{"flaky": {{"sql": "SELECT {flaky_function}(0.05)"}}}}, '
              f'concurrency=2, duration="1s", warmup="0s"')
    result, run = run_one(pytester, marker)
    result.assert_outcomes(failed=1)
    errors = run["kinds"]["flaky"]["errors"]
    assert errors > 0
    result.stdout.fnmatch_lines([f"*ERRORS_NOT_ALLOWED: {errors} operation(s) failed (40001 x"
                                 f"{errors}) in flaky*slo={{\"error_rate\": \"1%\"}}*"])
    assert [c["metric"] for c in run["slo"] if not c["ok"]] == ["error_rate"]
