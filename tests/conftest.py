"""Shared fixtures for tests against real databases: the PostgreSQL DSN and throwaway tables."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

from pytest_flakebench.urls import redact_url

DEFAULT_PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"


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


def pg_count(dsn: str, table: str) -> int:
    """Rows in ``table``."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        assert row is not None
        return int(row[0])
