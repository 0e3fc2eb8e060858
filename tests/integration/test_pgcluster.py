"""The tests' own PostgreSQL cluster (tests/pgcluster.py): it restarts, takes settings and
preloads pg_stat_statements, so fault tests can rely on it."""

from __future__ import annotations

import psycopg
import pytest

from tests.pgcluster import MAX_CONNECTIONS, ExternalCluster, PgCluster


def _scalar(dsn: str, sql: str) -> object:
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(sql).fetchone()
        assert row is not None
        return row[0]


def test_owned_cluster_restarts_and_keeps_its_data(owned_pg_ctl: PgCluster) -> None:
    dsn = owned_pg_ctl.dsn("fb_cluster_check")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS kept (v int)")
        conn.execute("INSERT INTO kept VALUES (1)")
        before = conn.execute("SELECT pg_postmaster_start_time()").fetchone()
        owned_pg_ctl.restart(down_s=0.2)
        with pytest.raises(psycopg.OperationalError):  # the restart ended this session
            conn.execute("SELECT 1")
    assert _scalar(dsn, "SELECT pg_postmaster_start_time()") != (before or [None])[0]
    assert _scalar(dsn, "SELECT count(*) FROM kept") >= 1  # type: ignore[operator]
    owned_pg_ctl.stop()
    assert not owned_pg_ctl.is_running()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn, connect_timeout=2)
    owned_pg_ctl.start()
    assert _scalar(dsn, "SELECT 1") == 1


def test_owned_cluster_settings(owned_pg_ctl: PgCluster) -> None:
    dsn = owned_pg_ctl.dsn()
    assert _scalar(dsn, "SHOW max_connections") == str(MAX_CONNECTIONS)
    assert _scalar(dsn, "SHOW fsync") == "off"
    owned_pg_ctl.set_config("statement_timeout", "1234")
    assert _scalar(dsn, "SHOW statement_timeout") == "1234ms"
    owned_pg_ctl.set_config("statement_timeout", "0")


def test_pg_stat_statements_can_be_created(owned_pg: PgCluster | ExternalCluster) -> None:
    if not owned_pg.has_pg_stat_statements:
        pytest.skip("these server binaries do not ship pg_stat_statements")
    dsn = owned_pg.dsn("fb_cluster_pgss")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("SELECT 42 AS answer")
        calls = conn.execute("SELECT count(*) FROM pg_stat_statements").fetchone()
    assert calls is not None
    assert calls[0] > 0


def test_clusters_of_dead_sessions_are_reaped(owned_pg: PgCluster | ExternalCluster) -> None:
    import subprocess
    import sys

    from tests.pgcluster import OWNER_FILE, PgCluster, find_binaries, reap_orphans

    binaries = find_binaries()
    if binaries is None or not isinstance(owned_pg, PgCluster):
        pytest.skip("needs server binaries")
    orphan = PgCluster(binaries)
    orphan.start()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (orphan.root / OWNER_FILE).write_text(dead)  # as if its session had been killed
    try:
        reaped = reap_orphans(binaries)
        assert orphan.root in reaped
        assert owned_pg.root not in reaped  # ours: its owner (this process) lives
        assert not orphan.root.exists()
        assert owned_pg.is_running()
    finally:
        orphan.destroy()
