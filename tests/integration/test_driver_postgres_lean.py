"""The lean PostgreSQL path (psycopg.pq) against the cursor path, on the real server.

Both paths must count the same rows, raise the same error classes and recover the same way; the
switch between them is the template's ``client_path`` or ``FLAKEBENCH_CLIENT_PATH``.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from pytest_flakebench.drivers import open_driver
from pytest_flakebench.drivers.base import bind_statement
from pytest_flakebench.drivers.libpq_errors import Native
from pytest_flakebench.drivers.postgres import (
    CLIENT_PATH_ENV,
    PostgresConnection,
    PostgresDriver,
)
from pytest_flakebench.drivers.postgres_lean import LeanConnection
from pytest_flakebench.errors import ConfigError
from tests.inprocess import run_in_process

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
        driver._meta.execute("SELECT pg_terminate_backend(%s)", [_backend_pid(conn)])
        with pytest.raises(psycopg.OperationalError) as excinfo:
            conn.execute(lookup, [2])
        assert driver.classify_error(excinfo.value).code == "57P01"  # admin_shutdown
        assert conn.broken
        conn.reconnect()
        assert not conn.broken
        assert conn.execute(lookup, [3]) == 1  # re-prepared on the new connection
    finally:
        conn.close()


def test_a_bound_statement_is_execute(driver: PostgresDriver, table: str) -> None:
    """The engine's hot loop runs ``bind_statement``: same rows, same errors, same recovery
    as ``execute``, a statement preflight never saw included, and after ``raw`` is handed out."""
    lookup = f"SELECT * FROM {table} WHERE id = %s"
    between = f"SELECT * FROM {table} WHERE id BETWEEN %s AND %s"
    driver.check_statement(lookup, 1)
    driver.check_statement(between, 2)
    conn = driver.connect()
    try:
        one, two = bind_statement(conn, lookup), bind_statement(conn, between)
        unseen = bind_statement(conn, f"SELECT id FROM {table} WHERE customer = %s")
        update = bind_statement(conn, f"UPDATE {table} SET score = 1 WHERE id < %s")
        assert (one([5]), one([-5]), two([1, 10]), unseen(["c7"]), update([4])) == (1, 0, 10,
                                                                                     1, 3)
        with pytest.raises(psycopg.errors.InvalidTextRepresentation) as excinfo:
            one(["not a number"])
        assert driver.classify_error(excinfo.value).code == "22P02"
        driver._meta.execute("SELECT pg_terminate_backend(%s)", [_backend_pid(conn)])
        with pytest.raises(psycopg.OperationalError) as lost:
            one([2])
        assert driver.classify_error(lost.value).code == "57P01"
        assert conn.broken
        conn.reconnect()
        one = bind_statement(conn, lookup)  # bound again after a reconnect, as the loop does
        assert one([6]) == 1
        assert conn.raw is not None  # handed out: the bound statement takes send/poll
        assert (one([7]), one([-7])) == (1, 0)
    finally:
        conn.close()


def test_the_wait_releases_the_interpreter(pg_dsn: str) -> None:
    """Threads overlap: another thread runs Python while one waits in PQexecPrepared."""
    # (the one-call round trip: the bindings load in this venv, test_libpq_is_found_here)
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


def _backend_pid(conn: PostgresConnection | LeanConnection) -> int:
    """Not through ``raw`` on the lean path: that takes it off its one-call round trip."""
    return conn.raw.info.backend_pid if isinstance(conn, PostgresConnection) \
        else conn._pg.backend_pid


def _terminate_during(driver: PostgresDriver, conn: PostgresConnection | LeanConnection,
                      after_s: float) -> threading.Thread:
    """Terminate ``conn``'s backend from another connection ``after_s`` from now."""
    pid = _backend_pid(conn)

    def kill() -> None:
        time.sleep(after_s)
        with psycopg.connect(driver._url, autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", [pid])

    killer = threading.Thread(target=kill, daemon=True)
    killer.start()
    return killer


def test_backend_terminated_mid_query_is_57p01(driver: PostgresDriver, table: str) -> None:
    """The server ends the session while the statement runs: 57P01 and its message, both paths.

    On the lean path this is the one-call round trip (PQexecPrepared), whose own result is
    libpq's "server closed the connection": the server's code must still come through.
    """
    conn = driver.connect()
    try:
        if isinstance(conn, LeanConnection):
            assert conn._native is not None  # the one-call round trip is the one tested
        killer = _terminate_during(driver, conn, 0.3)
        with pytest.raises(psycopg.errors.AdminShutdown) as excinfo:
            conn.execute("SELECT pg_sleep(%s)", ["10"])
        killer.join()
        err = driver.classify_error(excinfo.value)
        assert (err.code, err.message) == (
            "57P01", "terminating connection due to administrator command")
        assert conn.broken
        conn.reconnect()
        assert conn.execute(f"SELECT * FROM {table} WHERE id = %s", [3]) == 1
    finally:
        conn.close()


def test_messages_are_the_cursor_paths(pg_dsn: str, table: str) -> None:
    """The one-call round trip runs at verbose verbosity; no message shows it."""
    texts = []
    for path in ("lean", "cursor"):
        d = open_driver(pg_dsn, client_path=path)
        conn = d.connect()
        try:
            with pytest.raises(psycopg.errors.UniqueViolation) as excinfo:
                conn.execute(f"INSERT INTO {table} (id, customer) VALUES (%s, %s)", [1, "dup"])
            texts.append(str(excinfo.value))
            with pytest.raises(psycopg.errors.DivisionByZero) as excinfo:
                conn.execute("SELECT 1 / %s", [0])
            texts.append(str(excinfo.value))
        finally:
            conn.close()
            d.close()
    assert texts[:2] == texts[2:]
    assert "DETAIL:  Key (id)=(1) already exists." in texts[0]  # the whole message, not line 1
    assert texts[1] == "division by zero"


def test_raw_gets_default_messages_and_the_send_poll_path(driver: PostgresDriver,
                                                          table: str) -> None:
    """Handing the psycopg connection out restores libpq's default messages for its users."""
    conn = driver.connect()
    try:
        raw = conn.raw
        if isinstance(conn, LeanConnection):
            assert conn._native is None
        with pytest.raises(psycopg.errors.DivisionByZero) as excinfo:
            raw.execute("SELECT 1 / 0")
        assert str(excinfo.value) == "division by zero"
        raw.rollback()
        assert conn.execute(f"SELECT * FROM {table} WHERE id = %s", [4]) == 1
        conn.reconnect()
        if isinstance(conn, LeanConnection):
            assert conn._native is None  # for good: the new raw connection is handed out too
    finally:
        conn.close()


def test_fallback_without_libpq_bindings(pg_dsn: str, table: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """libpq not found (or too old): the send/poll round trip, same classes and messages."""
    monkeypatch.setattr(Native, "_tried", True)
    monkeypatch.setattr(Native, "_loaded", None)
    d = open_driver(pg_dsn, client_path="lean")
    lookup = f"SELECT * FROM {table} WHERE id = %s"
    d.check_statement(lookup, 1)
    conn = d.connect()
    try:
        assert isinstance(conn, LeanConnection)
        assert conn._native is None
        assert conn.execute(lookup, [5]) == 1
        with pytest.raises(psycopg.errors.DivisionByZero) as excinfo:
            conn.execute("SELECT 1 / %s", [0])
        assert str(excinfo.value) == "division by zero"
        killer = _terminate_during(d, conn, 0.3)
        with pytest.raises(psycopg.errors.AdminShutdown) as excinfo2:
            conn.execute("SELECT pg_sleep(%s)", ["10"])
        killer.join()
        assert d.classify_error(excinfo2.value).code == "57P01"
        assert conn.broken
    finally:
        conn.close()
        d.close()


def test_libpq_is_found_here() -> None:
    """This venv's psycopg: the bindings load, so the suite above tests the one-call path."""
    assert Native.load() is not None


def test_backend_terminated_mid_benchmark(tmp_path: Path, pg_dsn: str, table: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A whole run on the lean path: a load connection's backend is terminated mid-statement.

    The failed operation is counted under 57P01 (as on the cursor path), the connection is
    reopened outside the timed region and the run goes on. (Mid-statement: terminated between
    two statements, libpq can lose the server's FATAL to the connection reset on every path,
    cursor included, and say "server closed the connection unexpectedly"; benchmarks/README.md.)
    """
    monkeypatch.delenv(CLIENT_PATH_ENV, raising=False)  # the default: lean
    killed: list[int] = []

    def terminate(_coordinator: object) -> None:
        time.sleep(1.5)  # into the measurement (warmup 0.5 s)
        with psycopg.connect(pg_dsn, autocommit=True) as other:
            rows = other.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> "
                "pg_backend_pid() AND state = 'active' AND query LIKE %s LIMIT 1",
                [f"%pg_sleep%{table}%"]).fetchall()
            killed.extend(1 for r in rows if r[0])

    result = run_in_process(tmp_path, {
        "target": pg_dsn, "table": f"public.{table}", "mix": {"point_lookup": 100},
        "sql": {"point_lookup": f"SELECT pg_sleep(0.05), id FROM {table} WHERE id = ?"},
        "concurrency": 2, "duration": "3s", "warmup": "0.5s"}, terminate)
    assert killed == [1]
    assert result.overall.error_classes == {"57P01": 1}, result.overall.error_samples
    assert any("terminating connection due to administrator command" in s
               for s in result.overall.error_samples), result.overall.error_samples
    assert result.overall.ops > 20  # reconnected, and the run went on
