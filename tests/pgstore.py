"""Throwaway PostgreSQL databases beside the test server's own: a results store (or a database
for one) that a test or benchmark has to itself, dropped afterwards whatever happened.

A database of its own, not a schema in ``test``: the real ``flakebench`` schema of the test
database is never touched, and a store's LISTEN/NOTIFY channels and control rows are private.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit


def with_dbname(dsn: str, dbname: str) -> str:
    """``dsn`` (URL form) pointing at another database; user, host and query kept."""
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, f"/{dbname}", parts.query, parts.fragment))


@contextlib.contextmanager
def throwaway_database(dsn: str, prefix: str = "fb_tmp") -> Iterator[str]:
    """Create ``<prefix>_<hex>`` on ``dsn``'s server and yield its URL; drop it afterwards
    (``WITH (FORCE)``: a worker still connected must not leave it behind)."""
    import psycopg
    from psycopg import sql

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_dbname(dsn, name)
    finally:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def init_store(url: str) -> None:
    """Apply the flakebench schema (results and control tables) to the database at ``url``."""
    from pytest_flakebench.stores import open_store

    store = open_store(url)
    try:
        store.init_schema()
    finally:
        store.close()


@contextlib.contextmanager
def throwaway_store(dsn: str, prefix: str = "fb_store") -> Iterator[str]:
    """:func:`throwaway_database` with an initialised flakebench store in it."""
    with throwaway_database(dsn, prefix) as url:
        init_store(url)
        yield url
