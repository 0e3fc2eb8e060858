"""A user-written benchmark against a table served by fakesnow, through the real connector."""

from __future__ import annotations

import json

import pytest

from tests.conftest import fakesnow_sql, fakesnow_url

OLTP = """
import pytest

@pytest.mark.flakebench(
    target="{url}", table="public.orders",
    mix={{"point_lookup": 70, "range_scan": 20, "insert": 10}},
    concurrency=2, duration="2s", warmup="0.5s", table_type="{table_type}",
    slo={{"p95": "5s", "error_rate": "1%"}},
)
def test_orders_oltp(flakebench_result):
    assert flakebench_result.kinds["insert"].errors == 0
"""

ORDERS = ("CREATE TABLE PUBLIC.ORDERS (ID INT PRIMARY KEY, CUSTOMER VARCHAR(20) NOT NULL, "
          "TOTAL NUMBER(12,2), CREATED TIMESTAMP_NTZ DEFAULT CURRENT_TIMESTAMP())")
FILL = ("INSERT INTO PUBLIC.ORDERS (ID, CUSTOMER, TOTAL) SELECT SEQ4() + 1, 'c' || SEQ4(), 2.5 "
        "FROM TABLE(GENERATOR(ROWCOUNT => 10000))")


@pytest.fixture
def orders(fakesnow_server: dict[str, object], fakesnow_db: str) -> str:
    fakesnow_sql(fakesnow_server, fakesnow_db, ORDERS, FILL)
    return fakesnow_url(fakesnow_server, fakesnow_db)


def test_oltp_mix_on_fakesnow(pytester: pytest.Pytester, orders: str,
                              fakesnow_server: dict[str, object], fakesnow_db: str) -> None:
    pytester.makepyfile(OLTP.format(url=orders, table_type="standard"))
    result = pytester.runpytest("--flakebench", "--flakebench-json=out.json",
                                "--flakebench-store=none")
    result.assert_outcomes(passed=1)
    (run,) = json.loads((pytester.path / "out.json").read_text())["runs"]
    assert run["verdict"] == "PASSED"
    assert run["target_kind"] == "snowflake"
    assert run["table"] == "PUBLIC.ORDERS"
    assert run["target"].startswith("snowflake://fake:***@")  # the password never reaches JSON
    assert ":snow@" not in (pytester.path / "out.json").read_text()
    kinds = run["kinds"]
    assert set(kinds) == {"point_lookup", "range_scan", "insert"}
    assert all(k["ops"] > 0 and k["errors"] == 0 for k in kinds.values())
    inserted = kinds["insert"]["ops"] + kinds["insert"]["warmup_ops"]
    (count,) = fakesnow_sql(fakesnow_server, fakesnow_db, "SELECT COUNT(*) FROM PUBLIC.ORDERS")
    assert count[0] == 10_000 + inserted


def test_interactive_table_refuses_update_before_load(pytester: pytest.Pytester,
                                                      orders: str) -> None:
    pytester.makepyfile(OLTP.format(url=orders, table_type="interactive").replace(
        '"insert": 10', '"update": 10'))
    result = pytester.runpytest("--flakebench", "--flakebench-store=none")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) + outcomes.get("errors", outcomes.get("error", 0)) == 1
    assert "passed" not in outcomes
    result.stdout.fnmatch_lines(["*interactive tables do not support UPDATE*"])


def test_run_stored_in_a_snowflake_store(pytester: pytest.Pytester, orders: str,
                                         fakesnow_server: dict[str, object],
                                         fakesnow_db: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Done-when: the benchmark's run lands in a fakesnow-served store; `runs` lists it."""
    from pytest_flakebench.cli.main import main

    store = fakesnow_url(fakesnow_server, fakesnow_db, "RESULTS")
    assert main(["store", "init", store]) == 2  # fakesnow has no hybrid tables
    assert "--no-hybrid" in capsys.readouterr().err
    assert main(["store", "init", store, "--no-hybrid"]) == 0
    assert "standard control tables" in capsys.readouterr().out
    pytester.makepyfile(OLTP.format(url=orders, table_type="standard"))
    result = pytester.runpytest("--flakebench", f"--flakebench-store={store}",
                                "--flakebench-json=out.json")
    result.assert_outcomes(passed=1)
    (run,) = json.loads((pytester.path / "out.json").read_text())["runs"]
    assert main(["runs", "--store", store]) == 0
    out = capsys.readouterr().out
    assert run["run_id"][:12] in out
    assert ":snow@" not in out + result.stdout.str()
    assert main(["show", run["run_id"][:8], "--store", store, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run_id"] == run["run_id"]
