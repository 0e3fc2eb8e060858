"""The lean PostgreSQL path (psycopg.pq) against the cursor path, on the real server.

Both paths must count the same rows, raise the same error classes and recover the same way; the
switch between them is the template's ``client_path`` or ``FLAKEBENCH_CLIENT_PATH``.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal

import psycopg
import pytest

from pytest_flakebench.drivers import open_driver
from pytest_flakebench.drivers.postgres import (
    CLIENT_PATH_ENV,
    PostgresConnection,
    PostgresDriver,
)
from pytest_flakebench.drivers.postgres_lean import LeanConnection
from pytest_flakebench.errors import ConfigError

pytestmark = pytest.mark.postgres

COLUMNS = ("id bigint PRIMARY KEY, customer varchar(40) NOT NULL, amount numeric(10,2), "
           "score float8, paid bool, day date, at timestamptz, ref uuid, body jsonb, raw bytea, "
           "tags text[]")


@pytest.fixture(params=["lean", "cursor"])
def driver(request: pytest.FixtureRequest, pg_dsn: str) -> Iterator[PostgresDriver]:
    d = open_driver(pg_dsn, client_path=request.param)
    assert isinstance(d, PostgresDriver)
    assert d.client_path == request.param
    yield d
    d.close()


@pytest.fixture
def table(pg_table: Callable[[str], str], pg_dsn: str) -> str:
    name = pg_table(COLUMNS)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"INSERT INTO {name} (id, customer) SELECT g, 'c' || g "
                     "FROM generate_series(1, 50) g")
        # fb_fail(code): raises the SQLSTATE it is given, to check error classes end to end.
        conn.execute(f"CREATE FUNCTION {name}_fail(code text) RETURNS int LANGUAGE plpgsql AS "
                     "$$ BEGIN RAISE EXCEPTION 'forced %', code USING ERRCODE = code; END $$")
    return name


def test_path_taken(driver: PostgresDriver) -> None:
    conn = driver.connect()
    try:
        expected = LeanConnection if driver.client_path == "lean" else PostgresConnection
        assert isinstance(conn, expected)
        assert isinstance(conn.raw, psycopg.Connection)  # Python operations get psycopg's
    finally:
        conn.close()


def test_counts_and_every_parameter_type(driver: PostgresDriver, table: str) -> None:
    """Rows fetched or affected, exactly, whatever the parameter types."""
    insert = (f"INSERT INTO {table} (id, customer, amount, score, paid, day, at, ref, body, raw, "
              f"tags) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")
    lookup = f"SELECT * FROM {table} WHERE id = %s"
    driver.check_statement(insert, 11)
    driver.check_statement(lookup, 1)
    conn = driver.connect()
    try:
        row = (1000, "x'y\"z 100%", Decimal("12.34"), 1.5, True, dt.date(2026, 11, 30),
               dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC), uuid.UUID(int=7),
               '{"a": 1}', b"\x00\x01\xff", ["a", "b,c"])
        assert conn.execute(insert, row) == 1
        assert conn.execute(insert, (1001, "n", None, None, None, None, None, None, None,
                                     None, None)) == 1
        assert conn.execute(lookup, [1000]) == 1
        assert conn.execute(lookup, [-1]) == 0
        assert conn.execute(f"SELECT * FROM {table} WHERE id BETWEEN %s AND %s", [1, 10]) == 10
        assert conn.execute(f"UPDATE {table} SET score = score WHERE id < %s", [6]) == 5
        assert conn.execute(f"DELETE FROM {table} WHERE id > %s", [999]) == 2
        assert conn.execute(f"SELECT '100%%' || customer FROM {table} WHERE id = %s", [3]) == 1
        assert conn.execute(f"SELECT count(*) FROM {table}", []) == 1
        assert conn.execute(f"CREATE INDEX ON {table} (customer)", []) == -1  # no row count
    finally:
        conn.close()
    # the values reached the server as the cursor path sends them
    with psycopg.connect(driver._url, autocommit=True) as check:
        conn2 = driver.connect()
        try:
            conn2.execute(insert, row)
            got = check.execute(f"SELECT customer, amount, score, paid, day, at, ref, body, raw, "
                                f"tags FROM {table} WHERE id = 1000").fetchone()
        finally:
            conn2.close()
    assert got == (row[1], row[2], row[3], row[4], row[5], row[6], row[7], {"a": 1},
                   row[9], row[10])


def test_statements_are_prepared_when_the_connection_opens(driver: PostgresDriver,
                                                           table: str) -> None:
    lookup = f"SELECT * FROM {table} WHERE id = %s"
    driver.check_statement(lookup, 1)
    conn = driver.connect()
    try:
        prepared = conn.raw.execute(
            "SELECT name, statement FROM pg_prepared_statements").fetchall()
        if driver.client_path == "lean":
            assert [(n, s) for n, s in prepared] == [("_flakebench_1", lookup.replace("%s", "$1"))]
        else:
            assert prepared == []  # the cursor path prepares on first use
    finally:
        conn.close()


@pytest.mark.parametrize(("code", "cls"), [("23505", psycopg.errors.UniqueViolation),
                                           ("40001", psycopg.errors.SerializationFailure),
                                           ("40P01", psycopg.errors.DeadlockDetected),
                                           ("P0001", psycopg.errors.RaiseException)])
def test_errors_keep_their_class(driver: PostgresDriver, table: str, code: str,
                                 cls: type[psycopg.Error]) -> None:
    conn = driver.connect()
    try:
        with pytest.raises(cls) as excinfo:
            conn.execute(f"SELECT {table}_fail(%s)", [code])
        err = driver.classify_error(excinfo.value)
        assert err.code == code
        assert err.message == f"forced {code}"
        assert not conn.broken
        assert conn.execute(f"SELECT * FROM {table} WHERE id = %s", [1]) == 1  # still usable
    finally:
        conn.close()


def test_unique_violation_from_a_real_insert(driver: PostgresDriver, table: str) -> None:
    conn = driver.connect()
    try:
        with pytest.raises(psycopg.errors.UniqueViolation) as excinfo:
            conn.execute(f"INSERT INTO {table} (id, customer) VALUES (%s, %s)", [1, "dup"])
        err = driver.classify_error(excinfo.value)
        assert (err.code, "\n" in err.message) == ("23505", False)
        assert "duplicate key value" in err.message
    finally:
        conn.close()


def test_terminated_backend_is_broken_then_reconnects(driver: PostgresDriver,
                                                      table: str) -> None:
    lookup = f"SELECT * FROM {table} WHERE id = %s"
    driver.check_statement(lookup, 1)
    conn = driver.connect()
    try:
        assert conn.execute(lookup, [2]) == 1
        driver._meta.execute("SELECT pg_terminate_backend(%s)", [conn.raw.info.backend_pid])
        with pytest.raises(psycopg.OperationalError) as excinfo:
            conn.execute(lookup, [2])
        assert driver.classify_error(excinfo.value).code == "57P01"  # admin_shutdown
        assert conn.broken
        conn.reconnect()
        assert not conn.broken
        assert conn.execute(lookup, [3]) == 1  # re-prepared on the new connection
    finally:
        conn.close()


def test_the_wait_releases_the_interpreter(pg_dsn: str) -> None:
    """Threads overlap: another thread runs Python while one waits in PQexecPrepared."""
    d = open_driver(pg_dsn, client_path="lean")
    conn = d.connect()
    progress = [0]
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            progress[0] += 1

    spinner = threading.Thread(target=spin, daemon=True)
    try:
        spinner.start()
        before = progress[0]
        conn.execute("SELECT pg_sleep(%s)", ["0.3"])
        during = progress[0] - before
    finally:
        stop.set()
        spinner.join()
        conn.close()
        d.close()
    # Holding the interpreter for the whole sleep would allow a handful of switch intervals
    # (5 ms each) at most; released, the spinner runs for the whole 300 ms.
    assert during > 100_000


def test_switch_by_environment_and_template(pg_dsn: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CLIENT_PATH_ENV, "cursor")
    d = open_driver(pg_dsn)
    assert isinstance(d, PostgresDriver)
    assert d.client_path == "cursor"
    d.close()
    d = open_driver(pg_dsn, client_path="lean")  # the template's own choice wins
    assert isinstance(d, PostgresDriver)
    assert d.client_path == "lean"
    d.close()
    monkeypatch.setenv(CLIENT_PATH_ENV, "fast")
    with pytest.raises(ConfigError) as excinfo:
        open_driver(pg_dsn)
    assert f"{CLIENT_PATH_ENV}='fast'" in str(excinfo.value)
    assert "lean, cursor" in str(excinfo.value)
