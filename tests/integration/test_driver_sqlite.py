"""The SQLite driver against real database files in tmp_path."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_flakebench.drivers import open_driver
from pytest_flakebench.drivers.sqlite import SqliteConnection, SqliteDriver, type_class_of
from pytest_flakebench.errors import TargetError
from pytest_flakebench.identifiers import TableName

SCHEMA = """
CREATE TABLE Orders (
    id INTEGER PRIMARY KEY, customer VARCHAR(40) NOT NULL, amount DECIMAL(10,2),
    qty INT DEFAULT 1, score DOUBLE, paid BOOLEAN, day DATE, at DATETIME, ref UUID,
    body JSON, raw BLOB, note TEXT, misc, dbl INT GENERATED ALWAYS AS (qty * 2) VIRTUAL
);
CREATE TABLE lines (order_id INT NOT NULL, line INT NOT NULL, sku TEXT,
                    PRIMARY KEY (order_id, line));
CREATE VIEW order_names AS SELECT id, customer FROM Orders;
"""


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    path = tmp_path / "target.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA)
        conn.executemany("INSERT INTO Orders (id, customer) VALUES (?, ?)",
                         [(i, f"c{i}") for i in range(10, 60)])
    conn.close()
    return path


@pytest.fixture
def driver(db_file: Path) -> Iterator[SqliteDriver]:
    d = open_driver("sqlite:///target.db", base_dir=db_file.parent)
    assert isinstance(d, SqliteDriver)
    yield d
    d.close()


@pytest.fixture
def conn(driver: SqliteDriver) -> Iterator[SqliteConnection]:
    c = driver.connect()
    yield c
    c.close()


def test_opens_existing_file_in_wal_mode(driver: SqliteDriver, db_file: Path) -> None:
    assert driver.path == db_file
    assert driver.server_version() == "SQLite " + sqlite3.sqlite_version
    assert (driver.dialect, driver.paramstyle) == ("sqlite", "qmark")
    assert driver._meta.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_missing_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match=r"nope\.db does not exist: the file must be created"):
        open_driver("sqlite:///nope.db", base_dir=tmp_path)
    assert not (tmp_path / "nope.db").exists()
    with pytest.raises(TargetError, match="is not a file"):
        open_driver(f"sqlite:///{tmp_path}")


def test_non_database_file(tmp_path: Path) -> None:
    (tmp_path / "junk.db").write_bytes(b"this is not a database, just text" * 10)
    with pytest.raises(TargetError, match=r"cannot use .*junk\.db as a SQLite database"):
        open_driver(f"sqlite:///{tmp_path / 'junk.db'}")


def test_describe_table(driver: SqliteDriver) -> None:
    info = driver.describe_table(TableName.parse("orders"))
    assert info.table == TableName("Orders")
    assert info.primary_key == ("id",)
    assert not info.is_view
    got = {c.name: (c.type_class, c.nullable, c.has_default, c.max_length) for c in info.columns}
    assert got["id"] == ("int", False, False, None)  # rowid alias: a plain key column
    assert got["customer"] == ("text", False, False, 40)
    assert got["qty"] == ("int", True, True, None)
    assert got["dbl"] == ("int", True, True, None)  # generated
    assert [got[k][0] for k in ("amount", "score", "paid", "day", "at", "ref", "body", "raw",
                                "note", "misc")] == [
        "decimal", "float", "bool", "date", "timestamp", "uuid", "json", "bytes", "text", "other"]


def test_describe_table_main_schema_composite_key_and_view(driver: SqliteDriver) -> None:
    info = driver.describe_table(TableName.parse("MAIN.LINES"))
    assert info.table == TableName("lines", schema="main")
    assert info.primary_key == ("order_id", "line")
    view = driver.describe_table(TableName("Order_Names"))
    assert view.is_view
    assert view.primary_key == ()
    assert [c.name for c in view.columns] == ["id", "customer"]


def test_describe_unknown_table_and_schema(driver: SqliteDriver) -> None:
    with pytest.raises(TargetError) as excinfo:
        driver.describe_table(TableName("ordrs"))
    assert str(excinfo.value) == (
        "table 'ordrs' not found in sqlite:///target.db; tables: Orders, order_names, lines")
    with pytest.raises(TargetError, match="only the schema 'main'"):
        driver.describe_table(TableName.parse("public.orders"))


def test_key_bounds(driver: SqliteDriver) -> None:
    info = driver.describe_table(TableName("orders"))
    assert driver.key_bounds(info, "ID") == (10, 59, 50)
    assert driver.key_bounds(info, "customer") == (None, None, 50)
    with pytest.raises(TargetError, match="column 'nope' not found"):
        driver.key_bounds(info, "nope")


def test_execute_counts(conn: SqliteConnection) -> None:
    assert conn.execute('SELECT * FROM "Orders" WHERE id = ?', [10]) == 1
    assert conn.execute('SELECT * FROM "Orders" WHERE id BETWEEN ? AND ?', (10, 19)) == 10
    assert conn.execute('INSERT INTO "Orders" (id, customer) VALUES (?, ?)', [1, "x"]) == 1
    assert conn.execute('UPDATE "Orders" SET qty = qty + 1 WHERE id < ?', [15]) == 6
    assert conn.execute('SELECT * FROM "Orders" WHERE id = ?', [-1]) == 0
    assert conn.execute("SELECT '100%' || customer FROM Orders WHERE id = ?", [12]) == 1


@pytest.mark.parametrize(
    ("sql", "count", "expected"),
    [
        ("SELEC * FROM Orders", 0, 'near "SELEC": syntax error'),
        ("SELECT nope FROM Orders WHERE id = ?", 1, "no such column: nope"),
        ("SELECT * FROM missing", 0, "no such table: missing"),
        ("SELECT * FROM Orders WHERE id = ?", 2, "Incorrect number of bindings"),
        ("SELECT * FROM Orders WHERE id = ? AND qty = ?", 1, "Incorrect number of bindings"),
        ("SELECT 1; DELETE FROM Orders", 0, "one statement at a time"),
    ],
)
def test_check_statement_rejects(driver: SqliteDriver, sql: str, count: int, expected: str) -> None:
    with pytest.raises(TargetError) as excinfo:
        driver.check_statement(sql, count)
    assert expected in str(excinfo.value)
    assert f"SQL: {sql}" in str(excinfo.value)


def test_check_statement_accepts_and_never_writes(
    driver: SqliteDriver, conn: SqliteConnection
) -> None:
    driver.check_statement("SELECT * FROM Orders WHERE id = ?", 1)
    driver.check_statement("INSERT INTO Orders (id, customer) VALUES (?, ?)", 2)
    driver.check_statement("INSERT INTO Orders (id, customer) VALUES (1000, 'lit')", 0)
    driver.check_statement("UPDATE Orders SET qty = 0 WHERE id = ?", 1)
    driver.check_statement("DELETE FROM Orders", 0)
    assert conn.execute("SELECT * FROM Orders WHERE id >= 1000 OR qty = 0", []) == 0
    assert conn.execute("SELECT * FROM Orders", []) == 50


def test_classify_error(driver: SqliteDriver, conn: SqliteConnection) -> None:
    with pytest.raises(sqlite3.Error) as excinfo:
        conn.execute("INSERT INTO Orders (id, customer) VALUES (?, ?)", [10, "dup"])
    err = driver.classify_error(excinfo.value)
    assert err.code == "SQLITE_CONSTRAINT_PRIMARYKEY"
    assert err.message == "UNIQUE constraint failed: Orders.id"
    with pytest.raises(sqlite3.Error) as excinfo:
        conn.execute("SELECT * FROM missing", [])
    assert driver.classify_error(excinfo.value).code == "SQLITE_ERROR"
    assert driver.classify_error(ValueError("x\ny")).code == "ValueError"
    assert driver.classify_error(ValueError("x\ny")).message == "x"


def test_reconnect_and_close_never_raises(conn: SqliteConnection) -> None:
    assert not conn.broken
    conn.close()
    conn.close()
    assert conn.broken
    conn.reconnect()
    assert not conn.broken
    assert conn.execute("SELECT 1", []) == 1


@pytest.mark.parametrize(
    ("declared", "expected"),
    [("BIGINT", ("int", None)), ("NVARCHAR(12)", ("text", 12)), ("CLOB", ("text", None)),
     ("REAL", ("float", None)), ("FLOAT", ("float", None)), ("NUMERIC(5)", ("decimal", None)),
     ("TIMESTAMP", ("timestamp", None)), ("", ("other", None))],
)
def test_type_class_of(declared: str, expected: tuple[str, int | None]) -> None:
    assert type_class_of(declared) == expected
