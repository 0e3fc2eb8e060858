"""The PostgreSQL driver against the real server: catalog, bounds, checks, errors, secrets."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest

from pytest_flakebench.drivers import ErrorClass, open_driver
from pytest_flakebench.drivers.postgres import PostgresConnection, PostgresDriver, format_to_numeric
from pytest_flakebench.errors import ConfigError, TargetError
from pytest_flakebench.identifiers import TableName

pytestmark = pytest.mark.postgres

ORDERS = ("id bigint PRIMARY KEY, customer varchar(40) NOT NULL, amount numeric(10,2), "
          "qty int2 DEFAULT 1, score float8, paid bool, day date, at timestamptz DEFAULT now(), "
          "ref uuid, body jsonb, raw bytea, note text, tags text[]")


@pytest.fixture
def driver(pg_dsn: str) -> Iterator[PostgresDriver]:
    d = open_driver(pg_dsn)
    assert isinstance(d, PostgresDriver)
    yield d
    d.close()


@pytest.fixture
def conn(driver: PostgresDriver) -> Iterator[PostgresConnection]:
    c = driver.connect()
    yield c
    c.close()


@pytest.fixture
def orders(pg_table: Callable[[str], str], conn: PostgresConnection) -> str:
    name = pg_table(ORDERS)
    conn.execute(f"INSERT INTO {name} (id, customer) SELECT g, 'c' || g "
                 "FROM generate_series(10, 59) g", [])
    return name


def test_server_version(driver: PostgresDriver) -> None:
    assert driver.server_version().startswith("PostgreSQL 1")
    assert driver.dialect == "postgresql"
    assert driver.paramstyle == "format"


def test_describe_table_columns_and_key(driver: PostgresDriver, orders: str) -> None:
    info = driver.describe_table(TableName.parse(f"public.{orders}"))
    assert info.table == TableName(name=orders, schema="public")
    assert info.primary_key == ("id",)
    assert not info.is_view
    got = {c.name: (c.type_class, c.nullable, c.has_default, c.max_length) for c in info.columns}
    assert list(got) == ["id", "customer", "amount", "qty", "score", "paid", "day", "at", "ref",
                         "body", "raw", "note", "tags"]
    assert got["id"] == ("int", False, False, None)
    assert got["customer"] == ("text", False, False, 40)
    assert got["amount"][0] == "decimal"
    assert got["qty"] == ("int", True, True, None)
    assert [got[k][0] for k in ("score", "paid", "day", "at", "ref", "body", "raw", "note")] == [
        "float", "bool", "date", "timestamp", "uuid", "json", "bytes", "text"]
    assert got["at"][2] is True
    assert got["tags"][0] == "other"
    assert info.column("CUSTOMER") is not None
    assert info.column("customer").type_name == "character varying(40)"  # type: ignore[union-attr]


def test_describe_table_is_case_insensitive_and_uses_default_schema(
    driver: PostgresDriver, orders: str
) -> None:
    info = driver.describe_table(TableName.parse(f"PUBLIC.{orders.upper()}"))
    assert info.table == TableName(name=orders, schema="public")
    assert driver.describe_table(TableName.parse(orders.upper())).table.schema == "public"


def test_describe_table_identity_serial_and_composite_key(
    driver: PostgresDriver, pg_table: Callable[[str], str]
) -> None:
    name = pg_table("a int GENERATED ALWAYS AS IDENTITY, s serial, b text, "
                    "c int GENERATED ALWAYS AS (a * 2) STORED, PRIMARY KEY (b, a)")
    info = driver.describe_table(TableName(name))
    assert info.primary_key == ("b", "a")
    assert [(c.name, c.type_class, c.has_default) for c in info.columns] == [
        ("a", "int", True), ("s", "int", True), ("b", "text", False), ("c", "int", True)]


def test_describe_view(driver: PostgresDriver, orders: str, conn: PostgresConnection) -> None:
    conn.execute(f"CREATE VIEW {orders}_v AS SELECT id, customer FROM {orders}", [])
    info = driver.describe_table(TableName(f"{orders}_v"))
    assert info.is_view
    assert info.primary_key == ()
    assert [c.name for c in info.columns] == ["id", "customer"]


def test_unknown_table_lists_near_matches(driver: PostgresDriver, orders: str) -> None:
    with pytest.raises(TargetError) as excinfo:
        driver.describe_table(TableName.parse(f"public.{orders[:-1]}"))
    msg = str(excinfo.value)
    assert f"table 'public.{orders[:-1]}' not found in postgresql://" in msg
    assert "tables in schema public: " in msg
    assert orders in msg.split("tables in schema public: ")[1].split(", ")[0]


def test_unknown_schema(driver: PostgresDriver) -> None:
    with pytest.raises(TargetError, match="no_such_schema has no tables or does not exist"):
        driver.describe_table(TableName.parse("no_such_schema.orders"))


def test_key_bounds(driver: PostgresDriver, orders: str) -> None:
    info = driver.describe_table(TableName(orders))
    assert driver.key_bounds(info, "ID") == (10, 59, 50)
    assert driver.key_bounds(info, "customer") == (None, None, 50)
    with pytest.raises(TargetError, match="column 'nope' not found"):
        driver.key_bounds(info, "nope")


def test_key_bounds_empty_table(driver: PostgresDriver, pg_table: Callable[[str], str]) -> None:
    info = driver.describe_table(TableName(pg_table("id int PRIMARY KEY")))
    assert driver.key_bounds(info, "id") == (None, None, 0)


def test_execute_counts(conn: PostgresConnection, orders: str) -> None:
    assert conn.execute(f"SELECT * FROM {orders} WHERE id = %s", [10]) == 1
    assert conn.execute(f"SELECT * FROM {orders} WHERE id BETWEEN %s AND %s", [10, 19]) == 10
    assert conn.execute(f"INSERT INTO {orders} (id, customer) VALUES (%s, %s)", [1, "x"]) == 1
    assert conn.execute(f"UPDATE {orders} SET qty = qty + 1 WHERE id < %s", [15]) == 6
    assert conn.execute(f"SELECT * FROM {orders} WHERE id = %s", [-1]) == 0
    # The same statement again runs from its server-side prepared form.
    assert conn.execute(f"SELECT * FROM {orders} WHERE id = %s", [11]) == 1
    assert conn.execute(f"SELECT '100%%' || customer FROM {orders} WHERE id = %s", [12]) == 1


@pytest.mark.parametrize(
    ("sql", "count", "expected"),
    [
        ("SELEC * FROM {t}", 0, 'syntax error at or near "SELEC" (SQLSTATE 42601)'),
        ("SELECT nope FROM {t} WHERE id = %s", 1, 'column "nope" does not exist (SQLSTATE 42703)'),
        ("SELECT * FROM {t}_missing", 0, "(SQLSTATE 42P01)"),
        ("SELECT * FROM {t} WHERE id = %s", 2, "takes 1 parameter(s) but 2 are supplied"),
        ("SELECT * FROM {t} WHERE id = %s AND qty = %s", 1, "takes 2 parameter(s) but 1"),
        ("SELECT 1; DELETE FROM {t}", 0, "cannot insert multiple commands"),
    ],
)
def test_check_statement_rejects(
    driver: PostgresDriver, orders: str, sql: str, count: int, expected: str
) -> None:
    sql = sql.replace("{t}", orders)
    with pytest.raises(TargetError) as excinfo:
        driver.check_statement(sql, count)
    assert expected in str(excinfo.value)
    assert f"SQL: {sql}" in str(excinfo.value)


def test_check_statement_accepts_and_never_writes(
    driver: PostgresDriver, orders: str, conn: PostgresConnection
) -> None:
    driver.check_statement(f"SELECT * FROM {orders} WHERE id = %s", 1)
    driver.check_statement(f"SELECT * FROM {orders} WHERE customer LIKE '50%%' AND id = %s", 1)
    driver.check_statement(f"INSERT INTO {orders} (id, customer) VALUES (%s, %s)", 2)
    driver.check_statement(f"INSERT INTO {orders} (id, customer) VALUES (1000, 'lit')", 0)
    driver.check_statement(f"UPDATE {orders} SET qty = 0 WHERE id = %s", 1)
    driver.check_statement(f"DELETE FROM {orders}", 0)
    assert conn.execute(f"SELECT * FROM {orders} WHERE id >= 1000 OR qty = 0", []) == 0
    assert conn.execute(f"SELECT * FROM {orders}", []) == 50
    # The check's prepared statements are deallocated, not left on the metadata connection.
    assert driver._meta.execute("SELECT count(*) FROM pg_prepared_statements").fetchone() == (0,)


def test_format_to_numeric() -> None:
    converted = format_to_numeric("a = %s AND b LIKE '5%%' AND c = %s")
    assert converted == "a = $1 AND b LIKE '5%' AND c = $2"
    with pytest.raises(TargetError, match="unsupported placeholder '%d'"):
        format_to_numeric("a = %d")


def test_classify_error(driver: PostgresDriver, orders: str, conn: PostgresConnection) -> None:
    with pytest.raises(psycopg.Error) as excinfo:
        conn.execute(f"INSERT INTO {orders} (id, customer) VALUES (%s, %s)", [10, "dup"])
    err = driver.classify_error(excinfo.value)
    assert err.code == "23505"
    assert "duplicate key value" in err.message
    assert "\n" not in err.message
    # autocommit: the failed statement left no aborted transaction behind.
    assert conn.execute(f"SELECT * FROM {orders} WHERE id = %s", [10]) == 1
    with pytest.raises(psycopg.Error) as excinfo:
        conn.execute("SELECT * FROM fb_drv_does_not_exist", [])
    assert driver.classify_error(excinfo.value).code == "42P01"
    assert driver.classify_error(TimeoutError("slow")) == ErrorClass("TimeoutError", "slow")


def test_terminated_connection_is_broken_then_reconnects(
    driver: PostgresDriver, conn: PostgresConnection
) -> None:
    assert not conn.broken
    pid = conn._conn.info.backend_pid
    driver._meta.execute("SELECT pg_terminate_backend(%s)", [pid])
    with pytest.raises(psycopg.OperationalError) as excinfo:
        conn.execute("SELECT 1", [])
    assert driver.classify_error(excinfo.value).code
    assert conn.broken
    conn.reconnect()
    assert not conn.broken
    assert conn.execute("SELECT 1", []) == 1


def test_connection_failure_hides_the_password() -> None:
    url = "postgresql://bench:s3cret-pw@127.0.0.1:1/test?connect_timeout=2"
    with pytest.raises(TargetError) as excinfo:
        open_driver(url)
    text = str(excinfo.value) + repr(excinfo.value)
    assert "s3cret-pw" not in text
    assert "postgresql://bench:***@127.0.0.1:1/test" in text
    assert "is the server running?" in text
    assert excinfo.value.__context__ is None  # no chained driver error that may echo the URL
    assert excinfo.value.__cause__ is None


def test_stored_password_is_scrubbed(pg_dsn: str) -> None:
    # The stored password is not needed under trust auth; it must still never be echoed.
    d = open_driver(pg_dsn, password="s3cret-pw")
    try:
        err = d.classify_error(RuntimeError("server said s3cret-pw was wrong"))
        assert "s3cret-pw" not in err.message
    finally:
        d.close()


def test_unsupported_target_scheme() -> None:
    with pytest.raises(ConfigError, match="not a supported URL"):
        open_driver("mysql://u:pw@host/db")


def test_importing_drivers_does_not_import_psycopg(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(probe="import sys, pytest_flakebench.drivers\n"
                              "print('psycopg' in sys.modules)\n")
    result = pytester.runpython(pytester.path / "probe.py")
    assert result.outlines[-1] == "False"
