"""Creates ``public.flakebench_demo_orders`` (100,000 rows) on the PostgreSQL server.

The server comes from the named target ``demo_pg`` (examples/pytest.ini; override it with
``FLAKEBENCH_TARGET_DEMO_PG=postgresql://user@host:5432/db``). When no server answers, the
examples here are skipped with the reason.
"""

from __future__ import annotations

import os

import pytest

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
TABLE = "flakebench_demo_orders"
ROWS = 100_000


@pytest.fixture(scope="session", autouse=True)
def demo_pg_orders() -> str:
    """Create and fill the demo table once; skip if the server is not reachable."""
    import psycopg

    dsn = os.environ.get("FLAKEBENCH_TARGET_DEMO_PG", DEFAULT_DSN)
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server for the demo_pg target: {str(exc).splitlines()[0]}")
    with conn:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS public.{TABLE} (id bigint PRIMARY KEY, "
            f"customer text NOT NULL, total numeric(12,2) NOT NULL, "
            f"created timestamptz NOT NULL DEFAULT now())"
        )
        row = conn.execute(f"SELECT count(*) FROM public.{TABLE}").fetchone()
        if row is None or row[0] < ROWS:
            conn.execute(f"TRUNCATE public.{TABLE}")
            conn.execute(
                f"INSERT INTO public.{TABLE} (id, customer, total) SELECT g, "
                f"'customer-' || (g % 500), round((g * 0.37)::numeric, 2) "
                f"FROM generate_series(1, {ROWS}) g"
            )
            conn.execute(f"ANALYZE public.{TABLE}")
    return TABLE
