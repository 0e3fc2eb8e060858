"""The Snowflake driver through the real connector, against a local fakesnow server."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pytest_flakebench.drivers import open_driver
from pytest_flakebench.drivers.snowflake import first_word
from pytest_flakebench.drivers.snowflake_connect import connect_kwargs
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
        with pytest.raises(TargetError, match=r"not found .*tables in PUBLIC: ORDERS"):
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


def test_names_resolved_with_the_catalog_spelling(orders_url: str, fakesnow_db: str) -> None:
    """``db.schema.table`` in lower case finds BENCHDB.APP.ORDERS-style upper-case objects."""
    driver = open_driver(orders_url)
    try:
        info = driver.describe_table(TableName.parse(f"{fakesnow_db.lower()}.public.orders"))
        assert info.table == TableName(name="ORDERS", schema="PUBLIC", database=fakesnow_db)
        assert info.table.quoted() == f'"{fakesnow_db}"."PUBLIC"."ORDERS"'
    finally:
        driver.close()


def test_missing_database_and_schema_are_named(orders_url: str) -> None:
    driver = open_driver(orders_url)
    try:
        with pytest.raises(TargetError) as info:
            driver.describe_table(TableName.parse("nodb_x1.public.orders"))
        text = str(info.value)
        assert "database 'nodb_x1' (as NODB_X1) named by the table does not exist" in text
        assert "names no database" not in text
        with pytest.raises(TargetError, match=r"schema 'nope' \(as NOPE\) does not exist"):
            driver.describe_table(TableName.parse("nope.orders"))
    finally:
        driver.close()
    # (A URL naming a missing database cannot be tried here: fakesnow creates the database
    # at login; the same SHOW DATABASES check names it.)


def test_warehouse_is_checked_and_sized_from_the_real_warehouse(orders_url: str) -> None:
    driver = open_driver(orders_url + "&warehouse=nope_wh")
    try:
        with pytest.raises(TargetError, match=r"warehouse 'nope_wh' \(as NOPE_WH\) does not "
                                              r"exist.*FAKESNOW_WAREHOUSE"):
            driver.server_settings()
    finally:
        driver.close()
    driver = open_driver(orders_url + "&warehouse=fakesnow_warehouse")
    try:
        found = driver.server_settings()
        assert found["warehouse"] == "FAKESNOW_WAREHOUSE"
        assert found["size"] == "X-Small"
        assert found["max_cluster_count"] == "1"
    finally:
        driver.close()


def test_query_tag_is_the_run_id_on_every_connection(orders_url: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Preflight (the metadata connection) included: the worker knows the run id before it."""
    from pytest_flakebench.drivers import snowflake as sf_driver

    tags: list[str] = []
    real = sf_driver.open_connection

    def spy(kwargs: dict[str, object], *, query_tag: str, **rest: object) -> object:
        tags.append(query_tag)
        return real(kwargs, query_tag=query_tag, **rest)  # type: ignore[arg-type]

    monkeypatch.setattr(sf_driver, "open_connection", spy)
    driver = open_driver(orders_url, run_tag="run0123")
    try:
        driver.describe_table(TableName.parse("public.orders"))
        driver.connect().close()
    finally:
        driver.close()
    assert tags == ["flakebench:run=run0123", "flakebench:run=run0123"]
