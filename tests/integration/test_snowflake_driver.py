"""The Snowflake driver through the real connector, against a local fakesnow server."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pytest_flakebench.drivers import open_driver
from pytest_flakebench.drivers.snowflake import connect_kwargs, first_word
from pytest_flakebench.errors import ConfigError, TargetError
from pytest_flakebench.identifiers import TableName
from tests.conftest import fakesnow_sql, fakesnow_url

ORDERS = ("CREATE TABLE PUBLIC.ORDERS (ID INT PRIMARY KEY, CUSTOMER VARCHAR(20) NOT NULL, "
          "TOTAL NUMBER(12,2), CREATED TIMESTAMP_NTZ DEFAULT CURRENT_TIMESTAMP())")
FILL = ("INSERT INTO PUBLIC.ORDERS (ID, CUSTOMER, TOTAL) SELECT SEQ4() + 1, 'c', 1.5 "
        "FROM TABLE(GENERATOR(ROWCOUNT => 500))")


@pytest.fixture
def orders_url(fakesnow_server: dict[str, object], fakesnow_db: str) -> str:
    fakesnow_sql(fakesnow_server, fakesnow_db, ORDERS, FILL)
    return fakesnow_url(fakesnow_server, fakesnow_db)


def test_url_to_connect_kwargs() -> None:
    kw = connect_kwargs("snowflake://me:p%40ss@acct-1/DB/SC?warehouse=WH&role=R&host=127.0.0.1"
                        "&port=8765&protocol=http&ocsp_fail_open=false")
    assert kw == {"user": "me", "password": "p@ss", "account": "acct-1", "database": "DB",
                  "schema": "SC", "warehouse": "WH", "role": "R", "host": "127.0.0.1",
                  "port": 8765, "protocol": "http", "ocsp_fail_open": False,
                  "login_timeout": 15}
    assert connect_kwargs("snowflake://me@acct/DB", password="x")["password"] == "x"
    with pytest.raises(ConfigError, match="user"):
        connect_kwargs("snowflake://acct/DB")
    assert first_word("/* flakebench:insert */ INSERT INTO t VALUES (?)") == "INSERT"


def test_describe_profile_and_check(orders_url: str) -> None:
    driver = open_driver(orders_url)
    try:
        assert driver.dialect == "snowflake"
        assert driver.paramstyle == "qmark"
        assert driver.server_version().startswith("Snowflake ")
        info = driver.describe_table(TableName.parse("public.orders"))  # any case finds it
        assert info.table == TableName(name="ORDERS", schema="PUBLIC")
        assert [c.name for c in info.columns] == ["ID", "CUSTOMER", "TOTAL", "CREATED"]
        assert [c.type_class for c in info.columns] == ["int", "text", "float", "timestamp"]
        assert info.primary_key == ("ID",)
        assert info.columns[1].max_length == 20
        assert not info.columns[1].nullable
        assert info.columns[3].has_default
        assert driver.key_bounds(info, "id") == (1, 500, 500)
        driver.check_statement('SELECT * FROM "PUBLIC"."ORDERS" WHERE "ID" = ?', 1)
        with pytest.raises(TargetError, match=r"Snowflake rejected this SQL.*NOPE"):
            driver.check_statement('SELECT "NOPE" FROM "PUBLIC"."ORDERS" WHERE "ID" = ?', 1)
        with pytest.raises(TargetError, match="takes 1 parameter"):
            driver.check_statement('SELECT * FROM "PUBLIC"."ORDERS" WHERE "ID" = ?', 2)
        with pytest.raises(TargetError, match="only SELECT"):
            driver.check_statement("DROP TABLE PUBLIC.ORDERS", 0)
        with pytest.raises(TargetError, match=r"not found .*tables in public: ORDERS"):
            driver.describe_table(TableName.parse("public.ordrs"))
        conn = driver.connect()
        try:
            assert conn.execute('SELECT * FROM "PUBLIC"."ORDERS" WHERE "ID" BETWEEN ? AND ?',
                                (1, 10)) == 10
            sql = '/* flakebench:insert */ INSERT INTO "PUBLIC"."ORDERS" ("ID", "CUSTOMER") ' \
                  'VALUES (?, ?)'
            driver.check_statement(sql, 2)
            assert conn.execute(sql, (1000, "x")) == 1
            assert not conn.broken
            try:
                conn.execute('SELECT * FROM "PUBLIC"."NOPE" WHERE "ID" = ?', (1,))
            except Exception as exc:  # the connector's own error type
                err = driver.classify_error(exc)
                assert err.code == "002003"
                assert "NOPE" in err.message
            else:
                pytest.fail("expected an error")
        finally:
            conn.close()
    finally:
        driver.close()


def test_table_types(orders_url: str) -> None:
    driver = open_driver(orders_url, table_type="interactive")
    try:
        with pytest.raises(TargetError, match="interactive tables do not support UPDATE"):
            driver.check_statement('UPDATE "PUBLIC"."ORDERS" SET "TOTAL" = ? WHERE "ID" = ?', 2)
    finally:
        driver.close()
    driver = open_driver(orders_url, table_type="hybrid")
    try:
        info = driver.describe_table(TableName.parse("PUBLIC.ORDERS"))
        assert driver.key_bounds(info, "ID")[1] == 500
        with pytest.raises(TargetError, match="primary key"):
            driver.key_bounds(info, "TOTAL")
    finally:
        driver.close()


def test_unreachable_is_a_clear_secret_free_error() -> None:
    with pytest.raises(TargetError) as info:
        open_driver("snowflake://u:s3cret-pw@acct/DB/SC?host=127.0.0.1&port=1&protocol=http"
                    "&login_timeout=3")
    assert "s3cret-pw" not in str(info.value)
    assert "cannot connect to snowflake://u:***@acct/DB/SC" in str(info.value)


def test_importing_the_plugin_does_not_import_the_connector() -> None:
    code = ("import sys, pytest_flakebench.plugin, pytest_flakebench.drivers, "
            "pytest_flakebench.stores; sys.exit('snowflake.connector' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
