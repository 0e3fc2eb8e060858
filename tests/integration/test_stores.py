"""One suite for every results store: SQLite in tmp_path, PostgreSQL in a throwaway database,
Snowflake in a fresh database on a fakesnow server (real connector over HTTP)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_flakebench.errors import ConfigError, StoreError
from pytest_flakebench.stores import DEFAULT_STORE_URL, ResultStore, open_store
from pytest_flakebench.urls import sqlite_path
from tests.conftest import fakesnow_url
from tests.integration.factories import make_run

TABLES = ("TEST_RESULTS", "TEST_KIND_STATISTICS", "WORKER_METRICS_SNAPSHOTS")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
                        "snowflake"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, not yet initialised store."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'flakebench.db'}"
    if request.param == "snowflake":
        server = request.getfixturevalue("fakesnow_server")
        database = request.getfixturevalue("fakesnow_db")
        return fakesnow_url(server, database, "FLAKEBENCH")
    url: str = request.getfixturevalue("pg_empty_store")  # each test starts from nothing
    return url


def init(s: ResultStore) -> None:
    """Apply the DDL (on fakesnow: standard control tables, it has no hybrid tables)."""
    if s.redacted_url.startswith("snowflake:"):
        from pytest_flakebench.stores.snowflake import SnowflakeStore

        assert isinstance(s, SnowflakeStore)
        s.init_schema(hybrid=False)
    else:
        s.init_schema()


@pytest.fixture
def store(store_url: str) -> Iterator[ResultStore]:
    """An initialised store, closed after the test."""
    s = open_store(store_url)
    init(s)
    yield s
    s.close()


def query(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run SQL on the store's database directly (SQLite: no schema prefix)."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(sqlite_path(url))
        try:
            return conn.execute(sql.replace("flakebench.", "").replace("%s", "?"),
                                params).fetchall()
        finally:
            conn.close()
    if url.startswith("snowflake"):
        import snowflake.connector

        from pytest_flakebench.drivers.snowflake_connect import connect_kwargs

        with snowflake.connector.connect(**connect_kwargs(url), paramstyle="qmark") as conn:
            cur = conn.cursor()
            cur.execute(sql.replace("flakebench.", "").replace("%s", "?"), params)
            return [tuple(r) for r in cur.fetchall()]
    import psycopg

    with psycopg.connect(url) as pg:
        return pg.execute(sql, params).fetchall()


def counts(url: str) -> dict[str, int]:
    """Rows per results table."""
    return {t: query(url, f"SELECT count(*) FROM flakebench.{t}")[0][0] for t in TABLES}


def test_init_is_idempotent(store_url: str) -> None:
    s = open_store(store_url)
    try:
        init(s)
        init(s)
        s.check()
    finally:
        s.close()
    s2 = open_store(store_url)
    try:
        init(s2)  # a second store object on the same database: still harmless
        s2.check()
    finally:
        s2.close()
    assert query(store_url, "SELECT VALUE FROM flakebench.STORE_META") == [("1",)]
    assert counts(store_url) == dict.fromkeys(TABLES, 0)


@pytest.mark.postgres
def test_check_refuses_a_store_of_another_schema_version(store: ResultStore,
                                                        store_url: str) -> None:
    # A store written by another plugin version: refused before any run, naming both versions
    # (one message for the three stores).
    from pytest_flakebench.stores.rows import SCHEMA_VERSION

    update = "UPDATE flakebench.STORE_META SET VALUE = '0' WHERE KEY = 'schema_version'"
    if store_url.startswith("sqlite"):
        with sqlite3.connect(sqlite_path(store_url)) as db:  # commits on leaving
            db.execute(update.replace("flakebench.", ""))
    elif store_url.startswith("postgres"):
        import psycopg

        with psycopg.connect(store_url, autocommit=True) as pg:
            pg.execute(update)
    else:
        query(store_url, update)  # the Snowflake connector autocommits
    with pytest.raises(StoreError) as err:
        store.check()
    assert str(err.value).endswith(
        f"has schema version '0', this plugin expects {SCHEMA_VERSION!r}"), err.value
    assert str(err.value).startswith("results store "), err.value


def test_check_on_uninitialised_postgres_names_the_fix(pg_empty_store: str) -> None:
    s = open_store(pg_empty_store)
    try:
        with pytest.raises(StoreError, match=r"is not initialised: run `flakebench store init "):
            s.check()
        with pytest.raises(StoreError, match="not initialised"):
            s.save_run(make_run())
        # check() never creates anything on a server
        assert query(pg_empty_store, "SELECT count(*) FROM information_schema.schemata "
                                  "WHERE schema_name = 'flakebench'") == [(0,)]
    finally:
        s.close()


def test_sqlite_store_is_created_on_first_use(tmp_path: Path) -> None:
    s = open_store("sqlite:///deep/dir/fb.db", base_dir=tmp_path)
    try:
        s.check()
        s.save_run(make_run(run_id="r1"))
        assert s.get_run("r1") is not None
    finally:
        s.close()
    path = tmp_path / "deep" / "dir" / "fb.db"
    assert path.is_file()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()


def test_save_then_get_round_trips(store: ResultStore) -> None:
    run = make_run(workers=2, snapshots_per_worker=4)
    store.save_run(run)
    got = store.get_run(run.run_id)
    assert got is not None
    assert got.to_dict() == run.to_dict()
    assert got == run
    prefix = store.get_run(run.run_id[:8])
    assert prefix is not None
    assert prefix.run_id == run.run_id
    assert store.get_run("no-such-run") is None


def test_evidence_is_stored_with_the_run(store: ResultStore) -> None:
    """Plans and server figures (issue 15) travel in RESULT_JSON on every backend."""
    from dataclasses import replace

    run = make_run()
    plan = {"shape": {"summary": "Index Scan using t_pkey on t", "nodes": [
        {"node": "Index Scan", "depth": 0, "relation": "t", "index": "t_pkey"}]},
        "hash": "0af3eba20e77", "text": "Index Scan using t_pkey on t", "raw": "[]"}
    kinds = {k: replace(v, plan=plan, server={"calls": 10, "mean_exec_ms": 0.02})
             for k, v in run.kinds.items()}
    server = {"waits": {"top": [{"event": "Lock:relation", "samples": 9, "share": 0.9}]},
              "check": {"ok": True, "items": []}, "notes": []}
    run = replace(run, kinds=kinds, server=server)
    store.save_run(run)
    got = store.get_run(run.run_id)
    assert got is not None
    assert got.server == server
    assert all(k.plan == plan for k in got.kinds.values())
    assert got.to_dict() == run.to_dict()


def test_ambiguous_prefix_is_an_error(store: ResultStore) -> None:
    store.save_run(make_run(run_id="abc-1"))
    store.save_run(make_run(run_id="abc-2"))
    with pytest.raises(StoreError, match="ambiguous"):
        store.get_run("abc")
    got = store.get_run("abc-1")
    assert got is not None
    assert got.run_id == "abc-1"


def test_list_runs_newest_first_with_filter_and_limit(store: ResultStore) -> None:
    t0 = 1_732_680_000.0
    store.save_run(make_run(run_id="old", started_at=t0, test="tests/a.py::test_x", name=None))
    store.save_run(make_run(run_id="new", started_at=t0 + 100, test="tests/b.py::test_y"))
    store.save_run(make_run(run_id="mid", started_at=t0 + 50, test="tests/a.py::test_x",
                            name=None, workers=3))
    rows = store.list_runs()
    assert [r.run_id for r in rows] == ["new", "mid", "old"]  # no worker rows
    assert rows[0].test == "tests/b.py::test_y"
    assert rows[0].started_at == pytest.approx(t0 + 100, abs=1e-6)
    assert rows[0].verdict == "FAILED"
    assert rows[0].table == "public.orders"
    assert rows[0].errors == 2
    assert [r.run_id for r in store.list_runs(test="a.py")] == ["mid", "old"]
    assert [r.run_id for r in store.list_runs(test="oltp-simple")] == ["new"]  # template name
    assert [r.run_id for r in store.list_runs(test="%")] == []  # not a wildcard
    assert [r.run_id for r in store.list_runs(limit=1)] == ["new"]


def test_every_run_gets_one_child_row_per_worker(store: ResultStore, store_url: str) -> None:
    store.save_run(make_run(run_id="solo"))
    store.save_run(make_run(run_id="multi", workers=3))
    children = query(store_url, "SELECT RUN_ID, WORKER_ID, TOTAL_OPS, VERDICT "
                                "FROM flakebench.TEST_RESULTS WHERE PARENT_RUN_ID = %s "
                                "ORDER BY RUN_ID", ("multi",))
    assert [c[:2] for c in children] == [("multi:gw0", "gw0"), ("multi:gw1", "gw1"),
                                         ("multi:gw2", "gw2")]
    assert all(c[3] is None for c in children)
    # a single-worker run has the same shape: one child row (-n 0 and -n N store alike)
    assert query(store_url, "SELECT count(*) FROM flakebench.TEST_RESULTS "
                            "WHERE PARENT_RUN_ID = %s", ("solo",)) == [(1,)]
    kinds = query(store_url, "SELECT KIND FROM flakebench.TEST_KIND_STATISTICS "
                             "WHERE RUN_ID = %s ORDER BY KIND", ("multi",))
    assert [k[0] for k in kinds] == ["insert", "overall", "point_lookup", "range_scan"]


def test_failed_save_leaves_nothing_half_written(store: ResultStore, store_url: str) -> None:
    first = make_run(run_id="dup")
    store.save_run(first)
    before = counts(store_url)
    with pytest.raises(StoreError, match="already stored"):
        store.save_run(make_run(run_id="dup", workers=2))
    assert counts(store_url) == before
    # A failure in the last table (duplicate snapshot key) must undo the first two as well.
    bad = make_run(run_id="bad")
    bad = type(bad)(**{**{f: getattr(bad, f) for f in bad.__slots__},
                       "snapshots": bad.snapshots + bad.snapshots[:1]})
    with pytest.raises(StoreError, match="cannot save run bad"):
        store.save_run(bad)
    assert counts(store_url) == before
    assert store.get_run("bad") is None
    store.save_run(make_run(run_id="after"))  # the store is still usable
    assert store.get_run("dup") == first


def test_concurrent_saves_from_threads(store: ResultStore) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(4):
                store.save_run(make_run(run_id=f"t{n}-{i}", snapshots_per_worker=1))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.list_runs(limit=100)) == 16


@pytest.mark.postgres
def test_unreachable_postgres_error_is_redacted() -> None:
    s = open_store("postgresql://bench:s3cret-pw@127.0.0.1:1/app?connect_timeout=2")
    try:
        with pytest.raises(StoreError) as info:
            s.check()
    finally:
        s.close()
    text = str(info.value)
    assert "s3cret-pw" not in text
    assert "postgresql://bench:***@127.0.0.1:1/app" in text
    assert "is the server running?" in text


@pytest.mark.postgres
def test_store_errors_never_carry_the_password(pg_empty_store: str) -> None:
    # trust auth accepts any password, so the URL reaches the server and the schema error.
    url = pg_empty_store.replace("postgres@", "postgres:s3cret-pw@", 1)
    assert "s3cret-pw" in url
    s = open_store(url)
    try:
        assert "s3cret-pw" not in s.redacted_url
        for call in (s.check, lambda: s.save_run(make_run()), s.list_runs):
            with pytest.raises(StoreError) as info:
                call()
            assert "s3cret-pw" not in str(info.value)
            assert "***" in str(info.value)
    finally:
        s.close()


def test_unsupported_schemes() -> None:
    with pytest.raises(ConfigError):
        open_store("mysql://u@h/db")
    assert DEFAULT_STORE_URL == "sqlite:///.flakebench/flakebench.db"


def test_importing_stores_does_not_import_psycopg() -> None:
    code = ("import sys, pytest_flakebench.stores as s; s.open_store('sqlite:///x.db'); "
            "sys.exit('psycopg' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_sqlite_file_is_shared_by_several_processes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    code = (
        "import sys\n"
        "from pytest_flakebench.stores import open_store\n"
        "from tests.integration.factories import make_run\n"
        "s = open_store(sys.argv[1])\n"
        "try:\n"
        "    for i in range(5):\n"
        "        s.save_run(make_run(run_id=f'{sys.argv[2]}-{i}', snapshots_per_worker=2))\n"
        "finally:\n"
        "    s.close()\n"
    )
    root = Path(__file__).resolve().parents[2]
    procs = [subprocess.Popen([sys.executable, "-c", code, url, f"p{n}"], cwd=root)
             for n in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    s = open_store(url)
    try:
        assert len(s.list_runs(limit=100)) == 20
    finally:
        s.close()
