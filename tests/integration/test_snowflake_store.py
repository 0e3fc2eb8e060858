"""The Snowflake store's saves: chunked within the stated bind limit, idempotent per run id
(fakesnow through the real connector; PostgreSQL for the same concurrent double save)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_flakebench.drivers import snowflake_statements as S
from pytest_flakebench.errors import StoreError
from pytest_flakebench.judge.results import RunResult
from pytest_flakebench.stores import ResultStore, open_store
from pytest_flakebench.stores.snowflake import SnowflakeStore
from pytest_flakebench.stores.snowflake_bulk import chunk_rows
from tests.conftest import fakesnow_sql, fakesnow_url, running_fakesnow
from tests.integration.factories import make_run


def _init(url: str) -> None:
    s = open_store(url)
    try:
        if isinstance(s, SnowflakeStore):
            s.init_schema(hybrid=False)
        else:
            s.init_schema()
    finally:
        s.close()


@pytest.fixture
def sf_store_url(fakesnow_server: dict[str, object], fakesnow_db: str) -> str:
    url = fakesnow_url(fakesnow_server, fakesnow_db, "FLAKEBENCH")
    _init(url)
    return url


@pytest.fixture
def sf_private_store_url() -> Iterator[str]:
    """A store on a fakesnow server of its own: the session's shared in-memory DuckDB may hold
    another test's open transaction, behind which two racing saves could wait forever."""
    with running_fakesnow() as server:
        fakesnow_sql(server, "FB_RACE", "CREATE SCHEMA IF NOT EXISTS PUBLIC")
        url = fakesnow_url(server, "FB_RACE", "FLAKEBENCH")
        _init(url)
        yield url


def _count(store: ResultStore, run: RunResult) -> tuple[int, int, int]:
    """(parent rows, kind rows, snapshot rows) stored for ``run``, read back through the API."""
    got = store.get_run(run.run_id)
    assert got is not None
    parents = sum(1 for r in store.list_runs(limit=1000) if r.run_id == run.run_id)
    return parents, len(got.kinds), len(got.snapshots)


def _save_twice_at_once(url: str, run: RunResult) -> list[str]:
    """Two stores (two connections) save ``run`` at the same moment; their outcomes."""
    stores = [open_store(url) for _ in range(2)]
    gate = threading.Barrier(2)
    outcomes: list[str] = []

    def save(store: ResultStore) -> None:
        gate.wait()
        try:
            store.save_run(run)
            outcomes.append("saved")
        except StoreError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=save, args=(s,), daemon=True) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    hung = [t for t in threads if t.is_alive()]
    if hung:  # fail, never hang the suite; the stuck save's store cannot be closed
        pytest.fail(f"{len(hung)} concurrent save(s) still waiting after 60 s: {outcomes}")
    for s in stores:
        s.close()
    return outcomes


@pytest.mark.parametrize("which", ["snowflake",
                                   pytest.param("postgres", marks=pytest.mark.postgres)])
def test_two_concurrent_saves_store_the_run_once(which: str,
                                                 request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("sf_private_store_url" if which == "snowflake"
                                  else "pg_store")
    run = make_run(snapshots_per_worker=5)
    outcomes = _save_twice_at_once(url, run)
    assert len(outcomes) == 2
    assert outcomes.count("saved") == 1, outcomes
    assert any("already stored" in o for o in outcomes), outcomes
    store = open_store(url)
    try:
        assert _count(store, run) == (1, len(run.kinds), len(run.snapshots))
        with pytest.raises(StoreError, match="already stored"):
            store.save_run(run)  # and later: still once
        assert _count(store, run)[2] == len(run.snapshots)
    finally:
        store.close()


def test_100k_snapshot_rows_saved_in_chunks_under_the_limit(sf_store_url: str) -> None:
    run = make_run(snapshots_per_worker=1)
    base = dataclasses.replace(run.snapshots[0], histogram="")  # small rows: fakesnow is slow
    snaps = tuple(dataclasses.replace(base, seq=i, ts=base.ts + i) for i in range(100_000))
    run = dataclasses.replace(run, snapshots=snaps)
    store = open_store(sf_store_url)
    assert isinstance(store, SnowflakeStore)
    try:
        store.save_run(run)
        assert len(store.chunks_sent) > 5
        assert max(store.chunks_sent) <= S.MAX_BIND_BYTES
        cur = store._conn().cursor()
        cur.execute("SELECT COUNT(*), COUNT(DISTINCT SEQ) FROM WORKER_METRICS_SNAPSHOTS "
                    "WHERE RUN_ID = ?", (run.run_id,))
        assert cur.fetchone() == (100_000, 100_000)
    finally:
        store.close()


def test_chunk_rows_split_at_the_byte_limit() -> None:
    rows = [["x" * 90, i] for i in range(1000)]
    chunks = list(chunk_rows(rows, limit=4096))
    assert all(len(c.encode()) <= 4096 for c in chunks)
    import json

    assert [r for c in chunks for r in json.loads(c)] == rows
    assert list(chunk_rows([], limit=10)) == []
    with pytest.raises(StoreError, match="exceeds the 64-byte bind limit"):
        list(chunk_rows([["é" * 40]], limit=64))  # bytes, not characters, are counted


class _Cursor:
    def __init__(self, sent: list[str]) -> None:
        self.sent = sent

    def execute(self, sql: str, params: Any = (), _statement_params: Any = None) -> None:
        self.sent.append(sql)
        assert _statement_params is not None
        assert _statement_params["QUERY_TAG"].startswith("flakebench:run=")

    def fetchone(self) -> tuple[int]:
        return (0,)

    def close(self) -> None:
        pass


class _Conn:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def cursor(self) -> _Cursor:
        return _Cursor(self.sent)

    def is_closed(self) -> bool:
        return False


def test_save_takes_the_lock_before_it_checks_in_one_transaction() -> None:
    """On real Snowflake standard tables the UPDATE lock is what serialises two saves: the check
    for the run must come after it, and every chunk before the COMMIT."""
    pytest.importorskip("snowflake.connector")
    store = SnowflakeStore("snowflake://u:p@acct/DB/SC")
    conn = _Conn()
    store._connection = conn
    store.save_run(make_run(snapshots_per_worker=3))
    sent = conn.sent
    assert sent[:3] == [S.BEGIN.sql, S.SAVE_LOCK.sql, S.RUN_STORED.sql]
    assert sent[-1] == S.COMMIT.sql
    assert all(s.startswith("INSERT INTO") for s in sent[3:-1])
